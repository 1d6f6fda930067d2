"""Pure kernels: each takes a working batch and explicit parameters, draws nothing random.

A *working batch* is a float tensor N x C x H x W with values on the [0, 1] scale (float32, or
float64 when the input was float64); :func:`to_working` / :func:`from_working` convert once per
pipeline call, so uint8 images are converted to float once, not once per transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .geometry import Radial, footprint, sampling_grid, supersample_factor

_PADDING = {"zeros": "zeros", "border": "border", "reflect": "reflection"}


def to_working(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1] (``x / 255`` correctly rounded); float16/bfloat16 ->
    float32; float32/64 unchanged (the input itself, not a copy)."""
    if x.dtype == torch.uint8:
        # A plain cast then an in-place divide: the mixed-dtype ``x * (1 / 255)`` takes a slow
        # non-vectorised CPU path (about 10x slower on a 1024 x 3 x 32 x 32 batch).
        return x.to(torch.float32).div_(255)
    if x.dtype in (torch.float32, torch.float64):
        return x
    return x.to(torch.float32)


def from_working(x: torch.Tensor, dtype: torch.dtype, clamp: bool = True,
                 inplace: bool = False) -> torch.Tensor:
    """Back to ``dtype``: uint8 rounds ``255 x`` to nearest; ``clamp`` keeps floats in [0, 1].

    ``inplace=True`` lets it overwrite ``x`` (a pipeline's own intermediate), which saves a
    batch-sized allocation; the result is the same.
    """
    if dtype == torch.uint8:
        return (x.mul_(255) if inplace else x.mul(255)).round_().clamp_(0, 255).to(torch.uint8)
    if clamp:
        x = x.clamp_(0, 1) if inplace else x.clamp(0, 1)
    return x.to(dtype)


def warp(x: torch.Tensor, stages: Sequence[torch.Tensor | Radial], out_size: tuple[int, int],
         interpolation: str = "bilinear", fill: str = "zeros") -> torch.Tensor:
    """Resample ``x`` (N x C x H x W, float on [0, 1] or uint8) once through backward stages.

    ``stages`` are N x 3 x 3 backward matrices and :class:`~augkit.geometry.Radial` stages in
    centred pixel coordinates (see :mod:`augkit.geometry`). Interpolation is
    ``grid_sample(mode=interpolation, align_corners=False)`` ("bilinear" or "nearest"); outside
    the image ``fill`` = "zeros" | "border" (edge pixel) | "reflect" (mirror at the edges).
    When the affine part shrinks by a factor ``f > 1`` (source pixels per output pixel),
    each output pixel is the mean of ``k x k`` interpolated samples at its sub-pixel centres,
    ``k = ceil(f)`` for the whole batch (a box filter over the output pixel's footprint).
    On large images only each sample's window is resampled (same result, see
    :func:`_crop_to_footprint`), and uint8 is converted to float inside that window only.
    Returns N x C x out_h x out_w in ``x``'s float dtype (float32 for uint8).
    """
    k = supersample_factor(stages)
    x, stages = _crop_to_footprint(x, stages, out_size, k, fill)
    x = to_working(x)
    grid = sampling_grid(stages, x.shape[0], out_size, tuple(x.shape[-2:]), k, x.dtype, x.device)
    out = F.grid_sample(x, grid, mode=interpolation, padding_mode=_PADDING[fill], align_corners=False)
    if k == 1:
        return out
    # The k*k sub-pixel samples are stacked blocks of rows: averaging them is a plain mean.
    return out.view(x.shape[0], x.shape[1], k * k, *out_size).mean(dim=2)


