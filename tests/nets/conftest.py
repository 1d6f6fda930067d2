"""Fixtures of the nets tests."""
import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="module")
def digits():
    """sklearn digits as uint8 images N x 1 x 8 x 8 (0..255), shuffled, split 1400 / 397."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = np.round(X[order] * 255 / 16).astype(np.uint8).reshape(-1, 1, 8, 8), y[order]
    return (X[:1400], y[:1400]), (X[1400:], y[1400:])
