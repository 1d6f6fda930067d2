"""Deterministic test-time views, the named TTA modes, and the averaging of views.

All view functions take a batch N x C x H x W (uint8 or float on [0, 1], CPU or CUDA) and
return N x V x C x h x w in the input's dtype and device, so a model sees all views of a batch
as one forward pass: ``model(views.flatten(0, 1)).unflatten(0, (N, V))``.

:data:`TTA_MODES` is the one list of named modes; :func:`views` turns a mode into the views of a
batch, sized from the batch's shorter side. Estimators, scripts and command lines name modes
from this list (a command line writes None as ``"none"``, see :func:`mode_from_name`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from conventions import check_choice

from . import functional as F
from .validation import check_batch, check_size


def _five_crops(x: torch.Tensor, h: int, w: int) -> list[torch.Tensor]:
    """tl, tr, bl, br, centre crops; centre offsets round((H - h) / 2) like torchvision."""
    height, width = x.shape[-2:]
    top, left = round((height - h) / 2.0), round((width - w) / 2.0)
    corners = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w), (top, left)]
    return [F.crop(x, t, left_, h, w) for t, left_ in corners]


def _resized(batch: torch.Tensor, size: int) -> torch.Tensor:
    """Shorter side -> ``size`` (antialiased bilinear), back in the batch's dtype."""
    if min(batch.shape[-2:]) == size:
        return batch
    return F.from_working(F.resize_shorter(F.to_working(batch), size), batch.dtype)


def ten_crop(batch: torch.Tensor, size: int | tuple[int, int], resize: int | None = None) -> torch.Tensor:
    """Ten crops per image: N x C x H x W -> N x 10 x C x h x w.

    Order (torchvision.transforms.v2.TenCrop's): top-left, top-right, bottom-left,
    bottom-right, centre of the image, then the same five of its horizontal mirror (so view 5
    is the mirror of view 1's region, etc.). Crops are exact slices (no interpolation); the
    centre crop starts at ``round((H - h) / 2), round((W - w) / 2)``.

    Parameters
    ----------
    batch : torch.Tensor
        N x C x H x W, uint8 or float on [0, 1].
    size : int or (int, int)
        The crops' ``(h, w)``; an int means a square.
    resize : int, optional
        Rescale the shorter side to ``resize`` first (bilinear, antialiased when shrinking; see
        :func:`augkit.functional.resize_shorter`).

    Returns
    -------
    torch.Tensor
        N x 10 x C x h x w in ``batch``'s dtype.
    """
    check_batch(batch)
    h, w = check_size(size)
    if resize is not None:
        batch = _resized(batch, check_size(resize, "resize")[0])
    if h > batch.shape[-2] or w > batch.shape[-1]:
        raise ValueError(f"crop size {(h, w)} is larger than the image {tuple(batch.shape[-2:])}")
    crops = _five_crops(batch, h, w) + _five_crops(batch.flip(-1), h, w)
    return torch.stack(crops, dim=1)


def multi_scale_ten_crop(batch: torch.Tensor, size: int | tuple[int, int] = 224,
                         scales: Sequence[int] = (224, 256, 384, 480, 640)) -> torch.Tensor:
    """Ten crops at each scale: N x C x H x W -> N x (10 * len(scales)) x C x h x w.

    For every ``s`` in ``scales`` (in order) the shorter side is resized to ``s`` (antialiased
    when shrinking) and :func:`ten_crop` is taken; views of scale i are ``10 i`` to ``10 i + 9``.

    Parameters
    ----------
    batch : torch.Tensor
        N x C x H x W, uint8 or float on [0, 1].
    size : int or (int, int)
        The crops' ``(h, w)``; an int means a square.
    scales : sequence of int
        The shorter sides, at least one (ResNet's test scales by default).

    Returns
    -------
    torch.Tensor
        N x (10 len(scales)) x C x h x w in ``batch``'s dtype.
    """
    check_batch(batch)
    if not scales:
        raise ValueError("scales must not be empty")
    return torch.cat([ten_crop(batch, size, resize=s) for s in scales], dim=1)


def flip_views(batch: torch.Tensor) -> torch.Tensor:
    """Identity and horizontal mirror: N x C x H x W -> N x 2 x C x H x W.

    Parameters
    ----------
    batch : torch.Tensor
        N x C x H x W, uint8 or float on [0, 1].

    Returns
    -------
    torch.Tensor
        N x 2 x C x H x W in ``batch``'s dtype.
    """
    check_batch(batch)
    return torch.stack([batch, batch.flip(-1)], dim=1)


