"""augkit.functional.color: the blend formulas, HSV, torchvision parity, CIFAR-10-C's variants, PCA fitting."""

import numpy as np
import pytest
import torch

import augkit as A
from augkit import functional as F
from tests._references import photo_patches, random_batch, synthetic_pixels


def batch(n=6, c=3, h=17, w=19, dtype=torch.float32, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


def test_brightness_contrast_saturation_are_the_blend_formulas():
    x = batch(dtype=torch.float64)
    f = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 0.25], dtype=torch.float64)
    ff = f.view(-1, 1, 1, 1)
    luma = 0.2989 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]
    torch.testing.assert_close(F.adjust_brightness(x, f), (ff * x).clamp(0, 1))
    mean = luma.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(F.adjust_contrast(x, f), (ff * x + (1 - ff) * mean).clamp(0, 1))
    torch.testing.assert_close(F.adjust_saturation(x, f), (ff * x + (1 - ff) * luma).clamp(0, 1))


def test_hue_shift_of_pure_colors_and_round_trip():
    red, green, blue = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1).expand(3, 3, 2, 2)
    x = torch.stack([red, green, blue])
    # A third of a turn maps red -> green -> blue -> red.
    torch.testing.assert_close(F.adjust_hue(x, torch.full((3,), 1 / 3, dtype=torch.float64)),
                               torch.stack([green, blue, red]), atol=1e-12, rtol=0)
    y = batch(dtype=torch.float64)
    torch.testing.assert_close(F.hsv_to_rgb(F.rgb_to_hsv(y)), y, atol=1e-12, rtol=0)
    torch.testing.assert_close(F.adjust_hue(y, torch.zeros(6, dtype=torch.float64)), y, atol=1e-12, rtol=0)


@pytest.mark.parametrize("c", [3, 1])
@pytest.mark.parametrize("part, factors", [
    ("brightness", [0.0, 0.3, 0.73, 1.0, 1.7]), ("contrast", [0.0, 0.3, 0.73, 1.0, 1.7]),
    ("saturation", [0.0, 0.3, 0.73, 1.0, 1.7]), ("hue", [-0.5, -0.2, -0.05, 0.0, 0.1, 0.5]),
])
def test_color_parts_equal_torchvision_on_uint8_exactly_and_on_float(part, factors, c):
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    ours, ref = getattr(F, f"adjust_{part}"), getattr(TF, f"adjust_{part}")
    x8 = torch.cat([batch(c=c, w=17, dtype=torch.uint8), photo_patches(4, 17)[:, :c]])
    x8[0] = x8[0, :1]  # a grey image: its luma, floored in uint8, is one level below it
    xf = x8 / 255
    for f in factors:
        # uint8: torchvision's float32 operations and truncations, the same levels. The factors
        # are float64, as torchvision's Python floats (and the transforms' parameters).
        factor = torch.full((10,), f, dtype=torch.float64)
        assert torch.equal(ours(x8, factor), torch.stack([ref(img, f) for img in x8])), f
        torch.testing.assert_close(ours(xf, factor), torch.stack([ref(img, f) for img in xf]), atol=1e-6, rtol=0)


def test_channel_contrast_keeps_each_channels_mean_and_value_shift_keeps_hue():
    x = batch(n=4, dtype=torch.float64)
    f = torch.tensor([0.0, 0.3, 1.0, 1.4], dtype=torch.float64)
    mean = x.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(F.adjust_contrast(x, f, mean="channel"),
                               ((x - mean) * f.view(-1, 1, 1, 1) + mean).clamp(0, 1), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="mean must be 'luma' or 'channel'"):
        F.adjust_contrast(x, f, mean="image")
    shift = torch.tensor([0.0, 0.1, 0.3, -0.2], dtype=torch.float64)
    out = F.adjust_value(x, shift)
    hsv, hsv_out = F.rgb_to_hsv(x), F.rgb_to_hsv(out)
    torch.testing.assert_close(hsv_out[:, 2], (hsv[:, 2] + shift.view(-1, 1, 1)).clamp(0, 1), atol=1e-12, rtol=0)
    moved = (hsv[:, 2] + shift.view(-1, 1, 1) > 0) & (hsv[:, 1] > 0)  # hue and saturation kept where V' > 0
    torch.testing.assert_close(hsv_out[:, :2].movedim(1, -1)[moved], hsv[:, :2].movedim(1, -1)[moved], atol=1e-9, rtol=0)
    black = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    assert (F.adjust_value(black, torch.tensor([0.25])) == 0.25).all()  # no hue: grey


def test_fit_pca_recovers_the_eigenpairs_streaming_over_batches():
    images, v, lam = synthetic_pixels()
    streamed = A.fit_pca(images[i:i + 7] for i in range(0, len(images), 7))
    eigval, eigvec = streamed
    # The streamed sums give exactly the covariance of all pixels at once ...
    sample_cov = np.cov(images.reshape(-1, 3), rowvar=False)
    np.testing.assert_allclose(eigvec.numpy() @ np.diag(eigval.numpy()) @ eigvec.numpy().T,
                               sample_cov, atol=1e-12)
    # ... whose eigenpairs are close to the generating ones (descending, columns = vectors).
    np.testing.assert_allclose(eigval.numpy(), lam, rtol=0.03)
    for k in range(3):
        assert abs(abs(eigvec[:, k].numpy() @ v[:, k]) - 1) < 1e-3


def test_fit_pca_accepts_tensors_uint8_and_matches_numpy_layout():
    images, _, _ = synthetic_pixels(n_images=4)
    as_uint8 = np.round(images * 255).astype(np.uint8)
    from_numpy = A.fit_pca(as_uint8)
    from_tensor = A.fit_pca(torch.from_numpy(as_uint8).permute(0, 3, 1, 2))
    torch.testing.assert_close(from_numpy[0], from_tensor[0])
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        A.fit_pca(torch.zeros(2, 1, 4, 4))
