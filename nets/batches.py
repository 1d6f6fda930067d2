"""The network's input: uint8 or float batches to normalised float32, in the model's memory format.

Data stays uint8 (a quarter of float32's memory) until a batch is drawn; then one function
turns it into what the network eats, in training, evaluation, BatchNorm recomputation and
prediction alike. Image members train channels-last (N x C x H x W tensors stored
N x H x W x C), the layout oneDNN and cuDNN convolutions are fastest in; the batches follow
the model: :func:`model_memory_format` reads the layout off its convolution weights.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

import conventions

Augment = Callable[..., torch.Tensor]
Normalize = tuple[Any, Any] | None  # (mean, std), see conventions.check_normalization

POPULATION_BATCHES = 32  # batches for BatchNorm's population statistics after training

__all__ = ["to_float_batch", "reads_uint8", "normalize_batch", "model_memory_format", "set_memory_format", "population_batches",
           "inference_batch_size"]


def inference_batch_size(device: torch.device | str, pixels: int | None = None) -> int:
    """Rows per forward pass in evaluation and prediction on ``device``.

    A CPU runs a small CNN 2-3x faster on batches of a few hundred 32 x 32 rows than on
    thousands: the activations of a batch then stay in cache between layers. Larger images
    (``pixels`` per row and channel) get proportionally fewer rows, so a batch's activations
    stay that size. Accelerators want large batches to fill their cores.
    """
    rows = 256 if torch.device(device).type == "cpu" else 4096
    return rows if pixels is None else max(1, min(rows, rows * 32 * 32 // pixels))


def normalize_batch(x: torch.Tensor, normalize: Normalize = None,
                    memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Per-channel (x - mean) / std of a float batch (channel = dim 1), in ``memory_format``
    when ``x`` is 4-d. ``normalize`` is (mean, std) of scalars or length-C sequences, or None."""
    fmt = memory_format if x.dim() == 4 else None
    if normalize is not None:
        return conventions.normalize(x, *normalize, memory_format=fmt)
    return x if fmt is None else x.contiguous(memory_format=fmt)


def reads_uint8(augment: Augment | None) -> bool:
    """Whether ``augment`` takes uint8 batches as they are.

    augkit's transforms do: they take uint8 N x C x H x W [0, 255] and return uint8 (their
    SIMD antialiased scale-crop, folded flips and exact crops then run on uint8), or float32
    when the pipeline ends by normalising. They are recognised by the ``keeps_range``
    property every augkit transform has. Any other callable gets float batches in [0, 1].
    """
    return augment is not None and isinstance(getattr(augment, "keeps_range", None), bool)


