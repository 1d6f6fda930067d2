"""Warping through sampling grids: the fused ``grid_sample`` of a geometric run, flips, rotate.

:func:`warp` resamples a batch once through a run of geometric steps (the maps of
:mod:`augkit.functional.geometry`) and the per-image colour maps between them: one sampling
grid per sample and one ``grid_sample`` call per group of samples that share their
supersampling (where a sample minifies). A sample that only flips is re-indexed exactly
(:func:`hflip`, :func:`vflip`) instead. Axis-aligned resizing (scale-crop, resized crop) has
exact kernels of its own in :mod:`augkit.functional.resize`. Every kernel takes a batch N x C x H x W (uint8 [0, 255] or a
working batch on [0, 1]) and explicit per-sample parameters, and draws nothing random.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from . import geometry as G
from .color import ColorMap, apply_color_map
from .misc import to_working

#: Resampling modes of :func:`warp` (``grid_sample``'s).
INTERPOLATIONS = ("bilinear", "nearest")
#: What a geometric step samples outside its input frame (see :class:`augkit.functional.geometry.Step`).
FILLS = ("zeros", "border", "reflect")

_WINDOW_MIN_PIXELS = 96 * 96  # below this, a resampling reads the whole image


def warp(x: torch.Tensor, items: Sequence[G.Step | ColorMap], out_size: tuple[int, int],
         interpolation: str = "bilinear") -> torch.Tensor:
    """Resample a batch once through a fused run of geometric steps and colour maps.

    Interpolation is ``grid_sample(mode=interpolation, align_corners=False)`` at the source
    points of :func:`augkit.functional.geometry.sampling_points`, taps clamped at the image edge.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, float on [0, 1] or uint8.
    items : sequence of Step or ColorMap
        The run in pipeline order: an :class:`augkit.functional.geometry.Step` per geometric
        transform and an :class:`augkit.functional.color.ColorMap` per per-image affine colour
        transform between them.
    out_size : (int, int)
        ``(out_h, out_w)`` of the output.
    interpolation : {"bilinear", "nearest"}
        ``grid_sample``'s mode.

    Returns
    -------
    torch.Tensor
        N x C x out_h x out_w in ``x``'s float dtype (float32 for uint8).

    Notes
    -----
    Fused semantics, per sample and per (sub-)sample point, in pipeline order: the source value
    at the point; each zero-filled step multiplies it by the point's coverage in that step's
    input frame (so its fill stays 0 unless a later colour map lights it, as applying the
    transforms one by one would); each colour map is applied; at the end the sub-samples are
    averaged and, when the run holds a colour map, the result is clamped to [0, 1] once. The one
    difference from applying the transforms one by one is that: no intermediate clamp, and one
    interpolation instead of one per transform.

    Antialiasing (bilinear only): a sample whose affine part minifies (see
    :func:`augkit.functional.geometry.supersample_factors`) averages ``k_y x k_x`` points at its
    sub-pixel centres, a box filter of the output pixel's footprint; ``k`` is each sample's own. A sample on
    which every step is the identity or an axis flip is re-indexed, not resampled: it comes back
    exactly (bit-exact for uint8), whatever the rest of the batch does. On large images only
    each sample's window is resampled and converted from uint8 (same result, see
    :func:`_crop_to_footprint`).
    """
    steps = [item for item in items if isinstance(item, G.Step)]
    n = x.shape[0]
    if interpolation == "nearest" or (total := G.affine_total(steps)) is None:
        factors = torch.ones(n, 2, dtype=torch.long)
    else:
        factors = G.supersample_factors(total).cpu()
    same_frame = tuple(x.shape[-2:]) == tuple(out_size) and all(s.in_size == tuple(out_size) for s in steps)
    # Group key per sample: -1 for re-indexed samples, else the index of its (k_y, k_x).
    keys = factors[:, 0] * 4096 + factors[:, 1]
    if same_frame:
        keys = torch.where(G.exact_samples(steps, n), -1, keys)
    groups = keys.unique().tolist()
    if len(groups) == 1:
        return _warp_group(x, items, out_size, interpolation, groups[0])
    out = None
    for key in groups:
        index = (keys == key).nonzero().squeeze(1).to(x.device)
        sub_items = [G.select_samples([i], index)[0] if isinstance(i, G.Step)
                     else ColorMap(None if i.matrix is None else i.matrix[index], i.offset[index]) for i in items]
        y = _warp_group(x.index_select(0, index), sub_items, out_size, interpolation, key)
        if out is None:
            out = y.new_empty((n, *y.shape[1:]))
        out.index_copy_(0, index, y)
    return out


def _warp_group(x: torch.Tensor, items: Sequence[G.Step | ColorMap], out_size: tuple[int, int],
                interpolation: str, key: int) -> torch.Tensor:
    """:func:`warp` for samples that share their supersampling factors (``key`` = 4096 k_y + k_x)
    or are all re-indexed (``key`` = -1)."""
    if key == -1:
        v = to_working(x)
        owned = v is not x
        for item in items:
            if isinstance(item, G.Step) and isinstance(item.map, G.Radial):
                continue  # k1 = k2 = 0 on these samples
            if isinstance(item, G.Step):
                m = item.map.double()
                v = hflip(v, (m[:, 0, 0] < 0).to(v.device), inplace=owned)
                v = vflip(v, (m[:, 1, 1] < 0).to(v.device), inplace=True)
                owned = True
            else:
                v = apply_color_map(v, item)
        return v.clamp_(0, 1) if any(isinstance(i, ColorMap) for i in items) else v
    k = (key // 4096, key % 4096)
    steps = [item for item in items if isinstance(item, G.Step)]
    x, shift = _crop_to_footprint(x, steps, out_size, k)
    working = to_working(x)
    if shift is not None:  # window coordinates: one more (fill-free) step in front
        steps = [G.Step(shift, tuple(working.shape[-2:]), None), *steps]
    n, c = working.shape[:2]
    grid, coverage = G.sampling_points(steps, n, out_size, tuple(working.shape[-2:]), k, interpolation,
                                       working.dtype, working.device)
    # v: N x C x (S h) x w, the S sub-sample blocks stacked along rows. Everything below stays
    # 4-d and in place: broadcasting over a 5-d view is several times slower on the CPU.
    v = F.grid_sample(working, grid, mode=interpolation, padding_mode="border", align_corners=False)
    index, weight = 1 if shift is not None else 0, None
    for item in items:
        if isinstance(item, G.Step):
            if index in coverage:
                weight = coverage[index] if weight is None else weight * coverage[index]
            index += 1
            continue
        if weight is not None:  # coverage met so far multiplies before this colour map
            v, weight = v.mul_(weight.reshape(n, 1, -1, out_size[1])), None
        v = apply_color_map(v, item)
    if weight is not None:
        v = v.mul_(weight.reshape(n, 1, -1, out_size[1]))
    if k != (1, 1):
        v = v.view(n, c, k[0] * k[1], -1).mean(dim=2).view(n, c, *out_size)
    return v.clamp_(0, 1) if any(isinstance(i, ColorMap) for i in items) else v


def _crop_to_footprint(x: torch.Tensor, steps: list[G.Step], out_size: tuple[int, int],
                       k: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Cut each sample down to the window its resampling reads, when that saves work.

    When the batch's largest window (see :func:`augkit.functional.geometry.footprint`) covers at most 3/4
    of the image, every sample's window of that common size is copied out (one slice copy per
    sample: a loop of N Python steps, worth it only for large images, which is when windows
    are small relative to the image). The window keeps every pixel a tap can read and, where
    points fall outside the image, touches that image edge, so clamped taps read the same
    pixels. A uint8 batch comes back as float32 windows on [0, 1]. Returns ``(windows, shift)``:
    ``shift`` (N x 3 x 3) is the backward step from the image frame into the window (centred
    image coordinates to centred window coordinates), or ``(x, None)`` when nothing was cut.
    """
    h, w = x.shape[-2:]
    # Small images: the per-sample copies cost more than resampling the whole image.
    if h * w < _WINDOW_MIN_PIXELS or x.shape[0] == 0:
        return x, None
    span = G.footprint(steps, out_size, (h, w), k)
    if span is None:
        return x, None
    low, high = span
    limit = torch.tensor([h - 1, w - 1], device=low.device)
    # One pixel of margin: the float32 grid may round a point across a pixel border.
    low = (low - 1).clamp(min=0).minimum(limit)
    high = (high + 1).minimum(limit).maximum(low)
    wh, ww = (high - low + 1).amax(0).tolist()
    if 4 * wh * ww > 3 * h * w:
        return x, None
    # Common window size; shift windows that would run past the far edge back inside.
    start = low.minimum(torch.tensor([h - wh, w - ww], device=low.device))
    # uint8 is cast while copying (then scaled like to_working), so it is read only once.
    dtype = torch.float32 if x.dtype == torch.uint8 else x.dtype
    windows = x.new_empty((x.shape[0], x.shape[1], wh, ww), dtype=dtype)
    for window, image, (top, left) in zip(windows, x, start.tolist()):
        window.copy_(image[:, top:top + wh, left:left + ww])
    if x.dtype == torch.uint8:
        windows.div_(255)
    # Backward map from centred full-image to centred window coordinates: a translation.
    shift = torch.eye(3, dtype=torch.float64, device=low.device).repeat(x.shape[0], 1, 1)
    shift[:, 0, 2] = w / 2 - start[:, 1].double() - ww / 2
    shift[:, 1, 2] = h / 2 - start[:, 0].double() - wh / 2
    return windows, shift


