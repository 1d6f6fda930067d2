"""conventions.normalization: the (mean, std) check and the float and uint8 kernels."""
import math

import numpy as np
import pytest
import torch

from conventions import check_normalization, normalize, normalize_uint8

MEAN, STD = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)


def _reference(x, mean, std):
    """(x - mean) / std per channel (dim 1), written out in float64."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return (x.double() - torch.tensor(mean, dtype=torch.float64).reshape(shape)) / \
        torch.tensor(std, dtype=torch.float64).reshape(shape)


def test_check_returns_tuples_of_floats():
    assert check_normalization(None) is None
    assert check_normalization((0.5, 2)) == ((0.5,), (2.0,))
    assert check_normalization(([0.5, 0.4], np.array([[1.0], [2.0]]))) == ((0.5, 0.4), (1.0, 2.0))  # flattened
    assert check_normalization((torch.tensor([0.25]), (3,))) == ((0.25,), (3.0,))


@pytest.mark.parametrize("value, message", [
    ("red", "normalize must be None or \\(mean, std\\) of numbers or per-channel sequences, got 'red'"),
    ((0.5, 0.2, 0.1), "normalize must be None or"),
    ((0.5, "wide"), "normalize must be None or"),
    ((0.5, 0.0), "normalize needs finite means and finite stds > 0, got \\(0.5, 0.0\\)"),
    ((0.5, -1.0), "finite stds > 0"),
    ((math.nan, 1.0), "finite means"),
    ((0.5, math.inf), "finite stds > 0"),
])
def test_check_refuses_what_cannot_normalise(value, message):
    with pytest.raises(ValueError, match=message):
        check_normalization(value)


def test_check_names_the_argument():
    with pytest.raises(ValueError, match=r"^stats must be None or"):
        check_normalization("red", name="stats")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_kernel_is_the_formula_in_the_input_dtype(dtype):
    x = torch.rand(4, 3, 5, 6, generator=torch.Generator().manual_seed(0), dtype=dtype)
    out = normalize(x, MEAN, STD)
    assert out.dtype == dtype and out.shape == x.shape
    torch.testing.assert_close(out.double(), _reference(x, MEAN, STD), rtol=1e-6, atol=1e-6)


def test_float_kernel_broadcasts_one_value_and_takes_rows():
    rows = torch.rand(7, 4, dtype=torch.float64)  # N x D: the features are the channels
    torch.testing.assert_close(normalize(rows, 0.5, 0.25), (rows - 0.5) / 0.25)
    mean, std = np.arange(4.0), np.arange(1.0, 5.0)
    torch.testing.assert_close(normalize(rows, mean, std), _reference(rows, mean, std))


def test_float_kernel_keeps_the_graph():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    normalize(x, MEAN, STD).sum().backward()
    torch.testing.assert_close(x.grad, (1 / torch.tensor(STD)).reshape(1, 3, 1, 1).expand_as(x))


def test_uint8_kernel_converts_and_normalises_in_float32():
    x = torch.randint(0, 256, (4, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = normalize_uint8(x, MEAN, STD)
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(out.double(), _reference(x.double() / 255, MEAN, STD), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out, normalize(x.float() / 255, MEAN, STD), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel, dtype", [(normalize, torch.float32), (normalize_uint8, torch.uint8)])
def test_memory_format_is_kept_or_as_requested(kernel, dtype):
    x = (torch.rand(2, 3, 4, 5) * 255).to(dtype)
    last = x.contiguous(memory_format=torch.channels_last)
    assert kernel(x, MEAN, STD).is_contiguous()
    assert kernel(last, MEAN, STD).is_contiguous(memory_format=torch.channels_last)
    assert kernel(x, MEAN, STD, memory_format=torch.channels_last).is_contiguous(memory_format=torch.channels_last)
    plain = kernel(last, MEAN, STD, memory_format=torch.contiguous_format)
    assert plain.is_contiguous()
    torch.testing.assert_close(plain, kernel(x, MEAN, STD))  # the layout never changes the values
