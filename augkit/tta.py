"""Deterministic test-time views and their averaging.

All view functions take a batch N x C x H x W (uint8 or float on [0, 1], CPU or CUDA) and
return N x V x C x h x w in the input's dtype and device, so a model sees all views of a batch
as one forward pass: ``model(views.flatten(0, 1)).unflatten(0, (N, V))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import functional as F
from ._checks import check_batch, check_choice, check_size


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
    centre crop starts at ``round((H - h) / 2), round((W - w) / 2)``. ``resize``: rescale
    the shorter side to ``resize`` first (bilinear, antialiased when shrinking; see
    :func:`augkit.functional.resize_shorter`). ``size``: int or (h, w).
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
    when shrinking) and :func:`ten_crop` is taken; views of scale i are ``10 i .. 10 i + 9``.
    """
    check_batch(batch)
    if not scales:
        raise ValueError("scales must not be empty")
    return torch.cat([ten_crop(batch, size, resize=s) for s in scales], dim=1)


def flip_views(batch: torch.Tensor) -> torch.Tensor:
    """Identity and horizontal mirror: N x C x H x W -> N x 2 x C x H x W."""
    check_batch(batch)
    return torch.stack([batch, batch.flip(-1)], dim=1)


def shift_views(batch: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Identity and four whole-pixel shifts: N x C x H x W -> N x 5 x C x H x W.

    Views: unshifted, content moved ``pixels`` right, left, down, up; uncovered pixels are 0.
    Exact integer shifts (no interpolation); the test-time counterpart of training with
    ``Translate(..., unit="pixels")``, for data whose class a flip would change (digits, text).
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

    ``average="proba"``: mean over views of ``softmax(logits)`` (returns probabilities);
    ``"logits"``: mean of the logits (returns logits). Float output.
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
