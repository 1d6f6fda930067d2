"""augkit.data.datasets: scikit-learn's images, CIFAR-10 (from the environment only), the per-class split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import augkit.data as D


def test_last_per_class_split() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0])
    train, val = D.last_per_class_split(labels, 2)
    # class 0 at 0,1,2,10 -> val 2,10; class 1 at 3..6 -> val 5,6; class 2 at 7,8,9 -> val 8,9
    assert val.tolist() == [2, 5, 6, 8, 9, 10]
    assert train.tolist() == [0, 1, 3, 4, 7]
    assert train.dtype == val.dtype == np.int64
    train, val = D.last_per_class_split(torch.tensor(labels), 0)
    assert train.tolist() == list(range(11)) and val.tolist() == []
    with pytest.raises(ValueError, match="class 2 has 3 images, not more than n_per_class=3"):
        D.last_per_class_split(labels, 3)
    with pytest.raises(ValueError, match="n_per_class must be an int >= 0, got -1"):
        D.last_per_class_split(labels, -1)


def test_sklearn_datasets() -> None:
    images, labels = D.load_digits_images()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert images.max() == 255 and set(np.unique(images)) <= {round(v * 255 / 16) for v in range(17)}
    photos = D.load_sample_photos()
    assert photos.shape == (2, 427, 640, 3) and photos.dtype == np.uint8


def test_cifar10_root_from_env_and_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUGKIT_CIFAR10", str(tmp_path / "nowhere"))
    assert D.cifar10_root() == tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="AUGKIT_CIFAR10"):
        D.load_cifar10()


def test_cifar10_root_is_only_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("AUGKIT_CIFAR10", raising=False)
    assert D.cifar10_root() is None  # never a path guessed beside the package
    with pytest.raises(FileNotFoundError, match="AUGKIT_CIFAR10"):
        D.load_cifar10()


def test_cifar10_one_class(tmp_path: Path, cifar10_root) -> None:
    root = cifar10_root
    assert sorted(p.name for p in root.iterdir() if p.is_dir())[0] == "airplane"
    # One class through a symlinked tree keeps the test light (5000 images, not 50000).
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "airplane").symlink_to(root / "airplane")
    images, labels, classes = D.load_cifar10(tmp_path / "one", cache_dir=tmp_path / "cache", progress=False)
    assert images.shape == (5000, 32, 32, 3) and classes == ["airplane"] and (labels == 0).all()
    again, _, _ = D.load_cifar10(tmp_path / "one", cache_dir=tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(images, again)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: D.last_per_class_split(np.zeros(3, np.int64), 1.0), TypeError, r"n_per_class must be an int, got 1.0"),
    ],
)
def test_bad_arguments_name_the_argument(one_png: Path, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(one_png)
