"""The colour transforms: ColorJitter's draws, order and torchvision parity, Grayscale as a colour map, PCA lighting.

The figures quoted in :class:`augkit.ColorJitter` come from ``python benchmarks/torchvision_fidelity.py``.
"""

import numpy as np
import pytest
import torch

import augkit as A
from augkit import functional as F
from tests._references import photo_patches, random_batch, synthetic_pixels, torchvision_color_jitter


def batch(n=6, c=3, h=17, w=19, dtype=torch.float32, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


def test_grayscale_is_the_luma_in_every_channel_and_keeps_grey_images():
    x = batch(dtype=torch.float64)
    out = A.Grayscale()(x)
    luma = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma)
    grey = batch(c=1, dtype=torch.uint8)
    assert torch.equal(A.Grayscale()(grey), grey)


def test_grayscale_color_map_reproduces_the_transform():
    x = batch(n=8, dtype=torch.float64)
    t = A.Grayscale(p=0.5)
    out, params = t(x, generator=3, return_params=True)
    a, b = t.color_map(params, 3)
    mapped = torch.einsum("nij,njhw->nihw", a, x) + b[:, :, None, None]
    torch.testing.assert_close(mapped, out)
    assert 0 < params["apply"].sum() < 8
    assert A.Grayscale.color_affine and not getattr(A.ColorJitter, "color_affine", False)


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
    kernels = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
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


def test_color_jitter_with_fixed_factors_equals_torchvision_color_jitter():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    x = batch(n=1)
    ours, params = A.ColorJitter((0.7, 0.7), (1.3, 1.3), (0.4, 0.4), (0.1, 0.1))(x, generator=0, return_params=True)
    tv = v2.ColorJitter((0.7, 0.7), (1.3, 1.3), (0.4, 0.4), (0.1, 0.1))
    order = params["order"][0]
    want = tv.transform(x[0], dict(fn_idx=order, brightness_factor=0.7, contrast_factor=1.3,
                                   saturation_factor=0.4, hue_factor=0.1))
    torch.testing.assert_close(ours[0], want, atol=2e-6, rtol=0)


@pytest.mark.parametrize("ranges", [(0.4, 0.4, 0.4, 0.1), (0.9, 0.9, 0.9, 0.5), (0.3, 0.6, 1.0, 0.0),
                                    ((0.7, 0.7), (0.7, 0.7), (0.7, 0.7), (-0.05, -0.05))])
@pytest.mark.parametrize("seed", range(3))
def test_color_jitter_equals_torchvision_on_random_images_factors_and_orders(ranges, seed):
    """uint8: every step writes uint8 levels as torchvision's uint8 kernel does, so the chain
    equals torchvision's value for value. Float: torchvision's float operations, to 1e-6."""
    pytest.importorskip("torchvision.transforms.v2")
    x = torch.cat([photo_patches(24, seed=seed), random_batch(8, 3, 32, 32, seed=seed)])
    t = A.ColorJitter(*ranges)
    for images in (x, x[:, :1], x / 255):
        out, params = t(images, generator=seed, return_params=True)
        want = torchvision_color_jitter(images, t, params)
        if images.dtype == torch.uint8:
            assert torch.equal(out, want)
        else:
            torch.testing.assert_close(out, want, atol=1e-6, rtol=0)


def test_color_jitter_after_transforms_that_keep_uint8_is_still_quantised_per_step():
    pytest.importorskip("torchvision.transforms.v2")
    x = photo_patches(16)
    pipe = A.Compose([A.HorizontalFlip(p=1.0), A.ColorJitter(0.5, 0.5, 0.5, 0.2)])
    out, params = pipe(x, generator=0, return_params=True)
    assert torch.equal(out, torchvision_color_jitter(x.flip(-1), pipe[1], params["transforms"][1]))


def test_grayscale_equals_torchvision():
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    xf, x8 = batch(), batch(dtype=torch.uint8)
    torch.testing.assert_close(A.Grayscale()(xf), TF.rgb_to_grayscale(xf, 3), atol=1e-6, rtol=0)
    assert (A.Grayscale()(x8).int() - TF.rgb_to_grayscale(x8, 3).int()).abs().max() <= 1  # tv truncates


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.Grayscale(p=2), ValueError, "p must be in"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_lighting_offset_is_constant_over_each_image_and_has_the_right_covariance():
    sigma = 0.1
    t = A.PCALighting.imagenet(sigma=sigma)
    x = torch.full((4000, 3, 2, 3), 0.5, dtype=torch.float64)
    out, params = t(x, generator=0, return_params=True)
    offset = out - x
    torch.testing.assert_close(offset, offset[:, :, :1, :1].expand_as(offset))  # constant per image
    offset = offset[:, :, 0, 0]
    v = torch.tensor(F.IMAGENET_EIGVEC, dtype=torch.float64)
    lam = torch.tensor(F.IMAGENET_EIGVAL, dtype=torch.float64)
    # offset = V (alpha * lam) exactly, for the returned alpha ...
    torch.testing.assert_close(offset, (params["alpha"] * lam) @ v.T)
    # ... and over draws its covariance is sigma^2 V diag(lam^2) V^T.
    expected = sigma**2 * v @ torch.diag(lam**2) @ v.T
    measured = torch.cov(offset.T)
    torch.testing.assert_close(measured, expected, atol=0.06 * expected.abs().max().item(), rtol=0)


def test_lighting_clamps_and_keeps_dtype():
    x = torch.full((64, 3, 4, 4), 250, dtype=torch.uint8)
    out = A.PCALighting.imagenet(sigma=2.0)(x, generator=1)
    assert out.dtype == torch.uint8 and (out != 250).any()


def test_imagenet_preset_constants_and_json_round_trip():
    t = A.PCALighting.imagenet(sigma=0.2, p=0.5)
    assert t.eigval.tolist() == [0.2175, 0.0188, 0.0045]
    assert t.eigvec[0].tolist() == [-0.5675, 0.7192, 0.4009]
    back = A.Compose.from_json(A.Compose([t]).to_json())[0]
    assert back == t and torch.equal(back.eigvec, t.eigvec) and back.sigma == 0.2


def test_fit_classmethod_uses_fit_pca():
    images, _, _ = synthetic_pixels(n_images=3)
    t = A.PCALighting.fit(images, sigma=0.05)
    eigval, eigvec = A.fit_pca(images)
    assert torch.equal(t.eigval, eigval) and torch.equal(t.eigvec, eigvec) and t.sigma == 0.05


def test_grayscale_and_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="RGB"):
        A.PCALighting.imagenet()(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        A.PCALighting.imagenet(sigma=-1)
    with pytest.raises(ValueError, match=r"eigvec \(3, 3\)"):
        A.PCALighting([1, 2, 3], [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        A.fit_pca(np.full((1, 4, 4, 3), 2.0))
