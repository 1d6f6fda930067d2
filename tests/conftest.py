"""Shared fixtures: small real data sets that ship with scikit-learn."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from augkit.data import load_digits_images

# The suite trains tiny models, which run fastest on one thread; two OpenMP threads on a
# 2-core machine that is busy with anything else slow them down many times over.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits_tabular():
    """sklearn digits as float features: (X 1797 x 64, y 1797)."""
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def digits_images():
    """sklearn digits as uint8 images N x 8 x 8 x 1 (0..16 scaled to 0..255) and labels."""
    return load_digits_images()
