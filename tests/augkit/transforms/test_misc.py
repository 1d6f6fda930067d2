"""GaussianNoise and Normalize."""

import pytest
import torch

import augkit as A


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


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.GaussianNoise(-0.1), ValueError, "sigma must be >= 0"),
    (lambda: A.GaussianNoise((0.2, 0.1)), ValueError, "reversed"),
    (lambda: A.Normalize((0.5,), (0.0,)), ValueError, "finite stds > 0"),
    (lambda: A.Normalize((0.5, 0.5), 0.2), ValueError, "mean must hold 1 or 3 numbers"),
    (lambda: A.Normalize("a", 0.2), ValueError, "of numbers or per-channel sequences"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()
