"""Fused geometry: per-sample 3x3 backward maps, radial lens maps and one sampling grid.

Coordinate convention (the one ``grid_sample(..., align_corners=False)`` uses): pixel ``j`` of a
row of width ``W`` covers ``[j, j + 1)`` and its centre is at ``x = j + 0.5``. Every matrix here
works in *centred pixel coordinates* of its own image, ``(x - W/2, y - H/2)``, x to the right and
y DOWN, and maps a point of the transform's OUTPUT image to the point of its INPUT image that it
samples (a backward map). A pipeline ``T1, ..., Tk`` therefore samples its source at
``M1 @ M2 @ ... @ Mk @ p_out``: matrices compose by one batched matmul per transform, and the
image is resampled once.

A lens distortion is not affine: it is a :class:`Radial` stage that maps normalised coordinates
``u = x_c / (W/2), v = y_c / (H/2)`` (so the image spans [-1, 1] on both axes) radially,
``r_src = r (1 + k1 r^2 + k2 r^4)``. :func:`sampling_grid` applies the stages in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

Size = tuple[int, int]


class Radial(NamedTuple):
    """A radial lens stage: per-sample ``k1``, ``k2`` (shape N) in a frame of ``size = (h, w)``."""

    k1: torch.Tensor
    k2: torch.Tensor
    size: Size


def _eye(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.eye(3, dtype=dtype, device=device).expand(n, 3, 3).clone()


def linear_matrix(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """N x 3 x 3 matrices ``[[a, b, 0], [c, d, 0], [0, 0, 1]]`` from four tensors of shape N."""
    m = _eye(a.shape[0], a.dtype, a.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a, b, c, d
    return m


def flip_matrix(horizontal: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """Backward map of per-sample flips (bool tensors of shape N): ``x -> -x`` and/or ``y -> -y``."""
    sx, sy = 1 - 2 * horizontal.double(), 1 - 2 * vertical.double()
    return linear_matrix(sx, torch.zeros_like(sx), torch.zeros_like(sx), sy)


def rotation_matrix(degrees: torch.Tensor) -> torch.Tensor:
    """Backward map of a rotation about the image centre by ``degrees`` (shape N, float64).

    Positive angles turn the content counter-clockwise as displayed (y down), like torchvision.
    """
    t = torch.deg2rad(degrees.double())
    c, s = torch.cos(t), torch.sin(t)
    return linear_matrix(c, -s, s, c)


def shear_matrix(x_degrees: torch.Tensor, y_degrees: torch.Tensor) -> torch.Tensor:
    """Backward map of an x-shear ``x += tan(ax) y`` followed by a y-shear ``y += tan(ay) x``."""
    tx, ty = torch.tan(torch.deg2rad(x_degrees.double())), torch.tan(torch.deg2rad(y_degrees.double()))
    one, zero = torch.ones_like(tx), torch.zeros_like(tx)
    # Forward F = Sy @ Sx, so backward = Sx^-1 @ Sy^-1, invertible for every |angle| < 90.
    return linear_matrix(one, -tx, zero, one) @ linear_matrix(one, zero, -ty, one)


def stretch_matrix(x_scale: torch.Tensor, y_scale: torch.Tensor) -> torch.Tensor:
    """Backward map of scaling x by ``x_scale`` and y by ``y_scale`` about the centre."""
    zero = torch.zeros_like(x_scale.double())
    return linear_matrix(1 / x_scale.double(), zero, zero, 1 / y_scale.double())


def translation_matrix(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Backward map of moving the content by ``(dx, dy)`` pixels (x right, y down)."""
    m = _eye(dx.shape[0], torch.float64, dx.device)
    m[:, 0, 2], m[:, 1, 2] = -dx.double(), -dy.double()
    return m


def scale_crop_matrix(in_size: Size, scaled_size: torch.Tensor, top: torch.Tensor,
                      left: torch.Tensor, out_size: Size) -> torch.Tensor:
    """Backward map of "resize to ``scaled_size`` (N x 2: h, w), then crop at ``(top, left)``".

    The crop window is expressed directly in source coordinates, so only that window is
    resampled: output pixel centre ``x`` (crop frame) sits at ``x + left`` in the rescaled image,
    i.e. at ``(x + left) * W / W_scaled`` in the source.
    """
    (h_in, w_in), (h_out, w_out) = in_size, out_size
    sy, sx = h_in / scaled_size[:, 0].double(), w_in / scaled_size[:, 1].double()
    m = linear_matrix(sx, torch.zeros_like(sx), torch.zeros_like(sx), sy)
    m[:, 0, 2] = sx * (w_out / 2 + left.double()) - w_in / 2
    m[:, 1, 2] = sy * (h_out / 2 + top.double()) - h_in / 2
    return m


def radial_map(x: torch.Tensor, y: torch.Tensor, stage: Radial) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``r_src = r (1 + k1 r^2 + k2 r^4)`` to centred pixel coordinates of ``stage.size``.

    ``x``, ``y``: tensors broadcastable to N x ... (N leading); returns the mapped pair.
    """
    h, w = stage.size
    u, v = x / (w / 2), y / (h / 2)
    r2 = u * u + v * v
    shape = (-1,) + (1,) * (r2.dim() - 1)
    k1, k2 = stage.k1.to(r2.dtype).view(shape), stage.k2.to(r2.dtype).view(shape)
    factor = 1 + r2 * (k1 + k2 * r2)
    return u * factor * (w / 2), v * factor * (h / 2)


def downscale_factor(stages: Sequence[torch.Tensor | Radial]) -> float:
    """Largest source-pixels-per-output-pixel of the affine part over the batch (lens ignored).

    It sets the supersampling factor ``k = ceil(factor)`` used for antialiasing.
    """
    total = None
    for stage in stages:
        if isinstance(stage, torch.Tensor):
            total = stage if total is None else total @ stage
    if total is None or total.shape[0] == 0:
        return 1.0
    # The Jacobian's column norms: how far one output pixel step moves in the source, per axis.
    return float(total[:, :2, :2].norm(dim=1).max())


def _apply_affine(m: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y) -> m[:2, :2] (x, y) + m[:2, 2]`` per sample (m: N x 3 x 3), broadcasting."""
    c = [m[:, i, j].to(x.dtype).view(-1, 1, 1, 1) for i in range(2) for j in range(3)]
    return c[0] * x + (c[1] * y + c[2]), c[3] * x + (c[4] * y + c[5])


