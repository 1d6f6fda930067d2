"""Shared fixtures: small real data sets that ship with scikit-learn, and the CIFAR-10 folder."""
import os
from pathlib import Path

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


# The tests (never the library) know where the project's shared data lives.
SHARED_CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "train"


def cifar10_dir() -> Path | None:
    """The CIFAR-10 training ImageFolder: ``$AUGKIT_CIFAR10``, else ../shared beside the repository."""
    if os.environ.get("AUGKIT_CIFAR10"):
        return Path(os.environ["AUGKIT_CIFAR10"])
    return SHARED_CIFAR10 if SHARED_CIFAR10.is_dir() else None


@pytest.fixture(scope="session")
def cifar10_root():
    """Path of the CIFAR-10 training folder; skips the test with a clear message when it is absent."""
    root = cifar10_dir()
    if root is None or not root.is_dir():
        pytest.skip(f"CIFAR-10 not found: set AUGKIT_CIFAR10 or place the ImageFolder at {SHARED_CIFAR10}")
    return root
