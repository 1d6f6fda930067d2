"""augkit.functional.filter: Gaussian blur (reflect and edge padding) and sharpness."""

import math

import pytest
import torch

from augkit import functional as F
from tests._references import photo_patches, random_batch


def batch(n=6, c=3, h=17, w=19, dtype=torch.float32, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


def test_blur_of_a_constant_is_constant_and_of_an_impulse_is_the_gaussian():
    const = torch.full((3, 2, 9, 11), 0.4, dtype=torch.float64)
    sigma = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(F.gaussian_blur(const, (5, 3), sigma), const)
    impulse = torch.zeros(3, 1, 15, 15, dtype=torch.float64)
    impulse[:, :, 7, 7] = 1
    out = F.gaussian_blur(impulse, (7, 5), sigma)
    for i, s in enumerate(sigma.tolist()):
        gx = torch.tensor([math.exp(-k * k / (2 * s * s)) for k in range(-3, 4)], dtype=torch.float64)
        gy = torch.tensor([math.exp(-k * k / (2 * s * s)) for k in range(-2, 3)], dtype=torch.float64)
        expected = torch.outer(gy / gy.sum(), gx / gx.sum())
        torch.testing.assert_close(out[i, 0, 5:10, 4:11], expected)
        assert out[i, 0].sum().item() == pytest.approx(1.0)


def test_sharpness_factor_one_is_identity_and_border_is_kept():
    x = batch(dtype=torch.float64)
    torch.testing.assert_close(F.adjust_sharpness(x, torch.ones(6)), x)
    out = F.adjust_sharpness(x, torch.full((6,), 2.0))
    assert torch.equal(out[:, :, 0], x[:, :, 0]) and torch.equal(out[:, :, :, -1], x[:, :, :, -1])


@pytest.mark.parametrize("c", [3, 1])
def test_sharpness_equals_torchvision_on_uint8_exactly_and_on_float(c):
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    x8 = torch.cat([batch(c=c, dtype=torch.uint8), photo_patches(4, 19)[:, :c, :17]])
    factors = torch.tensor([0.0, 0.1, 0.73, 1.0, 1.27, 1.99, 2.0, 0.5, 1.5, 0.01], dtype=torch.float64)
    for x in (x8, x8 / 255, batch(n=2, h=2, dtype=torch.uint8)):
        want = torch.stack([TF.adjust_sharpness(img, float(f)) for img, f in zip(x, factors)])
        ours = F.adjust_sharpness(x, factors[:len(x)])
        if x.dtype == torch.uint8:
            assert torch.equal(ours, want)
        else:
            torch.testing.assert_close(ours, want, atol=1e-6, rtol=0)


def test_edge_padded_blur_repeats_the_edge_pixel():
    x = batch(n=3, c=1, h=9, w=7, dtype=torch.float64)
    sigma = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    out = F.gaussian_blur(x, (7, 5), sigma, padding="edge")
    for i in range(3):
        padded = torch.nn.functional.pad(x[i:i + 1], (3, 3, 2, 2), mode="replicate")
        kx = F.gaussian_weights(7, sigma[i:i + 1], torch.float64)[0]
        ky = F.gaussian_weights(5, sigma[i:i + 1], torch.float64)[0]
        want = torch.nn.functional.conv2d(padded, torch.outer(ky, kx)[None, None])
        torch.testing.assert_close(out[i:i + 1], want, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="padding must be one of"):
        F.gaussian_blur(x, (3, 3), sigma, padding="zeros")
