"""Single transforms: invariants (hypothesis), ranges, per-sample draws, errors, input kinds."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import augkit as A
from tests._references import random_batch

SETTINGS = settings(max_examples=25, deadline=None)


def batch_strategy():
    """(N, C, H, W, dtype, seed) for small random batches."""
    return st.tuples(st.integers(1, 4), st.sampled_from([1, 3]), st.integers(1, 12),
                     st.integers(1, 12), st.sampled_from([torch.uint8, torch.float32]),
                     st.integers(0, 2**31 - 1))


make_batch = random_batch


IDENTITY_TRANSFORMS = [
    A.Rotate(0), A.Rotate((0, 0)), A.Translate(0, 0), A.Translate(0, 0, unit="pixels"),
    A.Stretch(0, 0), A.Stretch((1, 1), (1, 1)), A.Shear(0, 0), A.LensDistortion(0, 0),
    A.GaussianNoise(0.0), A.HorizontalFlip(p=0), A.VerticalFlip(p=0),
    A.Compose([A.Rotate(0), A.Shear(0, 0), A.Stretch(0, 0), A.LensDistortion(0, 0), A.Translate(0, 0)]),
]


@SETTINGS
@given(batch_strategy(), st.sampled_from(range(len(IDENTITY_TRANSFORMS))))
def test_identity_parameters_return_the_input(spec, which):
    x = make_batch(*spec)
    out = IDENTITY_TRANSFORMS[which](x, generator=spec[-1])
    assert out.dtype == x.dtype and out.shape == x.shape
    if x.dtype == torch.uint8:
        assert torch.equal(out, x)
    else:
        torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_identity_scale_crop_returns_the_input():
    x = make_batch(3, 3, 10, 14, torch.uint8, 0)
    assert torch.equal(A.RandomScaleCrop((10, 14), (10, 10))(x, generator=1), x)


@SETTINGS
@given(batch_strategy(), st.sampled_from([A.HorizontalFlip, A.VerticalFlip]))
def test_flip_twice_is_identity(spec, flip):
    x = make_batch(*spec)
    t = flip(p=1.0)
    once = t(x)
    assert torch.equal(t(once), x)
    axis = -1 if flip is A.HorizontalFlip else -2
    assert torch.equal(once, x.flip(axis))


RANDOM_TRANSFORMS = [
    A.Rotate(30), A.Translate(0.2, 0.2), A.Stretch(0.3, 0.3), A.Shear(20, 20),
    A.LensDistortion(0.3, 0.1), A.GaussianNoise((0.0, 0.5)), A.HorizontalFlip(), A.VerticalFlip(),
    A.RandomScaleCrop(6, (6, 14)), A.Rotate(40, fill="reflect"), A.Shear(30, fill="border"),
    A.Rotate(20, interpolation="nearest"),
]


@SETTINGS
@given(batch_strategy(), st.sampled_from(range(len(RANDOM_TRANSFORMS))))
def test_outputs_stay_in_range_with_input_dtype(spec, which):
    n, c, h, w, dtype, seed = spec
    x = make_batch(n, c, max(h, 6), max(w, 6), dtype, seed)
    t = RANDOM_TRANSFORMS[which]
    out = t(x, generator=seed)
    assert out.dtype == dtype
    if dtype.is_floating_point:
        assert out.min() >= 0 and out.max() <= 1 and not out.isnan().any()


@pytest.mark.parametrize("transform, key", [
    (A.Rotate(30), "angle"), (A.Translate(0.2, 0.2), "dx"), (A.Stretch(0.3, 0.3), "x_scale"),
    (A.Shear(20, 20), "x_angle"), (A.LensDistortion(0.3), "k1"), (A.GaussianNoise((0, 0.3)), "sigma"),
    (A.RandomScaleCrop(8, (8, 40)), "length"), (A.PCALighting.imagenet(), "alpha"),
])
def test_each_sample_draws_its_own_parameters(transform, key):
    x = torch.rand(16, 3, 12, 12)
    out, params = transform(x, generator=0, return_params=True)
    values = params[key]
    assert values.shape[0] == 16
    assert len(torch.unique(values, dim=0)) > 8
    # ... and the outputs differ per sample as well (not one draw broadcast over the batch).
    assert len({tuple(o.flatten().tolist()) for o in out}) == 16


def test_probability_selects_about_p_of_the_samples():
    _, params = A.HorizontalFlip(p=0.3)(torch.rand(2000, 1, 2, 2), generator=0, return_params=True)
    assert abs(params["apply"].float().mean().item() - 0.3) < 0.04
    _, params = A.Rotate(10, p=0.5)(torch.rand(200, 1, 2, 2), generator=0, return_params=True)
    assert torch.all((params["angle"] != 0) == params["apply"])


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS + [A.PCALighting.imagenet()])
def test_same_seed_same_output_and_replay_is_exact(transform):
    x = make_batch(5, 3, 14, 14, torch.uint8, 3)
    out, params = transform(x, generator=7, return_params=True)
    assert torch.equal(out, transform(x, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(out, transform.replay(x, params))


def test_gaussian_noise_has_the_drawn_sigma_per_sample():
    x = torch.full((4, 3, 64, 64), 0.5)
    out, params = A.GaussianNoise((0.01, 0.1))(x, generator=0, return_params=True)
    measured = (out - x).flatten(1).std(dim=1)
    torch.testing.assert_close(measured, params["sigma"].float(), rtol=0.05, atol=0)


def test_normalize_formula_and_float_output():
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = A.Normalize(mean, std)(x)
    assert out.dtype == torch.float32
    expected = (x / 255 - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(out, expected)


def test_scale_crop_params_respect_the_length_range_and_the_image():
    x = torch.rand(400, 1, 20, 30)
    _, params = A.RandomScaleCrop((16, 12), (20, 25))(x, generator=0, return_params=True)
    length = params["length"]
    assert length.min() == 20 and length.max() == 25  # inclusive bounds are both reached
    scaled_h, scaled_w = length, torch.round(30 * length.double() / 20).long()
    assert (params["top"] >= 0).all() and (params["top"] <= scaled_h - 16).all()
    assert (params["left"] >= 0).all() and (params["left"] <= scaled_w - 12).all()
    assert params["top"].max() == (scaled_h - 16).max()  # the last offset is reachable


def test_scale_crop_of_a_constant_image_is_constant():
    x = torch.full((6, 3, 40, 50), 0.25)
    out = A.RandomScaleCrop(24, (24, 60))(x, generator=0)
    torch.testing.assert_close(out, torch.full((6, 3, 24, 24), 0.25), atol=1e-6, rtol=0)


def test_scale_crop_of_a_linear_ramp_matches_the_crop_window():
    # When enlarging, the scale-crop is plain bilinear, which reproduces a linear function exactly
    # away from the edges: the output must equal the ramp at each output pixel's source position.
    # (Shrinking, the sampled triangle filter of Pillow / torchvision is not exactly linear-
    # preserving; tests/test_augkit_speedpaths.py compares that case with interpolate itself.)
    h, w = 30, 40
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    ramp = (0.3 * rows + 0.7 * cols) / (0.3 * h + 0.7 * w)
    x = ramp.expand(8, 1, h, w).contiguous()
    out, params = A.RandomScaleCrop(16, (30, 45))(x, generator=4, return_params=True)
    for i in range(8):
        L = params["length"][i].item()
        sh, sw = L, round(w * L / h)
        ys = (torch.arange(16, dtype=torch.float64) + 0.5 + params["top"][i]) * h / sh - 0.5
        xs = (torch.arange(16, dtype=torch.float64) + 0.5 + params["left"][i]) * w / sw - 0.5
        expected = (0.3 * ys[:, None] + 0.7 * xs[None, :]) / (0.3 * h + 0.7 * w)
        # Pixels whose two taps lie between the edge centres.
        my, mx = 0.5, 0.5
        inside = ((ys >= my) & (ys <= h - 1 - my))[:, None] & ((xs >= mx) & (xs <= w - 1 - mx))[None, :]
        assert inside.sum() > 100
        torch.testing.assert_close(out[i, 0][inside], expected[inside], atol=1e-9, rtol=0)


def test_scale_crop_antialiases_when_downscaling():
    # A 1-pixel checkerboard shrunk by 2 must become flat grey, not aliased 0/1: the triangle
    # filter of support 2 weighs the four taps 1/8, 3/8, 3/8, 1/8. At the edges the clamped
    # taps renormalise the weights, so the border pixels may differ by a little.
    board = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).double()
    out = A.RandomScaleCrop(32, (32, 32))(board.expand(2, 1, 64, 64), generator=0)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], torch.full((2, 1, 30, 30), 0.5, dtype=out.dtype),
                               atol=1e-9, rtol=0)
    assert (out - 0.5).abs().max() < 0.02
    # The fused path (box supersampling, 2 x 2 here) averages the same board to 0.5 everywhere.
    fused = A.Compose([A.RandomScaleCrop(32, (32, 32)), A.Rotate(0)])(board.expand(2, 1, 64, 64), generator=0)
    torch.testing.assert_close(fused, torch.full_like(fused, 0.5), atol=1e-9, rtol=0)


def test_empty_batch_returns_an_empty_batch():
    x = torch.zeros(0, 3, 20, 20, dtype=torch.uint8)
    out = A.Compose([A.RandomScaleCrop(16, (16, 20)), A.Rotate(5)])(x, generator=0)
    assert out.shape == (0, 3, 16, 16) and out.dtype == torch.uint8


@pytest.mark.parametrize("bad, error, message", [
    (torch.zeros(3, 8, 8), ValueError, "rank 4"),
    (torch.zeros(1, 2, 8, 8), ValueError, "C=2"),
    (torch.full((1, 3, 8, 8), 1.5), ValueError, r"\[0, 1\]"),
    (torch.full((1, 3, 8, 8), float("nan")), ValueError, r"\[0, 1\]"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.int16), TypeError, "int16"),
    (np.zeros((1, 8, 8, 3), dtype=np.uint8), ValueError, "rank 3"),
    ([1, 2, 3], TypeError, "list"),
])
def test_bad_batches_are_refused_with_a_named_problem(bad, error, message):
    with pytest.raises(error, match=message):
        A.Rotate(10)(bad)


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.Rotate(10, p=1.5), ValueError, "p must be in"),
    (lambda: A.Rotate((10, -10)), ValueError, "reversed"),
    (lambda: A.GaussianNoise(-0.1), ValueError, "sigma must be >= 0"),
    (lambda: A.GaussianNoise((0.2, 0.1)), ValueError, "reversed"),
    (lambda: A.RandomScaleCrop(32, (40, 32)), ValueError, "reversed"),
    (lambda: A.RandomScaleCrop(0, (40, 42)), ValueError, "size must be positive"),
    (lambda: A.Stretch((0.0, 1.0)), ValueError, "x must be > 0"),
    (lambda: A.Shear(95), ValueError, r"\(-90, 90\)"),
    (lambda: A.Rotate(10, interpolation="cubic"), ValueError, "interpolation"),
    (lambda: A.Normalize((0.5,), (0.0,)), ValueError, "std must be > 0"),
    (lambda: A.Rotate("15"), TypeError, "degrees"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_crop_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="larger than the image"):
        A.RandomScaleCrop(32, (20, 24))(torch.zeros(1, 3, 40, 40))


def test_pil_and_numpy_images_come_back_as_the_same_kind():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = A.Rotate(0)(Image.fromarray(rgb))
    assert isinstance(out, Image.Image) and out.mode == "RGB" and np.array_equal(np.asarray(out), rgb)
    gray = Image.fromarray(rgb[:, :, 0])
    assert A.HorizontalFlip(p=1)(gray).mode == "L"
    out = A.HorizontalFlip(p=1)(rgb)
    assert isinstance(out, np.ndarray) and np.array_equal(out, rgb[:, ::-1])
    palette = Image.fromarray(rgb).convert("P")
    assert A.Rotate(5)(palette, generator=0).mode == "RGB"
    with pytest.raises(ValueError, match="RGBA"):
        A.Rotate(5)(Image.fromarray(rgb).convert("RGBA"))
    with pytest.raises(ValueError, match="I;16"):
        A.Rotate(5)(Image.fromarray(rgb[:, :, 0].astype(np.uint16)).convert("I;16"))
