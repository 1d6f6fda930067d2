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
``r_src = r (1 + k1 r^2 + k2 r^4)``.

A fused run is a list of :class:`Step` (one per geometric transform: its backward map, the size
of the frame it samples and its fill) in pipeline order. Fill is handled *in each transform's own
input frame*, as applying the transforms one after another would: a point that a rotation moves
outside the crop it rotates is filled, while the taps of a scale-crop whose window lies inside
the image clamp at the image edge (a resize never fills). :func:`sampling_points` returns the
source points for ``grid_sample(padding_mode="border")`` and, per zero-filled step, the coverage
of each point: for bilinear sampling ``clamp(W/2 + 1/2 - |x|, 0, 1)`` per axis, which is exactly
the weight that zero padding gives the in-image taps, and for nearest sampling whether the pixel
the point rounds to (half to even, as ``grid_sample`` rounds) lies in the frame; so
``border sample x coverage`` equals zero-padded sampling in that frame, points on its edge
included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

#: An image size ``(height, width)`` in pixels.
Size = tuple[int, int]


class Radial(NamedTuple):
    """A radial lens stage: ``r_src = r (1 + k1 r^2 + k2 r^4)`` per sample (see :func:`radial_map`).

    Parameters
    ----------
    k1, k2 : torch.Tensor
        Float N: each sample's coefficients.
    size : (int, int)
        ``(h, w)`` of the frame the map works in.
    """

    k1: torch.Tensor
    k2: torch.Tensor
    size: Size


