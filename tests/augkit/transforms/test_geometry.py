"""The geometric transforms against analytic warps of a smooth pattern; identities, flips, fills, errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augkit as A
from augkit.functional import geometry as G
from tests._references import (
    PATTERN_SIZE,
    batch_strategy,
    centred_grid,
    forward_matrices,
    pattern,
    random_batch,
    rotation_forward,
    shear_forward,
    source_image,
)

H = W = PATTERN_SIZE


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


@pytest.mark.parametrize("fill, corner", [("zeros", 0.0), ("border", None), ("reflect", None)])
def test_fill_modes(fill, corner):
    x = torch.rand(1, 1, 16, 16) * 0.5 + 0.5  # all values > 0.5
    out = A.Rotate((45, 45), fill=fill)(x)
    if corner is not None:
        assert out[0, 0, 0, 0] == corner
    else:
        assert out[0, 0, 0, 0] > 0.5


def analytic_warp(x: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Plain bilinear sampling, zero padding, of a square batch through N x 3 x 3 backward maps
    in centred pixel coordinates (for a square image these equal normalised coordinates)."""
    grid = torch.nn.functional.affine_grid(backward[:, :2].to(x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@pytest.mark.parametrize("angles", [(10, 0), (0, 25), (30, 20), (45, 0), (0, -60)])
def test_a_pure_shear_is_plain_bilinear(angles):
    # Defect 2: any shear used to get 2 x 2 supersampling (column norm > 1), blurring it.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 40, 40, generator=g, dtype=torch.float64)  # texture: blur would show
    shear = A.Shear((angles[0], angles[0]), (angles[1], angles[1]))
    out, params = shear(x, generator=0, return_params=True)
    backward = G.shear_matrix(params["x_angle"], params["y_angle"])
    assert (G.supersample_factors(backward) == 1).all()
    torch.testing.assert_close(out, analytic_warp(x, backward), atol=1e-6, rtol=0)


SETTINGS = settings(max_examples=25, deadline=None)


IDENTITY_TRANSFORMS = [
    A.Rotate(0), A.Rotate((0, 0)), A.Translate(0, 0), A.Translate(0, 0, unit="pixels"),
    A.Stretch(0, 0), A.Stretch((1, 1), (1, 1)), A.Shear(0, 0), A.LensDistortion(0, 0),
    A.GaussianNoise(0.0), A.HorizontalFlip(p=0), A.VerticalFlip(p=0),
    A.Compose([A.Rotate(0), A.Shear(0, 0), A.Stretch(0, 0), A.LensDistortion(0, 0), A.Translate(0, 0)]),
]


@SETTINGS
@given(batch_strategy(), st.sampled_from(range(len(IDENTITY_TRANSFORMS))))
def test_identity_parameters_return_the_input(spec, which):
    x = random_batch(*spec)
    out = IDENTITY_TRANSFORMS[which](x, generator=spec[-1])
    assert out.dtype == x.dtype and out.shape == x.shape
    if x.dtype == torch.uint8:
        assert torch.equal(out, x)
    else:
        torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


@SETTINGS
@given(batch_strategy(), st.sampled_from([A.HorizontalFlip, A.VerticalFlip]))
def test_flip_twice_is_identity(spec, flip):
    x = random_batch(*spec)
    t = flip(p=1.0)
    once = t(x)
    assert torch.equal(t(once), x)
    axis = -1 if flip is A.HorizontalFlip else -2
    assert torch.equal(once, x.flip(axis))


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.Rotate(10, p=1.5), ValueError, "p must be in"),
    (lambda: A.Rotate((10, -10)), ValueError, "reversed"),
    (lambda: A.Stretch((0.0, 1.0)), ValueError, "x must be > 0"),
    (lambda: A.Shear(95), ValueError, r"\(-90, 90\)"),
    (lambda: A.Rotate(10, interpolation="cubic"), ValueError, "interpolation"),
    (lambda: A.Rotate("15"), TypeError, "degrees"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()
