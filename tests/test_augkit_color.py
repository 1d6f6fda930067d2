"""ColorJitter, Grayscale, GaussianBlur and their kernels: formulas, torchvision parity, per-sample draws."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augkit as A
from augkit import color as C
from augkit import filters
from tests._references import random_batch

SETTINGS = settings(max_examples=25, deadline=None)


def batch(n=6, c=3, h=17, w=19, dtype=torch.float32, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


# ---------------------------------------------------------------- analytic, main environment
def test_brightness_contrast_saturation_are_the_blend_formulas():
    x = batch(dtype=torch.float64)
    f = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 0.25], dtype=torch.float64)
    ff = f.view(-1, 1, 1, 1)
    luma = 0.2989 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]
    torch.testing.assert_close(C.adjust_brightness(x, f), (ff * x).clamp(0, 1))
    mean = luma.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(C.adjust_contrast(x, f), (ff * x + (1 - ff) * mean).clamp(0, 1))
    torch.testing.assert_close(C.adjust_saturation(x, f), (ff * x + (1 - ff) * luma).clamp(0, 1))


def test_hue_shift_of_pure_colours_and_round_trip():
    red, green, blue = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1).expand(3, 3, 2, 2)
    x = torch.stack([red, green, blue])
    # A third of a turn maps red -> green -> blue -> red.
    torch.testing.assert_close(C.adjust_hue(x, torch.full((3,), 1 / 3, dtype=torch.float64)),
                               torch.stack([green, blue, red]), atol=1e-12, rtol=0)
    y = batch(dtype=torch.float64)
    torch.testing.assert_close(C.hsv_to_rgb(C.rgb_to_hsv(y)), y, atol=1e-12, rtol=0)
    torch.testing.assert_close(C.adjust_hue(y, torch.zeros(6, dtype=torch.float64)), y, atol=1e-12, rtol=0)


def test_grayscale_is_the_luma_in_every_channel_and_keeps_grey_images():
    x = batch(dtype=torch.float64)
    out = A.Grayscale()(x)
    luma = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma)
    grey = batch(c=1, dtype=torch.uint8)
    assert torch.equal(A.Grayscale()(grey), grey)


def test_grayscale_colour_map_reproduces_the_transform():
    x = batch(n=8, dtype=torch.float64)
    t = A.Grayscale(p=0.5)
    out, params = t(x, generator=3, return_params=True)
    a, b = t.colour_map(params, 3)
    mapped = torch.einsum("nij,njhw->nihw", a, x) + b[:, :, None, None]
    torch.testing.assert_close(mapped, out)
    assert 0 < params["apply"].sum() < 8
    assert A.Grayscale.colour_affine and not getattr(A.ColorJitter, "colour_affine", False)


def test_blur_of_a_constant_is_constant_and_of_an_impulse_is_the_gaussian():
    const = torch.full((3, 2, 9, 11), 0.4, dtype=torch.float64)
    sigma = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(filters.gaussian_blur(const, (5, 3), sigma), const)
    impulse = torch.zeros(3, 1, 15, 15, dtype=torch.float64)
    impulse[:, :, 7, 7] = 1
    out = filters.gaussian_blur(impulse, (7, 5), sigma)
    for i, s in enumerate(sigma.tolist()):
        gx = torch.tensor([math.exp(-k * k / (2 * s * s)) for k in range(-3, 4)], dtype=torch.float64)
        gy = torch.tensor([math.exp(-k * k / (2 * s * s)) for k in range(-2, 3)], dtype=torch.float64)
        expected = torch.outer(gy / gy.sum(), gx / gx.sum())
        torch.testing.assert_close(out[i, 0, 5:10, 4:11], expected)
        assert out[i, 0].sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("size, radius", [(5, 2), (4, 7), (1, 3), (2, 2)])
def test_reflect_padding_index_matches_torch_pad_and_works_beyond_it(size, radius):
    index = filters.reflect_index(size, radius, torch.device("cpu"))
    row = torch.arange(size, dtype=torch.float64)[None, None]
    if radius < size:
        expected = torch.nn.functional.pad(row, (radius, radius), mode="reflect")[0, 0].long()
        assert torch.equal(index, expected)
    assert index.min() >= 0 and index.max() <= size - 1 and len(index) == size + 2 * radius


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3]), st.integers(0, 2**31 - 1))
def test_blur_stays_within_each_images_range(n, h, w, c, seed):
    x = batch(n, c, h, w, seed=seed)
    out = A.GaussianBlur(5, sigma=(0.1, 3.0))(x, generator=seed)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    # A blur is a weighted average: it never leaves the per-image range.
    assert (out.amax(dim=(1, 2, 3)) <= x.amax(dim=(1, 2, 3)) + 1e-6).all()
    assert (out.amin(dim=(1, 2, 3)) >= x.amin(dim=(1, 2, 3)) - 1e-6).all()


def test_sharpness_factor_one_is_identity_and_border_is_kept():
    x = batch(dtype=torch.float64)
    torch.testing.assert_close(filters.adjust_sharpness(x, torch.ones(6)), x)
    out = filters.adjust_sharpness(x, torch.full((6,), 2.0))
    assert torch.equal(out[:, :, 0], x[:, :, 0]) and torch.equal(out[:, :, :, -1], x[:, :, :, -1])


def test_level_operations_on_uint8_levels():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = levels.float() / 255
    for bits in range(9):
        mask = (0xFF << (8 - bits)) & 0xFF
        assert torch.equal(C.levels(C.posterize(x, torch.tensor([bits]))), levels & mask)
    out = C.levels(C.solarize(x, torch.tensor([128 / 255])))
    assert torch.equal(out, torch.where(levels >= 128, 255 - levels, levels))
    flat = torch.full((1, 3, 4, 4), 0.3)
    assert torch.equal(C.autocontrast(flat), flat) and torch.equal(C.equalize(flat), C.levels(flat).float() / 255)
    ramp = torch.linspace(0.2, 0.6, 16).view(1, 1, 4, 4)
    stretched = C.autocontrast(ramp)
    assert stretched.min() == 0 and stretched.max() == 1


# ---------------------------------------------------------------- ColorJitter
def test_color_jitter_ranges_follow_torchvision_conventions():
    t = A.ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=1.5, hue=0.1)
    assert t.brightness == (0.6, 1.4) and t.contrast == (0.5, 1.5)
    assert t.saturation == (0.0, 2.5) and t.hue == (-0.1, 0.1)  # 1 - 1.5 clipped at 0, as torchvision
    with pytest.raises(ValueError, match=r"hue must be <= 0\.5"):
        A.ColorJitter(hue=(0, 0.6))
    with pytest.raises(ValueError, match="brightness must be >= 0"):
        A.ColorJitter(brightness=(-0.1, 1))
    with pytest.raises(TypeError, match="contrast"):
        A.ColorJitter(contrast="strong")


def test_color_jitter_draws_per_sample_factors_and_orders():
    x = batch(n=64, dtype=torch.uint8)
    t = A.ColorJitter(0.4, 0.4, 0.4, 0.1)
    out, params = t(x, generator=0, return_params=True)
    for name in ("brightness", "contrast", "saturation", "hue"):
        assert len(torch.unique(params[name])) == 64
    assert torch.equal(params["order"].sort(1).values, torch.arange(4).expand(64, 4))
    assert len(torch.unique(params["order"], dim=0)) > 12  # many of the 24 orders
    assert len({tuple(o.flatten().tolist()) for o in out}) == 64


def test_color_jitter_applies_each_sample_in_its_own_order():
    x = batch(n=8, dtype=torch.float64)
    t = A.ColorJitter(0.5, 0.5, 0.5, 0.2)
    out, params = t(x, generator=1, return_params=True)
    kernels = [C.adjust_brightness, C.adjust_contrast, C.adjust_saturation, C.adjust_hue]
    names = ["brightness", "contrast", "saturation", "hue"]
    for n in range(8):
        y = x[n:n + 1]
        for op in params["order"][n].tolist():
            y = kernels[op](y, params[names[op]][n:n + 1])
        torch.testing.assert_close(out[n:n + 1], y)


def test_color_jitter_probability_and_identity_where_not_applied():
    x = batch(n=200, c=3, h=4, w=4, dtype=torch.uint8)
    out, params = A.ColorJitter(0.5, 0.5, 0.5, 0.1, p=0.3)(x, generator=0, return_params=True)
    assert 0.2 < params["apply"].float().mean() < 0.4
    assert torch.equal(out[~params["apply"]], x[~params["apply"]])


# ---------------------------------------------------------------- torchvision parity (comparison venv)
def tv_functional():
    return pytest.importorskip("torchvision.transforms.v2.functional")


@pytest.mark.parametrize("part, factors", [
    ("brightness", [0.0, 0.3, 1.0, 1.7]), ("contrast", [0.0, 0.3, 1.0, 1.7]),
    ("saturation", [0.0, 0.3, 1.0, 1.7]), ("hue", [-0.5, -0.2, 0.0, 0.1, 0.5]),
])
def test_color_jitter_parts_equal_torchvision(part, factors):
    TF = tv_functional()
    ours = getattr(C, f"adjust_{part}")
    ref = getattr(TF, f"adjust_{part}")
    xf, x8 = batch(), batch(dtype=torch.uint8)
    for f in factors:
        want = torch.stack([ref(img, f) for img in xf])
        torch.testing.assert_close(ours(xf, torch.full((6,), f)), want, atol=1e-5, rtol=0)
        # uint8: torchvision truncates (and floors the grey image) in uint8 after each step,
        # augkit computes in float and rounds once: at most 2 levels apart, mostly 0 or 1.
        got8 = A.functional.from_working(ours(x8 / 255, torch.full((6,), f)), torch.uint8)
        diff = (got8.int() - torch.stack([ref(img, f) for img in x8]).int()).abs()
        assert diff.max() <= 2 and (diff > 1).float().mean() < 0.05


def test_color_jitter_with_fixed_factors_equals_torchvision_color_jitter():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    x = batch(n=1)
    ours, params = A.ColorJitter((0.7, 0.7), (1.3, 1.3), (0.4, 0.4), (0.1, 0.1))(x, generator=0, return_params=True)
    tv = v2.ColorJitter((0.7, 0.7), (1.3, 1.3), (0.4, 0.4), (0.1, 0.1))
    order = params["order"][0]
    want = tv.transform(x[0], dict(fn_idx=order, brightness_factor=0.7, contrast_factor=1.3,
                                   saturation_factor=0.4, hue_factor=0.1))
    torch.testing.assert_close(ours[0], want, atol=2e-6, rtol=0)


def test_grayscale_and_blur_equal_torchvision():
    TF = tv_functional()
    xf, x8 = batch(), batch(dtype=torch.uint8)
    torch.testing.assert_close(A.Grayscale()(xf), TF.rgb_to_grayscale(xf, 3), atol=1e-6, rtol=0)
    assert (A.Grayscale()(x8).int() - TF.rgb_to_grayscale(x8, 3).int()).abs().max() <= 1  # tv truncates
    for sigma in (0.3, 1.0, 2.0):
        for ks in ((3, 3), (5, 7), (9, 3)):
            t = A.GaussianBlur(ks, sigma=sigma)
            torch.testing.assert_close(t(xf), TF.gaussian_blur(xf, list(ks), [sigma, sigma]), atol=1e-6, rtol=0)
            assert (t(x8).int() - TF.gaussian_blur(x8, list(ks), [sigma, sigma]).int()).abs().max() <= 1


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("make, error, message", [
    (lambda: A.GaussianBlur(4), ValueError, "kernel_size must be odd"),
    (lambda: A.GaussianBlur((3, 0)), ValueError, "kernel_size must be positive"),
    (lambda: A.GaussianBlur(3, sigma=0), ValueError, "sigma must be > 0"),
    (lambda: A.GaussianBlur(3, sigma=(2, 1)), ValueError, "reversed"),
    (lambda: A.Grayscale(p=2), ValueError, "p must be in"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()