def _flip_samples(x: torch.Tensor, apply: torch.Tensor, dim: int, inplace: bool) -> torch.Tensor:
    # Only the chosen samples are read, mirrored and written back: in place that is a third
    # of the memory traffic of torch.where(apply, x.flip(dim), x).
    out = x if inplace else x.clone()
    index = apply.nonzero().squeeze(1)
    if index.numel():
        out.index_copy_(0, index, x.index_select(0, index).flip(dim))
    return out


def hflip(x: torch.Tensor, apply: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Mirror left-right the samples where ``apply`` is True.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, any dtype.
    apply : torch.Tensor
        bool N: the samples to mirror.
    inplace : bool
        Overwrite and return ``x`` instead of a copy.

    Returns
    -------
    torch.Tensor
        ``x``'s shape and dtype; exact.
    """
    return _flip_samples(x, apply, -1, inplace)


def vflip(x: torch.Tensor, apply: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Mirror top-bottom the samples where ``apply`` is True.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, any dtype.
    apply : torch.Tensor
        bool N: the samples to mirror.
    inplace : bool
        Overwrite and return ``x`` instead of a copy.

    Returns
    -------
    torch.Tensor
        ``x``'s shape and dtype; exact.
    """
    return _flip_samples(x, apply, -2, inplace)


def rotate(x: torch.Tensor, degrees: torch.Tensor, interpolation: str = "bilinear",
           fill: str = "zeros") -> torch.Tensor:
    """Rotate image n about its centre by ``degrees_n``: one :func:`warp` step.

    Positive angles turn the content counter-clockwise as displayed (torchvision's ``rotate``).

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, uint8 or a working batch on [0, 1].
    degrees : torch.Tensor
        Float N: each image's angle in degrees.
    interpolation : {"bilinear", "nearest"}
        ``grid_sample``'s mode.
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image.

    Returns
    -------
    torch.Tensor
        A working batch of ``x``'s shape (float32 for uint8).
    """
    size = tuple(x.shape[-2:])
    step = G.Step(G.rotation_matrix(degrees).to(x.device), size, fill)
    return warp(x, [step], size, interpolation)
