"""PCA lighting: streamed eigendecomposition, constant per-image offset, offset covariance."""

import numpy as np
import pytest
import torch

import augkit as A


def synthetic_pixels(n_images=50, size=32, seed=0):
    """Images whose RGB pixels have a known covariance V diag(lam) V^T, mean 0.5, within [0, 1]."""
    rng = np.random.default_rng(seed)
    v, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = np.array([0.02, 0.005, 0.001])
    half_width = np.sqrt(3 * lam)  # uniform on [-a, a] has variance a^2 / 3
    z = rng.uniform(-1, 1, size=(n_images * size * size, 3)) * half_width
    pixels = 0.5 + z @ v.T
    images = pixels.reshape(n_images, size, size, 3)  # channels last, like numpy image arrays
    return images, v, lam


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


def test_lighting_offset_is_constant_over_each_image_and_has_the_right_covariance():
    sigma = 0.1
    t = A.PCALighting.imagenet(sigma=sigma)
    x = torch.full((4000, 3, 2, 3), 0.5, dtype=torch.float64)
    out, params = t(x, generator=0, return_params=True)
    offset = out - x
    torch.testing.assert_close(offset, offset[:, :, :1, :1].expand_as(offset))  # constant per image
    offset = offset[:, :, 0, 0]
    v = torch.tensor(A.functional.IMAGENET_EIGVEC, dtype=torch.float64)
    lam = torch.tensor(A.functional.IMAGENET_EIGVAL, dtype=torch.float64)
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
