"""GaussianBlur: a weighted average within each image's range, torchvision parity, errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augkit as A
from tests._references import random_batch

SETTINGS = settings(max_examples=25, deadline=None)


def batch(n=6, c=3, h=17, w=19, dtype=torch.float32, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3]), st.integers(0, 2**31 - 1))
def test_blur_stays_within_each_images_range(n, h, w, c, seed):
    x = batch(n, c, h, w, seed=seed)
    out = A.GaussianBlur(5, sigma=(0.1, 3.0))(x, generator=seed)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    # A blur is a weighted average: it never leaves the per-image range.
    assert (out.amax(dim=(1, 2, 3)) <= x.amax(dim=(1, 2, 3)) + 1e-6).all()
    assert (out.amin(dim=(1, 2, 3)) >= x.amin(dim=(1, 2, 3)) - 1e-6).all()


def test_blur_equals_torchvision():
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    xf, x8 = batch(), batch(dtype=torch.uint8)
    for sigma in (0.3, 1.0, 2.0):
        for ks in ((3, 3), (5, 7), (9, 3)):
            t = A.GaussianBlur(ks, sigma=sigma)
            torch.testing.assert_close(t(xf), TF.gaussian_blur(xf, list(ks), [sigma, sigma]), atol=1e-6, rtol=0)
            assert (t(x8).int() - TF.gaussian_blur(x8, list(ks), [sigma, sigma]).int()).abs().max() <= 1


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.GaussianBlur(4), ValueError, "kernel_size must be odd"),
    (lambda: A.GaussianBlur((3, 0)), ValueError, "kernel_size must be positive"),
    (lambda: A.GaussianBlur(3, sigma=0), ValueError, "sigma must be > 0"),
    (lambda: A.GaussianBlur(3, sigma=(2, 1)), ValueError, "reversed"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()
