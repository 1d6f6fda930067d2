"""Per-channel normalisation, ``(x - mean) / std``: its parameters' check and its kernels.

Images are normalised in training, evaluation and prediction (nets, ensemble) and by a
transform (augkit), and tabular rows are standardised per feature the same way; one check and
one pair of kernels serve them all. The channel is dim 1 (N x C x H x W images, N x D rows).

The kernels compute ``x * (1 / std) + (-mean / std)``, one ``addcmul`` pass over ``x`` whose
result keeps ``x``'s memory format (and its autograd graph). For uint8 images the conversion
to [0, 1] folds into the same pass, ``x * (1 / (255 std)) + (-mean / std)``, written straight
into a float32 tensor of the requested memory format: the batch is read once and written once.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["Normalization", "check_normalization", "normalize", "normalize_uint8"]

#: ``(means, stds)``: one value each, or one per channel.
Normalization = tuple[tuple[float, ...], tuple[float, ...]]
Stats = float | Sequence[float]


def check_normalization(value: object, name: str = "normalize") -> Normalization | None:
    """Check ``(mean, std)`` and return it as two tuples of floats (None stays None).

    Parameters
    ----------
    value : (mean, std) or None
        ``mean`` and ``std``: each a number (all channels) or a per-channel sequence, array or
        tensor (flattened); means finite, stds finite and > 0.
    name : str
        The argument's name, for the messages.

    Returns
    -------
    ((float, ...), (float, ...)) or None

    Raises
    ------
    ValueError
        ``value`` is not a pair of numbers or sequences of numbers, or a mean is not finite,
        or a std is not finite and > 0.
    """
    if value is None:
        return None
    try:
        mean, std = value
        mean = tuple(float(v) for v in torch.as_tensor(mean, dtype=torch.float64).flatten())
        std = tuple(float(v) for v in torch.as_tensor(std, dtype=torch.float64).flatten())
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be None or (mean, std) of numbers or per-channel sequences, "
                         f"got {value!r}") from None
    if not all(math.isfinite(v) for v in mean) or not all(math.isfinite(s) and s > 0 for s in std):
        raise ValueError(f"{name} needs finite means and finite stds > 0, got {value!r}")
    return mean, std


def _scale_and_shift(mean: Stats, std: Stats, x: torch.Tensor, dtype: torch.dtype,
                     divisor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1 / (divisor std), -mean / std)`` in ``dtype`` on ``x``'s device, shaped to broadcast
    over ``x``'s channels (dim 1)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean, std = (torch.as_tensor(v, dtype=dtype, device=x.device).reshape(shape) for v in (mean, std))
    return 1.0 / (divisor * std), -mean / std


def normalize(x: torch.Tensor, mean: Stats, std: Stats, *,
              memory_format: torch.memory_format | None = None) -> torch.Tensor:
    """``(x - mean) / std`` per channel of a float tensor, in one pass.

    Parameters
    ----------
    x : torch.Tensor
        Float, N x C x ... (channel = dim 1), any device.
    mean, std : float or sequence of float
        One value for every channel or one per channel, as :func:`check_normalization` accepts
        them (not checked here: this runs on every batch).
    memory_format : torch.memory_format, optional
        Layout of the result (``torch.channels_last`` needs a 4-d ``x``); None keeps ``x``'s.
        A layout other than ``x``'s costs a copy.

    Returns
    -------
    torch.Tensor
        ``x``'s shape, dtype and device.
    """
    scale, shift = _scale_and_shift(mean, std, x, x.dtype, 1.0)
    out = torch.addcmul(shift, x, scale)
    return out if memory_format is None else out.contiguous(memory_format=memory_format)


def normalize_uint8(x: torch.Tensor, mean: Stats, std: Stats, *,
                    memory_format: torch.memory_format | None = None) -> torch.Tensor:
    """``(x / 255 - mean) / std`` per channel of a uint8 tensor, converted and normalised in one pass.

    Parameters
    ----------
    x : torch.Tensor
        uint8 (0..255), N x C x ... (channel = dim 1), any device.
    mean, std : float or sequence of float
        On the [0, 1] scale, as in :func:`normalize`.
    memory_format : torch.memory_format, optional
        Layout of the result (``torch.channels_last`` needs a 4-d ``x``); None keeps ``x``'s.

    Returns
    -------
    torch.Tensor
        float32 of ``x``'s shape, on ``x``'s device.
    """
    scale, shift = _scale_and_shift(mean, std, x, torch.float32, 255.0)
    out = torch.empty_like(x, dtype=torch.float32, memory_format=memory_format or torch.preserve_format)
    return torch.addcmul(shift, x, scale, out=out)