def sampling_grid(stages: Sequence[torch.Tensor | Radial], n: int, out_size: Size,
                  in_size: Size, supersample: int = 1, dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """The ``grid_sample`` grid N x (k*k*h) x w x 2 of a chain of backward stages.

    ``stages`` are in pipeline order (the first transform's stage first), so an output point
    maps to ``S1(S2(...Sk(p)))``: matrices of consecutive stages are multiplied (float64) and
    applied to the points once; a :class:`Radial` stage is applied to the points in between.
    With ``supersample = k`` every output pixel gets ``k x k`` points at the centres of its
    ``k x k`` sub-pixels, laid out as ``k*k`` stacked copies of the h x w grid (sub-pixel
    ``(a, b)`` in block ``a k + b``); the mean over the blocks is a box filter of one output
    pixel's footprint, which antialiases downscaling.
    """
    (h_out, w_out), (h_in, w_in), k = out_size, in_size, supersample
    sub = (torch.arange(k, dtype=dtype, device=device) + 0.5) / k
    # Separable start: x is 1 x (k*k) x 1 x w, y is 1 x (k*k) x h x 1; affine maps broadcast
    # them to N x (k*k) x h x w in two fused multiply-adds per coordinate.
    x = (torch.arange(w_out, dtype=dtype, device=device) - w_out / 2 + sub.repeat(k)[:, None])[None, :, None, :]
    y = (torch.arange(h_out, dtype=dtype, device=device) - h_out / 2
         + sub.repeat_interleave(k)[:, None])[None, :, :, None]
    pending = None  # product of the matrices met since the last materialisation
    for stage in reversed(stages):
        if isinstance(stage, torch.Tensor):
            stage = stage.to(device=device, dtype=torch.float64)
            pending = stage if pending is None else stage @ pending
            continue
        if pending is not None:
            x, y = _apply_affine(pending, x, y)
            pending = None
        x, y = radial_map(x, y, stage)
    # Centred source pixels -> grid_sample's [-1, 1] (align_corners=False: the image edges).
    to_grid = torch.diag(torch.tensor([2 / w_in, 2 / h_in, 1.0], dtype=torch.float64, device=device))[None]
    final = (to_grid if pending is None else to_grid @ pending).expand(n, 3, 3)
    c = [final[:, i, j].to(dtype).view(-1, 1, 1, 1) for i in range(2) for j in range(3)]
    # Write both coordinates straight into the interleaved grid (no stack copy).
    grid = torch.empty(n, k * k, h_out, w_out, 2, dtype=dtype, device=device)
    torch.add(c[0] * x, c[1] * y + c[2], out=grid[..., 0])
    torch.add(c[3] * x, c[4] * y + c[5], out=grid[..., 1])
    return grid.view(n, k * k * h_out, w_out, 2)


def footprint(stages: Sequence[torch.Tensor | Radial], out_size: Size, in_size: Size,
              supersample: int = 1) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-sample range of source pixel indices a resampling can read, or None (lens stages).

    Returns ``(low, high)``, int64 N x 2 (row, column), inclusive and NOT clipped to the image:
    every bilinear/nearest tap of every (sub-)sample point of the affine chain lies in
    ``[low, high]``. An affine map sends the corner points of the output grid to the extremes
    of all its points, so four points per sample suffice.
    """
    if not stages or any(isinstance(stage, Radial) for stage in stages):
        return None
    total = stages[0].double()
    for stage in stages[1:]:
        total = total @ stage.double()
    (h_out, w_out), (h_in, w_in), k = out_size, in_size, supersample
    kw = {"dtype": torch.float64, "device": total.device}
    # Outermost sub-pixel centres of the output, centred coordinates.
    xs = torch.tensor([-w_out / 2 + 0.5 / k, w_out / 2 - 0.5 / k], **kw).repeat(2)
    ys = torch.tensor([-h_out / 2 + 0.5 / k, h_out / 2 - 0.5 / k], **kw).repeat_interleave(2)
    # Source positions in pixel-index units (pixel j's centre at j), per corner.
    src_x = total[:, 0, :1] * xs + total[:, 0, 1:2] * ys + total[:, 0, 2:] + (w_in / 2 - 0.5)
    src_y = total[:, 1, :1] * xs + total[:, 1, 1:2] * ys + total[:, 1, 2:] + (h_in / 2 - 0.5)
    low = torch.stack([src_y.amin(1), src_x.amin(1)], 1).floor()
    high = torch.stack([src_y.amax(1), src_x.amax(1)], 1).floor() + 1
    return low.long(), high.long()


def supersample_factor(stages: Sequence[torch.Tensor | Radial]) -> int:
    """``ceil`` of :func:`downscale_factor`, tolerant to float noise (1 + 1e-6 stays 1)."""
    return max(1, math.ceil(downscale_factor(stages) - 1e-6))
