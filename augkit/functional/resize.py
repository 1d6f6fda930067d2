"""Axis-aligned antialiased resizing: scale-crop windows, resized crops, the shorter-side resize.

:func:`scale_crop_antialias` and :func:`resized_crop_antialias` are the exact kernels of a
scale-crop (resize, then crop) and a resized crop (crop, then resize): torchvision's antialiased
bilinear (``interpolate(mode="bilinear", antialias=True)``), one call per sample, or for uint8
on the CPU the window-only kernel of :mod:`augkit.functional.window` where numba can be
imported. :func:`scale_crop_window` is one image's window at an explicit scale, what the photo
streams of :mod:`augkit.data` crop with. Every kernel takes explicit per-sample parameters and
draws nothing random; geometric runs that rotate, shear or distort go through
:func:`augkit.functional.warp` instead.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .misc import to_working

# A channels-last image is read in place unless its window is nearer the right edge by more than
# this fraction of the window's width: mirroring then costs one copy of the region, which the
# columns the kernel no longer computes repay (measured on 427 x 640 photos, scale-crop 224).
# Rows are mirrored only along with columns: the kernel's extra rows cost less than the copy.
_MIRROR_MIN_GAIN = 0.5


def _reach(start: int, out: int, size: int, ratio: float) -> tuple[int, int]:
    """Input pixels an axis needs, and the output length to compute, for a window anchored at 0.

    Output pixels ``[0, start + out)`` of an axis of ``size`` input pixels, ``ratio`` input
    pixels per output pixel, read the input from 0 up to the last centre ``(start + out) ratio``
    plus the kernel's support ``max(ratio, 1)``, plus one for rounding. interpolate treats an
    axis whose input and output lengths agree as unscaled, whatever the scale factor, so the two
    are kept apart (one unused input pixel more, or one unused output pixel more).
    """
    length = min(size, math.ceil((start + out) * ratio + max(ratio, 1)) + 1)
    computed = start + out
    if length == computed and ratio != 1:
        length, computed = (length + 1, computed) if length < size else (length, computed + 1)
    return length, computed


def _kernel_input(image: torch.Tensor, rows: int, cols: int, mirror: tuple[bool, bool]) -> torch.Tensor:
    """The first ``rows`` x ``cols`` of ``image`` (1 x C x H x W uint8, C = 1 or 3), counted from
    the bottom / right edge where ``mirror`` says and mirrored there, as the channels-last uint8
    tensor of interpolate's SIMD kernel.

    A channels-last image that needs no mirroring is passed as a view of whole rows (no copy;
    the kernel reads only the columns it needs). Anything else is copied once, and only the
    window's reach: a channels-first image is interleaved by ``torch.stack`` of its planes (the
    cheapest conversion measured: a permuted ``contiguous`` or int32 packing cost more), and a
    mirror is one ``flip`` of the channels-last region (a fast copy in that layout).
    """
    h, w = image.shape[-2:]
    region = image[:, :, h - rows:] if mirror[0] else image[:, :, :rows]
    channels_last = image.shape[1] == 1 or image.stride(1) == 1
    if channels_last and not any(mirror):
        # Whole rows keep the view channels-last. Its batch stride (free for one image) is set to
        # a whole image's: a stride of 0 or C (numpy's image[None], torch's unsqueeze) makes torch
        # read the layout as channels-first and write a channels-first output.
        strides = (region.shape[2] * region.stride(2), *region.stride()[1:])
        return region.as_strided(region.shape, strides).contiguous(memory_format=torch.channels_last)
    region = region[..., w - cols:] if mirror[1] else region[..., :cols]
    if not channels_last:
        region = torch.stack(tuple(region[0]), -1)[None].permute(0, 3, 1, 2)
    dims = [d for d, m in zip((-2, -1), mirror) if m]
    region = region.flip(dims) if dims else region
    return region.contiguous(memory_format=torch.channels_last)


def _window_kernel():
    """``augkit.functional.window.resample_windows`` when numba can be imported, else None.

    Imported on first use: compiling it (or loading numba's on-disk cache of it) takes seconds
    (or about a second), which a program that never resamples a uint8 window should not pay.
    """
    global _windows_or_none
    if _windows_or_none is _UNSET:
        try:
            from .window import resample_windows
        except ImportError:  # numba missing or unusable: torch's kernel does the work
            resample_windows = None
        _windows_or_none = resample_windows
    return _windows_or_none


_UNSET = object()
_windows_or_none = _UNSET


def _uses_window_kernel(x: torch.Tensor) -> bool:
    """Whether the numba window kernel takes ``x`` (N x C x H x W): uint8 on the CPU, C = 1 or 3."""
    return x.dtype == torch.uint8 and x.device.type == "cpu" and x.shape[1] in (1, 3) and _window_kernel() is not None


def _as_numpy_images(x: torch.Tensor):
    """``x`` (N x C x H x W uint8, CPU) as the N x H x W x C numpy view the window kernel reads (no copy)."""
    return x.permute(0, 2, 3, 1).numpy()  # uint8: never requires grad


def scale_crop_window(image: torch.Tensor, ratio: tuple[float, float], start: tuple[int, int],
                      size: tuple[int, int], flip: tuple[bool, bool] = (False, False),
                      scaled_size: tuple[int, int] | None = None) -> torch.Tensor:
    """One image's scale-crop window: the antialiased-bilinear kernel of :func:`scale_crop_antialias`
    at an explicit scale.

    Output pixel ``(i, j)`` of the window is output pixel ``(start[0] + i, start[1] + j)`` of
    the image resized by ``1 / ratio``: centred at input position ``ratio (start + i + 1/2)``,
    a triangle filter widened by ``ratio`` when shrinking, taps clamped at the image edges.

    Parameters
    ----------
    image : torch.Tensor
        1 x C x H x W, uint8 or float on [0, 1].
    ratio : (float, float)
        Input pixels per output pixel, ``(H / scaled_h, W / scaled_w)`` for a resize to
        ``(scaled_h, scaled_w)``; a reduced-scale decode passes the source's ratio divided by
        its reduction, so the window samples the source's positions.
    start : (int, int)
        The window's corner ``(top, left)`` in output pixels.
    size : (int, int)
        ``(h, w)`` of the window.
    flip : (bool, bool)
        Mirror the window top-bottom, left-right.
    scaled_size : (int, int), optional
        The resized size when ``ratio`` is exactly ``(H / scaled_h, W / scaled_w)``: torch's
        kernel (the path without numba) may then compute the window from the nearest image
        corner (the resize is symmetric). Without it that kernel starts at the top-left corner.

    Returns
    -------
    torch.Tensor
        C x h x w. uint8 on the CPU with C = 1 or 3: torch's uint8 kernel's pixels (within one
        level of the float kernel), computed for the window only by
        ``augkit.functional.window.resample_windows`` (numba), channels-first; without numba, by
        torch's kernel, a view into a channels-last buffer. Float input: float32.
    """
    if _uses_window_kernel(image):
        out = np.empty((1, image.shape[1], *size), dtype=np.uint8)
        _window_kernel()(_as_numpy_images(image), np.array([ratio], dtype=np.float64),
                         np.array([start], dtype=np.int64), np.array([flip], dtype=bool), out)
        return torch.from_numpy(out[0])
    return _torch_window(image, ratio, start, size, flip, scaled_size)


def _torch_window(image: torch.Tensor, ratio: tuple[float, float], start: tuple[int, int],
                  size: tuple[int, int], flip: tuple[bool, bool], scaled_size: tuple[int, int] | None
                  ) -> torch.Tensor:
    """:func:`scale_crop_window` by torch's kernel (CUDA, float, other channel counts, no numba)."""
    (c, h, w), (oh, ow), (t, lc) = image.shape[1:], size, start
    simd = image.dtype == torch.uint8 and image.device.type == "cpu" and c in (1, 3)
    if image.dtype == torch.uint8 and not simd:
        image = to_working(image)
    mirror = (False, False)
    if simd and scaled_size is not None:
        # Mirror an axis whose window is nearer the far edge: always when the image is copied
        # anyway (channels-first), else when it repays the copy (_MIRROR_MIN_GAIN).
        (sh, sw), copied = scaled_size, c == 3 and image.stride(1) != 1
        mirror_x = lc - (sw - ow - lc) > (0 if copied else _MIRROR_MIN_GAIN * ow)
        mirror = ((copied or mirror_x) and sh - oh - t < t, mirror_x)
        t, lc = (sh - oh - t if mirror[0] else t), (sw - ow - lc if mirror[1] else lc)
    rows, out_rows = _reach(t, oh, h, ratio[0])
    cols, out_cols = _reach(lc, ow, w, ratio[1])
    if simd:
        image = _kernel_input(image, rows, cols, mirror)
        # Whole rows of a view read up to w: keep the sizes apart as _reach does.
        if image.shape[-1] == w and out_cols == w and ratio[1] != 1:
            out_cols += 1
    else:
        image = image[:, :, :rows, :cols]
    y = torch.ops.aten._upsample_bilinear2d_aa(image, [out_rows, out_cols], False, 1 / ratio[0], 1 / ratio[1])
    window = y[0, :c, t:t + oh, lc:lc + ow]
    undo = [d for d, m, f in zip((-2, -1), mirror, flip) if bool(m) != bool(f)]
    return window.flip(undo) if undo else window


def scale_crop_antialias(x: torch.Tensor, scaled_size: torch.Tensor, top: torch.Tensor,
                         left: torch.Tensor, size: tuple[int, int], flips: torch.Tensor | None = None
                         ) -> torch.Tensor:
    """Resize image n to ``scaled_size[n]``, crop ``size`` at ``(top[n], left[n])``, then flip.

    The filter is antialiased bilinear, as Pillow's and torchvision's resize: a triangle
    kernel widened by the scale factor when shrinking (plain bilinear when enlarging), image
    edges clamped (``interpolate(mode="bilinear", antialias=True, align_corners=False)``).
    The result equals resizing the whole image and then cropping, but only part of the resized
    image is computed: the kernel places output pixel ``i`` at ``scale (i + 1/2)`` from its
    input's corner, so the input must start at an image corner, and the output rows and columns
    between that corner and the window are the price of exact sample positions. The corner is the
    one nearest the window: an axis whose window lies nearer the far edge is mirrored (output
    pixel ``i`` from the far edge sits at ``scale (i + 1/2)`` from that edge too, because
    ``scale`` is ``size / scaled``), and the mirror is undone, or merged with the requested flip,
    when the window is copied out.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, uint8 or float on [0, 1]. Any memory layout: uint8 channels-last images
        (what numpy and PIL images become) are read in place; channels-first uint8 images are
        interleaved once, only over the part the window reads.
    scaled_size : torch.Tensor
        int64 N x 2: each image's resized ``(h, w)``.
    top, left : torch.Tensor
        int64 N: the window's corner in the resized image.
    size : tuple of int
        ``(h, w)`` of the window.
    flips : torch.Tensor, optional
        bool N x 2 (mirror the crop top-bottom, left-right): the flips that follow the crop in a
        pipeline, done while the crop is copied out.

    Returns
    -------
    torch.Tensor
        N x C x h x w. For uint8 on CPU (C = 1 or 3): the pixels of interpolate's uint8 kernel,
        which works in fixed point and rounds (within one level of the float kernel). Where numba
        can be imported they come from ``augkit.functional.window.resample_windows``, bit-identical and
        computed for the windows only, in one call for the batch, contiguous channels-first;
        without it from interpolate itself, one call per sample, channels-last in memory.
        Otherwise the float working batch (float32 for uint8).

    Notes
    -----
    Without numba: one interpolate call per sample (a loop of N Python steps): every sample has
    its own scale and window, and the kernel's cost is the pixels it touches, so batching would
    resample the union of all windows at every scale.
    """
    (n, c, h, w), (oh, ow) = x.shape, size
    # Every sample's parameters in one small tensor op (a single image's call is mostly such ops).
    columns = [scaled_size[:, 0], scaled_size[:, 1], top, left]
    if flips is not None:
        columns += [flips[:, 0].long(), flips[:, 1].long()]
    table = torch.stack(columns, 1).cpu()
    if _uses_window_kernel(x):
        table = table.numpy()
        flip_table = table[:, 4:] != 0 if flips is not None else np.zeros((n, 2), dtype=bool)
        out = np.empty((n, c, oh, ow), dtype=np.uint8)
        _window_kernel()(_as_numpy_images(x), np.stack([h / table[:, 0], w / table[:, 1]], 1),
                         np.ascontiguousarray(table[:, 2:4]), np.ascontiguousarray(flip_table), out)
        return torch.from_numpy(out)
    simd = x.dtype == torch.uint8 and x.device.type == "cpu" and c in (1, 3)
    # The SIMD kernel writes channels-last: so does the batch, which then needs no transpose.
    layout = torch.channels_last if simd else torch.contiguous_format
    dtype = torch.float32 if x.dtype == torch.uint8 and not simd else x.dtype
    out = torch.empty((n, c, oh, ow), dtype=dtype, device=x.device, memory_format=layout)
    for i, (sh, sw, t, lc, *flip) in enumerate(table.tolist()):
        out[i] = _torch_window(x[i:i + 1], (h / sh, w / sw), (t, lc), size, flip or (False, False), (sh, sw))
    return out


def resized_crop_antialias(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
                           width: torch.Tensor, size: tuple[int, int], flips: torch.Tensor | None = None
                           ) -> torch.Tensor:
    """Crop image n to its window, resize it to ``size`` with antialiased bilinear, then flip.

    torchvision's ``resized_crop(..., antialias=True)`` per sample: the window alone is resized
    (``interpolate(mode="bilinear", antialias=True, align_corners=False)``, edge taps clamped
    at the window's border). One interpolate call per sample: every window has its own scale.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, uint8 (resized in uint8, the SIMD kernel on CPU) or float on [0, 1].
    top, left, height, width : torch.Tensor
        int64 N each: the windows, inside the images.
    size : tuple of int
        ``(h, w)`` of the output.
    flips : torch.Tensor, optional
        bool N x 2 (mirror top-bottom, left-right): the flips that follow the crop in a pipeline.

    Returns
    -------
    torch.Tensor
        N x C x h x w in ``x``'s dtype.
    """
    out = x.new_empty((x.shape[0], x.shape[1], *size))
    columns = [top, left, height, width]
    if flips is not None:
        columns += [flips[:, 0].long(), flips[:, 1].long()]
    for i, (t, lc, h, w, *flip) in enumerate(torch.stack(columns, 1).tolist()):
        window = x[i:i + 1, :, t:t + h, lc:lc + w]
        y = F.interpolate(window, size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        mirror = [d for d, f in zip((-2, -1), flip) if f]
        out[i] = y.flip(mirror) if mirror else y
    return out


def resize_shorter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size`` (other side rounded), bilinear, antialiased.

    Uses ``F.interpolate(mode="bilinear", align_corners=False, antialias=True)``: when shrinking,
    the bilinear (triangle) kernel is widened by the scale factor.

    Parameters
    ----------
    x : torch.Tensor
        Float N x C x H x W (a working batch on [0, 1]).
    size : int
        The shorter side of the output.

    Returns
    -------
    torch.Tensor
        N x C x H' x W' in ``x``'s dtype, or ``x`` itself if its shorter side already equals
        ``size``.
    """
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    scale = size / min(h, w)
    out_size = (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)
    return F.interpolate(x, size=out_size, mode="bilinear", align_corners=False, antialias=True)

