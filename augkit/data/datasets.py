"""Dataset helpers: scikit-learn's digits and sample photos, CIFAR-10 from a given folder, splits.

A dataset location comes from an argument or an environment variable, never from a path guessed
beside the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from conventions import check_int

from .decoding import PathLike
from .loading import load_image_folder

__all__ = ["cifar10_root", "last_per_class_split", "load_cifar10", "load_digits_images", "load_sample_photos"]


def load_cifar10(root: PathLike | None = None, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load the CIFAR-10 training images with :func:`load_image_folder` (cached after the first load).

    Parameters
    ----------
    root : str or os.PathLike, optional
        The ImageFolder tree ``<root>/<class>/<image>``; None reads it from the
        ``AUGKIT_CIFAR10`` environment variable (:func:`cifar10_root`).
    **kwargs
        Passed to :func:`load_image_folder`.

    Returns
    -------
    images : numpy.ndarray
        uint8, N x 32 x 32 x 3.
    labels : numpy.ndarray
        int64, N.
    classes : list of str
        The 10 class names.

    Raises
    ------
    FileNotFoundError
        When the folder is not given or missing.
    """
    if root is None:
        root = cifar10_root()
    if root is None or not Path(root).is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 training images not found (root={None if root is None else str(root)!r}): "
            "pass root=<ImageFolder tree <root>/<class>/<image>> or set AUGKIT_CIFAR10 to it"
        )
    return load_image_folder(root, **kwargs)


def cifar10_root() -> Path | None:
    """The CIFAR-10 training ImageFolder named by ``$AUGKIT_CIFAR10``, or None when it is unset."""
    from_env = os.environ.get("AUGKIT_CIFAR10")
    return Path(from_env) if from_env else None


def last_per_class_split(labels: np.ndarray | torch.Tensor, n_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the last ``n_per_class`` images of each class (in file order) for validation.

    Parameters
    ----------
    labels : numpy.ndarray or torch.Tensor
        int, N (e.g. from :func:`load_image_folder`, whose order is file order).
    n_per_class : int
        Validation images per class (>= 0).

    Returns
    -------
    train_idx, val_idx : numpy.ndarray
        int64 indices into ``labels``, each ascending.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D int, ``n_per_class < 0``, or some class has ``n_per_class``
        images or fewer (nothing left to train on).
    TypeError
        If ``n_per_class`` is not an int.
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D int array, got dtype {labels.dtype} and shape {labels.shape}")
    n_per_class = check_int(n_per_class, "n_per_class", minimum=0)
    is_val = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= n_per_class:
            raise ValueError(f"class {int(label)} has {len(members)} images, not more than n_per_class={n_per_class}")
        is_val[members[len(members) - n_per_class:]] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as images.

    Returns
    -------
    images : numpy.ndarray
        uint8, N x 8 x 8 x 1 (values 0..16 scaled to 0..255, rounded).
    labels : numpy.ndarray
        int64, N.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    return images, digits.target.astype(np.int64)


def load_sample_photos() -> np.ndarray:
    """scikit-learn's two sample photos (china, flower; no download).

    Returns
    -------
    numpy.ndarray
        uint8, 2 x 427 x 640 x 3.
    """
    from sklearn.datasets import load_sample_images

    return np.stack(load_sample_images().images).astype(np.uint8)