def to_float_batch(x: torch.Tensor, augment: Augment | None = None, generator: Any = None,
                   normalize: Normalize = None,
                   memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Turn a batch into the network's float32 input.

    A uint8 ``x`` (N x C x H x W, 0..255) goes through an augkit ``augment`` as it is (see
    ``nets.batches.reads_uint8``: uint8 stays uint8 through the augmentation), and is then converted
    and normalised in one pass, (x / 255 - mean) / std (:func:`conventions.normalize_uint8`).
    With any other ``augment``, uint8 becomes float32 x / 255 in [0, 1] first; float input is
    only cast to float32. Then ``augment(x, generator=generator)`` if given (and not applied
    yet), then per-channel (x - mean) / std if ``normalize=(mean, std)`` (scalars or length-C
    sequences; channel = dim 1).

    On uint8 an augkit pipeline whose every pixel is a source pixel (flips, ``RandomCrop``,
    whole-pixel translations) gives the same values as on float; one that resamples or adds
    noise rounds its output to the nearest uint8 level (within 1/510 of the float result),
    as augkit does for every uint8 batch.

    Parameters
    ----------
    x : torch.Tensor
        A batch: uint8 N x C x H x W (0..255), or float.
    augment : callable, optional
        An augkit pipeline, or any callable ``augment(x, generator=generator)``.
    generator : torch.Generator, int or None
        The augmentation's random stream.
    normalize : (mean, std), optional
        Per-channel normalisation (scalars or length-C sequences; channel = dim 1).
    memory_format : torch.memory_format
        The layout of a 4-d result (``torch.channels_last`` for a channels-last model).

    Returns
    -------
    torch.Tensor
        float32 of ``x``'s shape (or the augment's output shape), on ``x``'s device, in
        ``memory_format`` when 4-d.
    """
    fmt = memory_format if x.dim() == 4 else torch.contiguous_format
    if x.dtype == torch.uint8 and reads_uint8(augment):
        x = augment(x, generator=generator)  # uint8 back, or float32 from a pipeline that normalises
        augment = None
    if x.dtype != torch.uint8:
        x = x.float()
    elif augment is None and normalize is not None:  # (x / 255 - mean) / std in the conversion's one pass
        return conventions.normalize_uint8(x, *normalize, memory_format=fmt)
    else:
        x = x.to(dtype=torch.float32, memory_format=fmt) / 255.0
    if augment is not None:
        x = augment(x, generator=generator)
    return normalize_batch(x, normalize, memory_format)


def model_memory_format(model: nn.Module) -> torch.memory_format:
    """``torch.channels_last`` if ``model``'s 2-d convolution weights are stored channels-last,
    else ``torch.contiguous_format``: the layout its input batches should have."""
    for module in model.modules():
        # a weight with 1 input channel or a 1 x 1 kernel is both layouts at once: look further
        w = getattr(module, "weight", None) if isinstance(module, nn.Conv2d) else None
        if w is not None and w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous():
            return torch.channels_last
    return torch.contiguous_format


def set_memory_format(model: nn.Module, channels_last: bool) -> torch.memory_format:
    """Store ``model``'s 4-d weights channels-last (``channels_last=True`` and the model has a
    ``Conv2d``) or contiguous; returns the memory format its batches should have. Models
    without 2-d convolutions (MLPs) are left as they are."""
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return torch.contiguous_format
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    return fmt


DATA_INIT_IMAGES = 5000  # training images a data-dependent initialisation sees (airbench's count)


def initialise_from_data(model: nn.Module, X: torch.Tensor, normalize: Normalize = None,
                         memory_format: torch.memory_format = torch.contiguous_format) -> None:
    """Give ``model.init_from_data`` (when the model has one, e.g. :class:`nets.FastCNN` with a
    whitened stem) up to :data:`DATA_INIT_IMAGES` evenly spaced training rows of ``X``, as the
    network sees them in training before augmentation: float, normalised, in ``memory_format``.
    :func:`nets.fit` and the ensemble engines call it before the first step."""
    init = getattr(model, "init_from_data", None)
    if init is None:
        return
    picks = torch.linspace(0, X.shape[0] - 1, min(X.shape[0], DATA_INIT_IMAGES), device=X.device).round().long()
    init(to_float_batch(X[picks], normalize=normalize, memory_format=memory_format))


def population_batches(X: torch.Tensor, batch_size: int, normalize: Normalize = None,
                       memory_format: torch.memory_format = torch.contiguous_format,
                       max_batches: int = POPULATION_BATCHES) -> Iterator[torch.Tensor]:
    """Float batches of training rows for :func:`nets.recompute_population_statistics`.

    At most ``max_batches * batch_size`` rows, evenly spaced over ``X`` (no randomness), dealt
    into batches of about ``batch_size`` so that each batch spans all of ``X`` (a class-sorted
    array still gives class-mixed batches). No augmentation; ``normalize`` and
    ``memory_format`` as in training.
    """
    n = X.shape[0]
    count = min(n, max_batches * batch_size)
    picks = torch.linspace(0, n - 1, count, device=X.device).round().long()
    n_batches = math.ceil(count / batch_size)
    for j in range(n_batches):
        yield to_float_batch(X[picks[j::n_batches]], normalize=normalize, memory_format=memory_format)
