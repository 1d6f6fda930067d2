"""Geometric transforms against analytic warps of a smooth pattern, and fusion into one call."""

import math

import pytest
import torch

import augkit as A
from augkit.functional import geometry as G

H = W = 64


def pattern(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A smooth function of centred pixel coordinates, values inside [0.1, 0.9]."""
    return 0.5 + 0.4 * torch.sin(2 * math.pi * 0.8 * x / W + 0.3) * torch.cos(2 * math.pi * 0.6 * y / H)


def centred_grid():
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5 - H / 2,
                            torch.arange(W, dtype=torch.float64) + 0.5 - W / 2, indexing="ij")
    return xs, ys


def source_image(n: int) -> torch.Tensor:
    xs, ys = centred_grid()
    return pattern(xs, ys).expand(n, 1, H, W).contiguous()


def assert_matches(out: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, margin: float = 1.0):
    """out[n] ~= pattern at source points (sx[n], sy[n]) wherever those lie inside the image."""
    inside = (sx.abs() <= W / 2 - 0.5 - margin) & (sy.abs() <= H / 2 - 0.5 - margin)
    assert inside.float().mean() > 0.3
    expected = pattern(sx, sy)
    # Bilinear interpolation error of this pattern is ~ (2 pi 0.8 / 64)^2 / 8 * 0.4 < 1e-3.
    torch.testing.assert_close(out[:, 0][inside], expected[inside], atol=2e-3, rtol=0)


def inverse_forward(forward: torch.Tensor):
    """Source points of each output pixel for forward 2x2(+translation) maps, N x 3 x 3."""
    xs, ys = centred_grid()
    back = torch.linalg.inv(forward)
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1)  # H x W x 3
    src = torch.einsum("nij,hwj->nhwi", back, pts)
    return src[..., 0], src[..., 1]


def forward_matrices(rows):
    m = torch.eye(3, dtype=torch.float64).repeat(len(rows), 1, 1)
    for i, r in enumerate(rows):
        m[i, :2, :] = torch.tensor(r, dtype=torch.float64)
    return m


def rotation_forward(deg):
    # Counter-clockwise as displayed, with y pointing down.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return [[c, s, 0], [-s, c, 0]]


def shear_forward(ax, ay):
    tx, ty = math.tan(math.radians(ax)), math.tan(math.radians(ay))
    return [[1, tx, 0], [ty, 1 + ty * tx, 0]]  # y-shear after x-shear


def test_rotation_matches_the_analytic_warp():
    out, params = A.Rotate(40)(source_image(6), generator=0, return_params=True)
    fwd = forward_matrices([rotation_forward(a) for a in params["angle"].tolist()])
    assert_matches(out, *inverse_forward(fwd))


def test_rotation_turns_counter_clockwise_as_displayed():
    x = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    x[0, 0, 4, 7] = 200  # right of the centre
    out = A.Rotate((90, 90))(x)
    assert out[0, 0, 1, 4] == 200 and out.sum() == 200  # now above the centre


def test_shear_matches_the_analytic_warp():
    out, params = A.Shear(25, 25)(source_image(6), generator=1, return_params=True)
    fwd = forward_matrices([shear_forward(a, b) for a, b in
                            zip(params["x_angle"].tolist(), params["y_angle"].tolist())])
    assert_matches(out, *inverse_forward(fwd))


def test_stretch_matches_the_analytic_warp():
    out, params = A.Stretch((0.6, 1.5), (0.6, 1.5))(source_image(6), generator=2, return_params=True)
    fwd = forward_matrices([[[a, 0, 0], [0, b, 0]] for a, b in
                            zip(params["x_scale"].tolist(), params["y_scale"].tolist())])
    assert_matches(out, *inverse_forward(fwd))


def test_translation_in_fraction_and_pixels():
    out, params = A.Translate(0.2, 0.1)(source_image(4), generator=3, return_params=True)
    fwd = forward_matrices([[[1, 0, dx * W], [0, 1, dy * H]] for dx, dy in
                            zip(params["dx"].tolist(), params["dy"].tolist())])
    assert_matches(out, *inverse_forward(fwd))
    x = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    x[0, 0, 2, 2] = 255
    moved = A.Translate((2, 2), (-1, -1), unit="pixels")(x)
    assert moved[0, 0, 1, 4] == 255 and moved.sum() == 255


def test_lens_distortion_is_the_radial_formula():
    out, params = A.LensDistortion((0.1, 0.3), (-0.05, 0.05))(source_image(4), generator=4,
                                                                return_params=True)
    xs, ys = centred_grid()
    u, v = xs / (W / 2), ys / (H / 2)
    r2 = u * u + v * v
    k1, k2 = params["k1"][:, None, None], params["k2"][:, None, None]
    factor = 1 + k1 * r2 + k2 * r2 * r2
    assert_matches(out, u * factor * W / 2, v * factor * H / 2)


def test_fused_pipeline_is_one_resampling_call_matching_the_composed_warp(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    pipe = A.Compose([A.Rotate(30), A.HorizontalFlip(), A.Shear(15, 10), A.Stretch(0.2, 0.2),
                      A.Translate(0.1, 0.1), A.LensDistortion(0.2)])
    out, params = pipe(source_image(6), generator=5, return_params=True)
    steps = [t.step(p, (H, W)) for t, p in zip(pipe.transforms, params["transforms"])]
    factors = {tuple(k) for k in G.supersample_factors(G.affine_total(steps)).tolist()}
    assert len(calls) == len(factors) < 6  # one call per group of equal supersampling, not per sample
    rot, flip, shear, stretch, shift, lens = params["transforms"]
    # Forward map of each transform per sample, in pipeline order (the lens is handled apart).
    chain = [forward_matrices([rotation_forward(a) for a in rot["angle"].tolist()]),
             forward_matrices([[[-1.0 if f else 1.0, 0, 0], [0, 1, 0]] for f in flip["apply"].tolist()]),
             forward_matrices([shear_forward(a, b) for a, b in
                               zip(shear["x_angle"].tolist(), shear["y_angle"].tolist())]),
             forward_matrices([[[a, 0, 0], [0, b, 0]] for a, b in
                               zip(stretch["x_scale"].tolist(), stretch["y_scale"].tolist())]),
             forward_matrices([[[1, 0, dx * W], [0, 1, dy * H]] for dx, dy in
                               zip(shift["dx"].tolist(), shift["dy"].tolist())])]
    # Output point -> undo the lens (last transform, so applied first), then each affine map
    # backwards; a point is filled when it leaves any transform's input frame on the way.
    xs, ys = centred_grid()
    u, v = xs / (W / 2), ys / (H / 2)
    factor = 1 + lens["k1"][:, None, None] * (u * u + v * v)
    sx, sy = u * factor * W / 2, v * factor * H / 2
    frames_ok = (sx.abs() <= W / 2 - 1.5) & (sy.abs() <= H / 2 - 1.5)
    for forward in reversed(chain):
        back = torch.linalg.inv(forward)
        sx, sy = (back[:, 0, 0, None, None] * sx + back[:, 0, 1, None, None] * sy + back[:, 0, 2, None, None],
                  back[:, 1, 0, None, None] * sx + back[:, 1, 1, None, None] * sy + back[:, 1, 2, None, None])
        frames_ok &= (sx.abs() <= W / 2 - 1.5) & (sy.abs() <= H / 2 - 1.5)
    assert frames_ok.float().mean() > 0.3
    # Bilinear error of the pattern < 1e-3; a box-supersampled sample adds its average over the pixel.
    torch.testing.assert_close(out[:, 0][frames_ok], pattern(sx, sy)[frames_ok], atol=3e-3, rtol=0)
    assert (out[:, 0][(sx.abs() > W / 2 + 1.5) | (sy.abs() > H / 2 + 1.5)] == 0).all()  # outside the source: fill


def test_a_non_geometric_transform_splits_the_fused_run(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    pipe = A.Compose([A.RandomScaleCrop(24, (24, 30)), A.Rotate(5), A.GaussianNoise(0.01),
                      A.Shear(5), A.HorizontalFlip()])
    pipe(torch.rand(3, 3, 32, 32), generator=0)
    assert len(calls) == 2


def test_flip_only_runs_are_exact_without_resampling(monkeypatch):
    monkeypatch.setattr(torch.nn.functional, "grid_sample", None)
    x = torch.rand(4, 3, 7, 9)
    out, _params = A.Compose([A.HorizontalFlip(p=1), A.VerticalFlip(p=1)])(x, return_params=True)
    assert torch.equal(out, x.flip(-1).flip(-2))


def test_fusion_rejects_mixed_resampling_modes():
    with pytest.raises(ValueError, match="share interpolation"):
        A.Compose([A.Rotate(5), A.Shear(5, interpolation="nearest")])
    A.Compose([A.Rotate(5), A.GaussianNoise(0.1), A.Shear(5, interpolation="nearest")])


@pytest.mark.parametrize("fill, corner", [("zeros", 0.0), ("border", None), ("reflect", None)])
def test_fill_modes(fill, corner):
    x = torch.rand(1, 1, 16, 16) * 0.5 + 0.5  # all values > 0.5
    out = A.Rotate((45, 45), fill=fill)(x)
    if corner is not None:
        assert out[0, 0, 0, 0] == corner
    else:
        assert out[0, 0, 0, 0] > 0.5