def shift_views(batch: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Identity and four whole-pixel shifts: N x C x H x W -> N x 5 x C x H x W.

    Views: unshifted, content moved ``pixels`` right, left, down, up; uncovered pixels are 0.
    Exact integer shifts (no interpolation); the test-time counterpart of training with
    ``Translate(..., unit="pixels")``, for data whose class a flip would change (digits, text).

    Parameters
    ----------
    batch : torch.Tensor
        N x C x H x W, uint8 or float on [0, 1].
    pixels : int
        The shift, >= 1.

    Returns
    -------
    torch.Tensor
        N x 5 x C x H x W in ``batch``'s dtype.
    """
    check_batch(batch)
    if not isinstance(pixels, int) or isinstance(pixels, bool) or pixels < 1:
        raise ValueError(f"pixels must be a positive int, got {pixels!r}")
    d = pixels
    padded = torch.nn.functional.pad(batch, (d, d, d, d))  # zeros around the image
    h, w = batch.shape[-2:]
    offsets = [(d, d), (d, 0), (d, 2 * d), (0, d), (2 * d, d)]  # (top, left) of each window
    return torch.stack([padded[..., t:t + h, s:s + w] for t, s in offsets], dim=1)


def average_views(outputs: torch.Tensor, average: str = "proba") -> torch.Tensor:
    """Combine per-view logits N x V x K into N x K.

    Parameters
    ----------
    outputs : torch.Tensor
        Float logits N x V x K: V views of N samples over K classes.
    average : {"proba", "logits"}
        ``"proba"``: the mean over views of ``softmax(logits)``; ``"logits"``: the mean of the
        logits.

    Returns
    -------
    torch.Tensor
        N x K in ``outputs``' dtype: probabilities for ``"proba"``, logits for ``"logits"``.
    """
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 3:
        raise ValueError(f"outputs must be a tensor N x V x K, got "
                         f"{tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__}")
    if not outputs.dtype.is_floating_point:
        raise TypeError(f"outputs must be float logits, got dtype {outputs.dtype}")
    check_choice(average, "average", ("proba", "logits"))
    if average == "proba":
        return outputs.softmax(dim=-1).mean(dim=1)
    return outputs.mean(dim=1)


#: The named test-time modes of :func:`views`, simplest first (None: the image alone).
TTA_MODES = (None, "flip", "shift", "flip_shift", "ten_crop", "multi_scale")
#: The modes as command-line words: ``"none"`` for None.
TTA_MODE_NAMES = tuple("none" if mode is None else mode for mode in TTA_MODES)


def mode_from_name(name: str) -> str | None:
    """The mode a command-line word names: ``"none"`` is None, any other word is itself.

    Parameters
    ----------
    name : str
        One of :data:`TTA_MODE_NAMES`.

    Returns
    -------
    str or None
        A member of :data:`TTA_MODES`.

    Raises
    ------
    ValueError
        ``name`` names no mode.
    """
    check_choice(name, "TTA mode name", TTA_MODE_NAMES)
    return TTA_MODES[TTA_MODE_NAMES.index(name)]


def views(batch: torch.Tensor, mode: str | Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """The test-time views of a batch for a named mode, sized from its shorter side ``s``.

    Parameters
    ----------
    batch : torch.Tensor
        N x C x H x W, uint8 or float on [0, 1].
    mode : str, callable or None
        A member of :data:`TTA_MODES`: None, the image alone (V = 1); ``"flip"``, it and its
        mirror (:func:`flip_views`, V = 2); ``"shift"``, it and four shifts by ``max(1, s // 16)``
        pixels (:func:`shift_views`, V = 5); ``"flip_shift"``, those five and their mirrors
        (V = 10); ``"ten_crop"``, :func:`ten_crop` of size ``s`` after resizing the shorter side
        to ``round(1.125 s)`` (V = 10); ``"multi_scale"``, :func:`multi_scale_ten_crop` of size
        ``s`` at shorter sides ``round(f s)`` for f in 1, 1.0625, 1.125, 1.1875, 1.25 (V = 50).
        Or a callable ``batch -> N x V x C x h x w``, called.

    Returns
    -------
    torch.Tensor
        N x V x C x h x w in the batch's dtype and device (h x w = H x W for the named modes but
        the crops, s x s for those).

    Raises
    ------
    ValueError
        ``mode`` is neither a member of :data:`TTA_MODES` nor callable.
    """
    if mode is None:
        return batch[:, None]
    if callable(mode):
        return mode(batch)
    side = min(batch.shape[-2:])
    if mode == "flip":
        return flip_views(batch)
    if mode == "shift":
        return shift_views(batch, pixels=max(1, side // 16))
    if mode == "flip_shift":
        shifted = shift_views(batch, pixels=max(1, side // 16))
        return torch.cat([shifted, shifted.flip(-1)], dim=1)
    if mode == "ten_crop":
        return ten_crop(batch, size=side, resize=round(side * 1.125))
    if mode == "multi_scale":
        scales = tuple(round(side * s) for s in (1.0, 1.0625, 1.125, 1.1875, 1.25))
        return multi_scale_ten_crop(batch, size=side, scales=scales)
    raise ValueError(f"tta must be one of {TTA_MODES} or a callable; got {mode!r}")