def _crop_to_footprint(x: torch.Tensor, stages: list, out_size: tuple[int, int], k: int,
                       fill: str) -> tuple[torch.Tensor, list]:
    """Cut each sample down to the window its resampling reads, when that saves work.

    When the batch's largest window (see :func:`augkit.geometry.footprint`) covers at most 3/4
    of the image, every sample's window of that common size is copied out (one slice copy per
    sample: a loop of N Python steps, worth it only for large images, which is when windows
    are small relative to the image) and a translation stage re-expresses the sampling points
    in window coordinates. The window keeps every pixel a tap can read and, where points fall
    outside the image, touches that image edge, so zeros/border fills give the same result;
    "reflect" is windowed only when no tap leaves the image. A uint8 batch comes back as float32
    windows on [0, 1]. Returns ``(x, stages)``.
    """
    h, w = x.shape[-2:]
    span = footprint(stages, out_size, (h, w), k)
    if span is None or x.shape[0] == 0:
        return x, stages
    low, high = span
    limit = torch.tensor([h - 1, w - 1], device=low.device)
    if fill == "reflect" and (bool((low < 0).any()) or bool((high > limit).any())):
        return x, stages
    # One pixel of margin: the float32 grid may round a point across a pixel border.
    low = (low - 1).clamp(min=0).minimum(limit)
    high = (high + 1).minimum(limit).maximum(low)
    wh, ww = (high - low + 1).amax(0).tolist()
    if 4 * wh * ww > 3 * h * w:
        return x, stages
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
    return windows, [shift, *stages]


