"""ensemble.corruptions: every corruption against its reference formula (scipy, colorsys, Pillow), seeded and
growing with severity."""
import colorsys
import io

import numpy as np
import pytest
import torch
from PIL import Image

from augkit.data import to_batch
from ensemble.corruptions import CORRUPTIONS, SEVERITIES, brightness, contrast, corrupt, gaussian_blur, jpeg, rotation


def _float_images(n=3, c=3, h=9, w=11, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("sigma", CORRUPTIONS["gaussian_blur"].values + (2.5,))
def test_gaussian_blur_is_scipy_gaussian_filter_with_nearest_edges(sigma):
    ndimage = pytest.importorskip("scipy.ndimage")
    x = _float_images()
    expected = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0)
    np.testing.assert_allclose(gaussian_blur(x, sigma).numpy(), expected, atol=1e-12)


def test_contrast_scales_about_each_channels_mean():
    x = _float_images().numpy()
    mean = x.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(contrast(torch.from_numpy(x), 0.3).numpy(), np.clip((x - mean) * 0.3 + mean, 0, 1),
                               atol=1e-12)


@pytest.mark.parametrize("shift", [0.05, 0.3])
def test_brightness_is_the_hsv_value_shift_of_cifar10c(shift):
    x = _float_images(n=2, h=4, w=5)
    x[0, :, 0, 0] = 0.0  # black: no hue, becomes grey
    x[0, :, 0, 1] = torch.tensor([0.99, 0.5, 0.2])  # value clips at 1
    out = brightness(x, shift).numpy()
    pixels = x.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    expected = []
    for r, g, b in pixels:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        expected.append(colorsys.hsv_to_rgb(h, s, min(v + shift, 1.0)))
    expected = np.array(expected).reshape(2, 4, 5, 3).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert out[0, :, 0, 0] == pytest.approx([shift] * 3)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_a_pillow_round_trip_at_the_given_quality(channels):
    images = torch.randint(0, 256, (2, channels, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = corrupt(images, "jpeg", 5)
    for image, got in zip(images, out):
        array = image.permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(array[..., 0] if channels == 1 else array).save(buffer, format="JPEG", quality=40)
        expected = np.asarray(Image.open(buffer)).reshape(array.shape)
        np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), expected)
    assert jpeg(images.double() / 255, 40).dtype == torch.float64


def test_rotation_turns_each_image_one_way_or_the_other():
    x = _float_images(n=16, c=1, h=6, w=6)
    out = rotation(x, 90.0, torch.Generator().manual_seed(0))
    left, right = torch.rot90(x, 1, dims=(-2, -1)), torch.rot90(x, -1, dims=(-2, -1))  # counter-clockwise, clockwise
    turned_left = [torch.allclose(o, a, atol=1e-6) for o, a in zip(out, left)]
    turned_right = [torch.allclose(o, b, atol=1e-6) for o, b in zip(out, right)]
    assert all(a != b for a, b in zip(turned_left, turned_right))  # exactly one of the two, for every image
    assert 0 < sum(turned_left) < 16


def test_gaussian_noise_has_the_severity_sigma():
    grey = torch.full((200, 3, 32, 32), 128, dtype=torch.uint8)
    out = corrupt(grey, "gaussian_noise", 3)  # sigma 0.08: no clipping at 128 / 255
    noise = out.double() / 255 - 128 / 255
    assert noise.std().item() == pytest.approx(0.08, rel=0.01)
    assert abs(noise.mean().item()) < 1e-3


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruptions_are_seeded_and_grow_with_severity(name, digits_images):
    batch = to_batch(digits_images[0][:300])
    change = []
    for severity in SEVERITIES:
        out = corrupt(batch, name, severity, seed=3)
        assert out.dtype == torch.uint8 and out.shape == batch.shape
        assert torch.equal(out, corrupt(batch, name, severity, seed=3))
        change.append((out.double() - batch.double()).abs().mean().item())
    assert change == sorted(change) and change[0] > 0
    if name in ("gaussian_noise", "rotation"):
        assert not torch.equal(corrupt(batch, name, 1, seed=3), corrupt(batch, name, 1, seed=4))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "fog"}, ValueError, "corruption must be one of"),
    ({"severity": 0}, ValueError, r"severity must be one of \(1, 2, 3, 4, 5\)"),
    ({"severity": 6}, ValueError, "severity must be one of"),
    ({"severity": True}, ValueError, "severity must be one of"),
    ({"seed": -1}, ValueError, "seed must be an int >= 0"),
])
def test_corrupt_refuses_bad_arguments(kwargs, error, message):
    args = {"name": "contrast", "severity": 1, **kwargs}
    with pytest.raises(error, match=message):
        corrupt(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), **args)


def test_corrupt_needs_uint8_images():
    with pytest.raises(TypeError, match="must be uint8"):
        corrupt(torch.zeros(1, 3, 4, 4), "contrast", 1)