def _eye(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.eye(3, dtype=dtype, device=device).expand(n, 3, 3).clone()


def linear_matrix(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per-sample linear maps as 3 x 3 matrices ``[[a, b, 0], [c, d, 0], [0, 0, 1]]``.

    Parameters
    ----------
    a, b, c, d : torch.Tensor
        Float N each: the entries of the 2 x 2 part.

    Returns
    -------
    torch.Tensor
        N x 3 x 3 in ``a``'s dtype and device.
    """
    m = _eye(a.shape[0], a.dtype, a.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a, b, c, d
    return m


def flip_matrix(horizontal: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """Backward map of per-sample flips: ``x -> -x`` and/or ``y -> -y``.

    Parameters
    ----------
    horizontal, vertical : torch.Tensor
        bool N: the samples mirrored left-right, and top-bottom.

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3.
    """
    sx, sy = 1 - 2 * horizontal.double(), 1 - 2 * vertical.double()
    return linear_matrix(sx, torch.zeros_like(sx), torch.zeros_like(sx), sy)


def rotation_matrix(degrees: torch.Tensor) -> torch.Tensor:
    """Backward map of a rotation about the image centre by ``degrees`` (shape N, float64).

    Positive angles turn the content counter-clockwise as displayed (y down), like torchvision.

    Parameters
    ----------
    degrees : torch.Tensor
        Float N: each sample's angle.

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3.
    """
    t = torch.deg2rad(degrees.double())
    c, s = torch.cos(t), torch.sin(t)
    return linear_matrix(c, -s, s, c)


def shear_matrix(x_degrees: torch.Tensor, y_degrees: torch.Tensor) -> torch.Tensor:
    """Backward map of an x-shear ``x += tan(ax) y`` followed by a y-shear ``y += tan(ay) x``.

    Parameters
    ----------
    x_degrees, y_degrees : torch.Tensor
        Float N: the angles ``ax`` and ``ay`` in degrees, inside (-90, 90).

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3.
    """
    tx, ty = torch.tan(torch.deg2rad(x_degrees.double())), torch.tan(torch.deg2rad(y_degrees.double()))
    one, zero = torch.ones_like(tx), torch.zeros_like(tx)
    # Forward F = Sy @ Sx, so backward = Sx^-1 @ Sy^-1, invertible for every |angle| < 90.
    return linear_matrix(one, -tx, zero, one) @ linear_matrix(one, zero, -ty, one)


def stretch_matrix(x_scale: torch.Tensor, y_scale: torch.Tensor) -> torch.Tensor:
    """Backward map of scaling x by ``x_scale`` and y by ``y_scale`` about the centre.

    Parameters
    ----------
    x_scale, y_scale : torch.Tensor
        Float N: the factors, > 0.

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3.
    """
    zero = torch.zeros_like(x_scale.double())
    return linear_matrix(1 / x_scale.double(), zero, zero, 1 / y_scale.double())


def translation_matrix(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Backward map of moving the content by ``(dx, dy)`` pixels (x right, y down).

    Parameters
    ----------
    dx, dy : torch.Tensor
        Float N: the shifts in pixels.

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3.
    """
    m = _eye(dx.shape[0], torch.float64, dx.device)
    m[:, 0, 2], m[:, 1, 2] = -dx.double(), -dy.double()
    return m


def scale_crop_matrix(in_size: Size, scaled_size: torch.Tensor, top: torch.Tensor,
                      left: torch.Tensor, out_size: Size) -> torch.Tensor:
    """Backward map of "resize to ``scaled_size``, then crop at ``(top, left)``".

    The crop window is expressed directly in source coordinates, so only that window is
    resampled: output pixel centre ``x`` (crop frame) sits at ``x + left`` in the rescaled image,
    i.e. at ``(x + left) * W / W_scaled`` in the source.

    Parameters
    ----------
    in_size : (int, int)
        ``(H, W)`` of the source image.
    scaled_size : torch.Tensor
        N x 2: each sample's resized ``(h, w)``.
    top, left : torch.Tensor
        N: the window's corner in the resized image.
    out_size : (int, int)
        ``(h, w)`` of the window.

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3.
    """
    (h_in, w_in), (h_out, w_out) = in_size, out_size
    sy, sx = h_in / scaled_size[:, 0].double(), w_in / scaled_size[:, 1].double()
    m = linear_matrix(sx, torch.zeros_like(sx), torch.zeros_like(sx), sy)
    m[:, 0, 2] = sx * (w_out / 2 + left.double()) - w_in / 2
    m[:, 1, 2] = sy * (h_out / 2 + top.double()) - h_in / 2
    return m


def radial_map(x: torch.Tensor, y: torch.Tensor, stage: Radial) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``r_src = r (1 + k1 r^2 + k2 r^4)`` to centred pixel coordinates of ``stage.size``.

    Parameters
    ----------
    x, y : torch.Tensor
        Centred pixel coordinates, broadcastable to N x ... (N leading).
    stage : Radial
        The lens stage.

    Returns
    -------
    x, y : torch.Tensor
        The mapped coordinates.
    """
    h, w = stage.size
    u, v = x / (w / 2), y / (h / 2)
    r2 = u * u + v * v
    shape = (-1,) + (1,) * (r2.dim() - 1)
    k1, k2 = stage.k1.to(r2.dtype).view(shape), stage.k2.to(r2.dtype).view(shape)
    factor = 1 + r2 * (k1 + k2 * r2)
    return u * factor * (w / 2), v * factor * (h / 2)


def _apply_affine(m: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y) -> m[:2, :2] (x, y) + m[:2, 2]`` per sample (m: N x 3 x 3), broadcasting."""
    c = [m[:, i, j].to(x.dtype).view(-1, 1, 1, 1) for i in range(2) for j in range(3)]
    return c[0] * x + (c[1] * y + c[2]), c[3] * x + (c[4] * y + c[5])


class Step(NamedTuple):
    """One geometric transform of a fused run.

    Parameters
    ----------
    map : torch.Tensor or Radial
        Its per-sample backward map (float N x 3 x 3 matrix, or a lens stage) from its output
        frame to its input frame.
    in_size : (int, int)
        That input frame's ``(h, w)``.
    fill : {"zeros", "border", "reflect"} or None
        What points that leave the input frame sample, or None when none can (a flip, or a
        window that lies inside its input: its taps clamp at the edge like a resize's).
    """

    map: torch.Tensor | Radial
    in_size: Size
    fill: str | None


def affine_total(steps: Sequence[Step]) -> torch.Tensor | None:
    """The product of the steps' matrices in pipeline order; lens steps are skipped.

    Parameters
    ----------
    steps : sequence of Step
        A run.

    Returns
    -------
    torch.Tensor or None
        float64 N x 3 x 3, or None when the run holds no matrix.
    """
    total = None
    for step in steps:
        if isinstance(step.map, torch.Tensor):
            m = step.map.double()
            total = m if total is None else total @ m
    return total


def supersample_factors(total: torch.Tensor) -> torch.Tensor:
    """Per sample, the sub-samples per output pixel along y and x.

    The columns ``J e_x``, ``J e_y`` of the backward map's linear part J step from one output
    pixel to the next in the source. The samples of one output row
    lie on a line along ``J e_x``; consecutive rows are ``|det J| / |J e_x|`` source pixels apart,
    and consecutive columns ``|det J| / |J e_y|``. The map minifies along y (x) when that
    spacing exceeds one source pixel, and ``k = ceil(spacing)`` sub-samples bring it back under
    one. Rotations and shears keep the spacings at 1 (a shear slides rows along themselves), so
    they are never supersampled; a scale-crop of a window twice the output gets 2 x 2.

    Parameters
    ----------
    total : torch.Tensor
        Float N x 3 x 3 backward map (output pixel -> source pixel), e.g. :func:`affine_total`.

    Returns
    -------
    torch.Tensor
        int64 N x 2: ``(k_y, k_x)``.
    """
    jac = total[:, :2, :2]
    det = torch.linalg.det(jac).abs()
    spacing = torch.stack([det / jac[:, :, 0].norm(dim=1), det / jac[:, :, 1].norm(dim=1)], 1)
    # 1 + 1e-6 stays 1: float noise of a composed identity must not double the work.
    return (spacing - 1e-6).ceil().clamp_(min=1).long()


def exact_samples(steps: Sequence[Step], n: int) -> torch.Tensor:
    """The samples on which every step is the identity or an axis flip.

    Their output is their input re-indexed: no resampling, no fill.

    Parameters
    ----------
    steps : sequence of Step
        A run.
    n : int
        N, the samples.

    Returns
    -------
    torch.Tensor
        bool N, on the CPU.
    """
    exact = torch.ones(n, dtype=torch.bool)
    matrices = [s.map for s in steps if isinstance(s.map, torch.Tensor)]
    if matrices:
        # |m| equals [[1, 0, 0], [0, 1, 0]] exactly: diagonal +-1, no shear, no translation.
        top = torch.stack(matrices).to("cpu", torch.float64)[:, :, :2, :].abs_()
        exact &= (top == torch.eye(2, 3, dtype=torch.float64)).flatten(-2).all(-1).all(0)
    for step in steps:
        if isinstance(step.map, Radial):
            exact &= (step.map.k1 == 0).cpu() & (step.map.k2 == 0).cpu()
    return exact


def _select(step: Step, index: torch.Tensor) -> Step:
    if isinstance(step.map, Radial):
        return step._replace(map=Radial(step.map.k1[index], step.map.k2[index], step.map.size))
    return step._replace(map=step.map[index])


def select_samples(steps: Sequence[Step], index: torch.Tensor) -> list[Step]:
    """The steps restricted to some of their samples.

    Parameters
    ----------
    steps : sequence of Step
        A run.
    index : torch.Tensor
        int64: the samples to keep.

    Returns
    -------
    list of Step
        The same steps, with their maps of those samples only.
    """
    return [_select(step, index) for step in steps]


def _fold(x: torch.Tensor, half: float, fill: str) -> torch.Tensor:
    """Map coordinates of one axis (centred, frame ``[-half, half]``) back into the frame the way
    ``grid_sample``'s border / reflection padding does: clamp to the edge pixels' centres, or
    mirror at the edges (period ``4 half``) and then clamp."""
    if fill == "reflect":
        x = half - (torch.remainder(x + half, 4 * half) - 2 * half).abs()
    return x.clamp(-half + 0.5, half - 0.5)


def _coverage(x: torch.Tensor, y: torch.Tensor, size: Size, kind: str) -> torch.Tensor:
    """Coverage of points (x, y) by a frame of ``size``, as zero padding weighs them (see the module
    docstring). ``kind``: "bilinear", the weight of a bilinear sample's in-frame taps; "nearest",
    1 where the pixel the point rounds to lies in the frame; "box", 1 inside the closed frame and 0
    outside (sub-samples, whose average is then the box filter of the frame's edge)."""
    h, w = size
    if kind == "nearest":
        # grid_sample's nearest pixel index, ties to even: a point on the frame's edge is inside
        # exactly when zero-padded nearest sampling reads a pixel of the frame there.
        col, row = torch.round(x + (w - 1) / 2), torch.round(y + (h - 1) / 2)
        return ((col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)).to(x.dtype)
    if kind == "box":
        return ((x.abs() <= w / 2) & (y.abs() <= h / 2)).to(x.dtype)
    # In place on the caller's fresh point tensors: w/2 + 1/2 - |x|, clamped, per axis.
    cx = x.abs_().neg_().add_(w / 2 + 0.5).clamp_(0, 1)
    return cx.mul_(y.abs_().neg_().add_(h / 2 + 0.5).clamp_(0, 1))


def sampling_points(steps: Sequence[Step], n: int, out_size: Size, in_size: Size,
                    supersample: tuple[int, int] = (1, 1), interpolation: str = "bilinear",
                    dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
                    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """The ``grid_sample`` grid of a run of steps and the coverage of its zero-filled steps.

    An output point maps to the source through the steps' backward maps, last step first; the
    matrices of consecutive steps are multiplied (float64) and applied to the points only where a
    step needs the points in its own input frame: a lens map, or a fill (coverage for "zeros",
    folding back into the frame for "border" / "reflect"). With ``supersample = (k_y, k_x)``
    every output pixel gets ``k_y x k_x`` points at the centres of its sub-pixels, laid out as
    ``k_y k_x`` stacked copies of the h x w grid (sub-pixel ``(a, b)`` in block ``a k_x + b``).

    Parameters
    ----------
    steps : sequence of Step
        The run, in pipeline order.
    n : int
        N, the samples.
    out_size : (int, int)
        ``(h, w)`` of the output.
    in_size : (int, int)
        ``(H, W)`` of the source.
    supersample : (int, int)
        ``(k_y, k_x)``: sub-samples per output pixel.
    interpolation : {"bilinear", "nearest"}
        The sampling the coverage is computed for.
    dtype : torch.dtype
        The points' float dtype.
    device : torch.device or str
        Where the points are computed.

    Returns
    -------
    grid : torch.Tensor
        N x (S h) x w x 2, S = k_y k_x: the source points, ``in_size`` normalised to [-1, 1],
        for ``padding_mode="border"``.
    coverage : dict of int to torch.Tensor
        Step index -> N x S x h x w weights in [0, 1] for each step with fill "zeros" (soft for
        one bilinear point per pixel, as zero padding would weigh it; 0 or 1 for nearest and for
        sub-samples, whose mean is the box filter of the frame's edge).
    """
    (h_out, w_out), (ky, kx) = out_size, supersample
    sub_x = (torch.arange(kx, dtype=dtype, device=device) + 0.5) / kx
    sub_y = (torch.arange(ky, dtype=dtype, device=device) + 0.5) / ky
    # Separable start: x is 1 x S x 1 x w, y is 1 x S x h x 1; affine maps broadcast them to
    # N x S x h x w in two fused multiply-adds per coordinate.
    x = (torch.arange(w_out, dtype=dtype, device=device) - w_out / 2 + sub_x.repeat(ky)[:, None])[None, :, None, :]
    y = (torch.arange(h_out, dtype=dtype, device=device) - h_out / 2
         + sub_y.repeat_interleave(kx)[:, None])[None, :, :, None]
    pending = None  # product of the matrices met since the points were last materialised
    coverage: dict[int, torch.Tensor] = {}
    kind = "box" if supersample != (1, 1) else interpolation
    for index in reversed(range(len(steps))):
        step = steps[index]
        if isinstance(step.map, torch.Tensor):
            m = step.map.to(device=device, dtype=torch.float64)
            pending = m if pending is None else m @ pending
        if step.fill is None and isinstance(step.map, torch.Tensor):
            continue
        if step.fill == "zeros" and isinstance(step.map, torch.Tensor):
            # Coverage only reads the points, so they need not be materialised for it: the
            # mapped points are a sum of a row and a column term (one full-size op each).
            px, py = _apply_affine(pending, x, y)
            coverage[index] = _coverage(px, py, step.in_size, kind).expand(n, -1, h_out, w_out)
            continue
        if pending is not None:
            x, y = _apply_affine(pending, x, y)
            pending = None
        if isinstance(step.map, Radial):
            x, y = radial_map(x, y, step.map)
        if step.fill == "zeros":
            coverage[index] = _coverage(x.clone(), y.clone(), step.in_size, kind).expand(n, -1, h_out, w_out)
        elif step.fill is not None:
            x, y = _fold(x, step.in_size[1] / 2, step.fill), _fold(y, step.in_size[0] / 2, step.fill)
    # Centred source pixels -> grid_sample's [-1, 1] (align_corners=False: the image edges).
    h_in, w_in = in_size
    to_grid = torch.diag(torch.tensor([2 / w_in, 2 / h_in, 1.0], dtype=torch.float64, device=device))[None]
    final = (to_grid if pending is None else to_grid @ pending).expand(n, 3, 3)
    c = [final[:, i, j].to(dtype).view(-1, 1, 1, 1) for i in range(2) for j in range(3)]
    # Write both coordinates straight into the interleaved grid (no stack copy).
    grid = torch.empty(n, ky * kx, h_out, w_out, 2, dtype=dtype, device=device)
    torch.add(c[0] * x, c[1] * y + c[2], out=grid[..., 0])
    torch.add(c[3] * x, c[4] * y + c[5], out=grid[..., 1])
    return grid.view(n, ky * kx * h_out, w_out, 2), coverage


def footprint(steps: Sequence[Step], out_size: Size, in_size: Size, supersample: tuple[int, int] = (1, 1)
              ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-sample range of source pixel indices a resampling can read, or None.

    An affine map sends the corner points of the output grid to the extremes of all its points,
    so four points per sample suffice.

    Parameters
    ----------
    steps : sequence of Step
        The run, in pipeline order.
    out_size : (int, int)
        ``(h, w)`` of the output.
    in_size : (int, int)
        ``(H, W)`` of the source.
    supersample : (int, int)
        ``(k_y, k_x)``: sub-samples per output pixel.

    Returns
    -------
    (low, high) or None
        int64 N x 2 each (row, column), inclusive and NOT clipped to the image: every
        bilinear/nearest tap of every (sub-)sample point of the affine chain lies in
        ``[low, high]``. None when a step is a lens map or folds points back into a frame
        (border / reflect fill): those points are not affine images of the output grid.
    """
    if not steps or any(isinstance(s.map, Radial) or s.fill in ("border", "reflect") for s in steps):
        return None
    total = affine_total(steps)
    (h_out, w_out), (h_in, w_in), (ky, kx) = out_size, in_size, supersample
    kw = {"dtype": torch.float64, "device": total.device}
    # Outermost sub-pixel centres of the output, centred coordinates.
    xs = torch.tensor([-w_out / 2 + 0.5 / kx, w_out / 2 - 0.5 / kx], **kw).repeat(2)
    ys = torch.tensor([-h_out / 2 + 0.5 / ky, h_out / 2 - 0.5 / ky], **kw).repeat_interleave(2)
    # Source positions in pixel-index units (pixel j's centre at j), per corner.
    src_x = total[:, 0, :1] * xs + total[:, 0, 1:2] * ys + total[:, 0, 2:] + (w_in / 2 - 0.5)
    src_y = total[:, 1, :1] * xs + total[:, 1, 1:2] * ys + total[:, 1, 2:] + (h_in / 2 - 0.5)
    low = torch.stack([src_y.amin(1), src_x.amin(1)], 1).floor()
    high = torch.stack([src_y.amax(1), src_x.amax(1)], 1).floor() + 1
    return low.long(), high.long()
