"""Pure kernels: each takes a working batch and explicit parameters, draws nothing random.

A *working batch* is a float tensor N x C x H x W with values on the [0, 1] scale (float32, or
float64 when the input was float64); :func:`to_working` / :func:`from_working` convert once per
pipeline call, so uint8 images are converted to float once, not once per transform.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .geometry import Radial, sampling_grid, supersample_factor

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
    """Resample ``x`` (N x C x H x W float) once through a chain of backward stages.

    ``stages`` are N x 3 x 3 backward matrices and :class:`~augkit.geometry.Radial` stages in
    centred pixel coordinates (see :mod:`augkit.geometry`). Interpolation is
    ``grid_sample(mode=interpolation, align_corners=False)`` ("bilinear" or "nearest"); outside
    the image ``fill`` = "zeros" | "border" (edge pixel) | "reflect" (mirror at the edges).
    When the affine part shrinks by a factor ``f > 1`` (source pixels per output pixel),
    each output pixel is the mean of ``k x k`` interpolated samples at its sub-pixel centres,
    ``k = ceil(f)`` for the whole batch (a box filter over the output pixel's footprint).
    Returns N x C x out_h x out_w in ``x``'s dtype.
    """
    k = supersample_factor(stages)
    grid = sampling_grid(stages, x.shape[0], out_size, tuple(x.shape[-2:]), k, x.dtype, x.device)
    out = F.grid_sample(x, grid, mode=interpolation, padding_mode=_PADDING[fill], align_corners=False)
    if k == 1:
        return out
    # The k*k sub-pixel samples are stacked blocks of rows: averaging them is a plain mean.
    return out.view(x.shape[0], x.shape[1], k * k, *out_size).mean(dim=2)


def hflip(x: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the samples where ``apply`` (bool, shape N) is True; exact."""
    return torch.where(apply[:, None, None, None], x.flip(-1), x)


def vflip(x: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """Mirror top-bottom the samples where ``apply`` (bool, shape N) is True; exact."""
    return torch.where(apply[:, None, None, None], x.flip(-2), x)


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