def _mirror(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """``x.flip(dims)``, or ``x`` itself (no copy) when ``dims`` is empty."""
    return x.flip(dims) if dims else x


def _rgba_channels_last(image: torch.Tensor, mirror: list[int]) -> torch.Tensor:
    """3 x h x w uint8, flipped along the dims ``mirror`` -> 1 x 4 x h x w channels-last uint8
    (4th channel 0), the layout of interpolate's SIMD uint8 kernel. Packing the channels into
    int32 words is several times faster on CPU than a permuted copy of the uint8 planes, and
    flipping the packed words moves each pixel once."""
    words = image.to(torch.int32)
    packed = _mirror(words[0] | (words[1] << 8) | (words[2] << 16), mirror)
    return packed.view(torch.uint8).view(*image.shape[1:], 4).permute(2, 0, 1)[None]


def scale_crop_antialias(x: torch.Tensor, scaled_size: torch.Tensor, top: torch.Tensor,
                         left: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize image n to ``scaled_size[n]`` and crop ``size`` at ``(top[n], left[n])``.

    The filter is antialiased bilinear, as Pillow's and torchvision's resize: a triangle
    kernel widened by the scale factor when shrinking (plain bilinear when enlarging), image
    edges clamped (``interpolate(mode="bilinear", antialias=True, align_corners=False)``).
    The result equals resizing the whole image and then cropping, but only the part of the
    image between the corner nearest the window and the window's far side is resampled (the
    image is mirrored so that this corner is the origin, which keeps every sample position
    of the full resize). ``x``: N x C x H x W, uint8 or float on [0, 1]; ``scaled_size``:
    int64 N x 2 (h, w); ``top``, ``left``: int64 N. Returns N x C x size: for uint8 on CPU
    (C = 1 or 3) the uint8 output of the SIMD uint8 kernel, which works in fixed point and
    rounds (so may differ by one level from the float kernel); otherwise the float working
    batch (float32 for uint8 input).

    One interpolate call per sample (a loop of N Python steps): every sample has its own scale
    and window, and the kernel's cost is the pixels it touches, so batching would resample the
    union of all windows at every scale.
    """
    (n, c, h, w), (oh, ow) = x.shape, size
    simd = x.dtype == torch.uint8 and x.device.type == "cpu" and c in (1, 3)
    if x.dtype == torch.uint8 and not simd:
        x = to_working(x)
    out = torch.empty((n, c, oh, ow), dtype=x.dtype, device=x.device)
    geometry = torch.stack([scaled_size[:, 0], scaled_size[:, 1], top, left], 1).tolist()
    for i, (sh, sw, t, lc) in enumerate(geometry):
        flip_y, flip_x = 2 * t > sh - oh, 2 * lc > sw - ow
        t, lc = (sh - oh - t if flip_y else t), (sw - ow - lc if flip_x else lc)
        # Source rows/columns the window's taps can reach: centre (t + oh) * H / sh plus the
        # kernel's support max(H / sh, 1), plus one for rounding.
        rows = min(h, math.ceil((t + oh) * h / sh + max(h / sh, 1)) + 1)
        cols = min(w, math.ceil((lc + ow) * w / sw + max(w / sw, 1)) + 1)
        out_rows, out_cols = t + oh, lc + ow
        # interpolate treats an axis whose input and output sizes agree as unscaled, whatever
        # the scale factor: keep the sizes apart (an unused extra row, or an extra output row).
        if rows == out_rows and sh != h:
            rows, out_rows = (rows + 1, out_rows) if rows < h else (rows, out_rows + 1)
        if cols == out_cols and sw != w:
            cols, out_cols = (cols + 1, out_cols) if cols < w else (cols, out_cols + 1)
        mirror = [d for d, f in ((-2, flip_y), (-1, flip_x)) if f]
        image = x[i, :, h - rows:, :] if flip_y else x[i, :, :rows, :]
        image = image[:, :, w - cols:] if flip_x else image[:, :, :cols]
        image = _rgba_channels_last(image, mirror) if simd and c == 3 else _mirror(image, mirror)[None]
        y = torch.ops.aten._upsample_bilinear2d_aa(image, [out_rows, out_cols], False, sh / h, sw / w)
        out[i] = _mirror(y[0, :c, t:t + oh, lc:lc + ow], mirror)
    return out


def _flip_samples(x: torch.Tensor, apply: torch.Tensor, dim: int, inplace: bool) -> torch.Tensor:
    # Only the chosen samples are read, mirrored and written back: in place that is a third
    # of the memory traffic of torch.where(apply, x.flip(dim), x).
    out = x if inplace else x.clone()
    index = apply.nonzero().squeeze(1)
    if index.numel():
        out.index_copy_(0, index, x.index_select(0, index).flip(dim))
    return out


def hflip(x: torch.Tensor, apply: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Mirror left-right the samples where ``apply`` (bool, shape N) is True; exact.
    ``inplace=True`` overwrites ``x``."""
    return _flip_samples(x, apply, -1, inplace)


def vflip(x: torch.Tensor, apply: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Mirror top-bottom the samples where ``apply`` (bool, shape N) is True; exact.
    ``inplace=True`` overwrites ``x``."""
    return _flip_samples(x, apply, -2, inplace)


def pca_lighting(x: torch.Tensor, alpha: torch.Tensor, eigval: torch.Tensor,
                 eigvec: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """AlexNet lighting: add ``eigvec @ (alpha_n * eigval)`` to every pixel of image n; clamp.

    ``x``: N x 3 x H x W on [0, 1]; ``alpha``: N x 3; ``eigval``: 3; ``eigvec``: 3 x 3 whose
    COLUMNS are the eigenvectors (fb.resnet.torch's layout). ``inplace=True`` writes into ``x``.
    """
    offset = (alpha.to(x.dtype) * eigval.to(x.dtype)) @ eigvec.to(x.dtype).T  # row n = V (a_n * l)
    out = x if inplace else None
    return torch.add(x, offset[:, :, None, None], out=out).clamp_(0, 1)


def gaussian_noise(x: torch.Tensor, sigma: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Add ``sigma_n * z`` with ``z ~ N(0, 1)`` per pixel and channel to image n; clamp to [0, 1].

    ``sigma``: shape N; ``seed``: 0-d int64. ``z`` is drawn on ``x``'s device from a generator
    seeded with ``seed``, so the same seed gives the same noise (on the same device type).
    """
    generator = torch.Generator(device=x.device).manual_seed(int(seed))
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    # x + sigma z in one fused pass, written over z (elementwise aliasing is allowed).
    return torch.addcmul(x, z, sigma.to(x.dtype)[:, None, None, None], out=z).clamp_(0, 1)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean_c) / std_c`` per channel; the result is no longer on [0, 1]."""
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x - mean_t) / std_t


def resize_shorter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size`` (other side rounded), bilinear, antialiased.

    Uses ``F.interpolate(mode="bilinear", align_corners=False, antialias=True)``: when shrinking,
    the bilinear (triangle) kernel is widened by the scale factor. Returns ``x`` itself if the
    shorter side already equals ``size``.
    """
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    scale = size / min(h, w)
    out_size = (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)
    return F.interpolate(x, size=out_size, mode="bilinear", align_corners=False, antialias=True)


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """The same ``height x width`` window at ``(top, left)`` of every image (a view)."""
    return x[..., top:top + height, left:left + width]
