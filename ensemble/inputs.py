"""Checking and preparing the arrays an ensemble trains and predicts on.

Two kinds of input reach :class:`~ensemble.BaggedNetClassifier`:

- tabular: ``N x D`` numbers, standardised per feature with the training set's mean and scale;
- images: ``N x H x W x C`` or ``N x C x H x W`` (``C`` = 1 or 3), uint8 in [0, 255] or float in
  [0, 1], or ``N x H x W`` grayscale; kept as ``N x C x H x W`` (uint8 stays uint8, so a large
  set stays small) and normalised per channel on the fly by :func:`nets.to_float_batch`.

Every check runs before any training starts, and every message names the offending input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data

from conventions import normalize

from .engine.sources import ArraySource

__all__ = ["InputSpec", "as_image_array", "is_image_input", "prepare_fit_data", "prepare_predict_data", "standardise"]


@dataclass(frozen=True)
class InputSpec:
    """What a fitted ensemble expects: ``kind`` is ``"tabular"`` or ``"image"``; ``shape`` is
    the per-sample shape the members see (``(D,)`` or ``(C, H, W)``); ``layout`` is how image
    arrays arrived (``"NHWC"`` or ``"NCHW"``); ``resize`` is S, the shorter side photos are
    resized to before their centre crop, for an ensemble fitted on photos (None otherwise)."""

    kind: str
    shape: tuple[int, ...]
    layout: str | None = None
    resize: int | None = None

    @property
    def photos(self) -> bool:
        """Whether the ensemble was fitted on photos (a folder, files or a Dataset)."""
        return self.resize is not None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "layout": self.layout, "resize": self.resize}

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        resize = d.get("resize")
        return cls(kind=str(d["kind"]), shape=tuple(int(s) for s in d["shape"]), layout=d.get("layout"),
                   resize=None if resize is None else int(resize))


def is_image_input(X) -> bool:
    """True for arrays of rank 3 or 4 (image batches); tabular data is rank 2."""
    if isinstance(X, (list, tuple)) and X and hasattr(X[0], "shape"):
        return np.ndim(X[0]) >= 2
    return np.ndim(X) >= 3 if hasattr(X, "shape") else False


def _stack_same_size(images) -> np.ndarray:
    shapes = [np.shape(im) for im in images]
    first = shapes[0]
    for i, s in enumerate(shapes):
        if s != first:
            raise ValueError(f"images of mixed sizes: image 0 has shape {first} but image {i} has shape {s}; "
                             "resize them to one size first (e.g. augkit.data.load_image_folder(size=...))")
    return np.stack([np.asarray(im) for im in images])


def as_image_array(X, layout: str | None = None, name: str = "X") -> tuple[np.ndarray, str]:
    """Check an image batch and return it as a contiguous ``N x C x H x W`` array and its layout.

    Parameters
    ----------
    X : array-like, torch.Tensor or list of images
        ``N x H x W x C``, ``N x C x H x W`` or ``N x H x W`` (grayscale) images, ``C`` = 1 or 3:
        uint8 in [0, 255] or float in [0, 1]; a list holds ``N`` images of one size.
    layout : {"NHWC", "NCHW"} or None
        Force one layout (as fitted); ``None`` infers it: channels last when the last axis has
        1 or 3 entries, else channels first.
    name : str
        The argument's name in error messages.

    Returns
    -------
    images : numpy.ndarray
        uint8 (as given) or float32 ``N x C x H x W``, contiguous.
    layout : {"NHWC", "NCHW"}
        The layout ``X`` was read in.

    Raises
    ------
    ValueError
        For an empty batch, images of mixed sizes, another rank or channel count, or float
        values outside [0, 1].
    TypeError
        For pixels that are neither uint8 nor numbers.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, (list, tuple)):
        if not X:
            raise ValueError(f"{name} is empty: need at least one image")
        X = _stack_same_size(X)
    X = np.asarray(X)
    if X.dtype == object:
        raise ValueError(f"{name} has dtype object (images of mixed sizes?); pass one array of equal-size images")
    if X.ndim == 3:
        X = X[..., None]
        layout = "NHWC"
    if X.ndim != 4:
        raise ValueError(f"{name} must be a batch of images N x H x W x C or N x C x H x W; got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 images, shape {X.shape})")
    if layout is None:
        layout = "NHWC" if X.shape[3] in (1, 3) else "NCHW"
    if layout == "NHWC":
        X = X.transpose(0, 3, 1, 2)
    if X.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels; got shape {X.shape} read as {layout}")
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X), layout
    if X.dtype.kind not in "fiu" or X.dtype == np.bool_:
        raise TypeError(f"{name} must hold uint8 (0..255) or float (0..1) pixels; got dtype {X.dtype}")
    X = check_array(X.reshape(len(X), -1), dtype=np.float32, input_name=name).reshape(X.shape)
    lo, hi = float(X.min()), float(X.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: float images must lie in [0, 1]; got values in [{lo:g}, {hi:g}] "
                         "(pass uint8 images for 0..255)")
    return np.ascontiguousarray(X), layout


def prepare_fit_data(estimator, X, y) -> ArraySource:
    """Check the training rows and labels of ``estimator`` (a BaggedNetClassifier) and learn what
    prediction needs: ``input_spec_``, ``n_features_in_``, ``input_mean_``, ``input_scale_``,
    ``classes_``. Returns the batch source: the prepared rows (images N x C x H x W as they
    came, uint8 or float; tabular rows standardised, float32) and the labels encoded 0..K-1
    (int64)."""
    if is_image_input(X):
        if y is None:
            raise ValueError("y is required: BaggedNetClassifier is a supervised estimator")
        images, layout = as_image_array(X)
        y = column_or_1d(np.asarray(y), warn=True)
        check_consistent_length(images, y)
        estimator.input_spec_ = InputSpec("image", tuple(images.shape[1:]), layout)
        estimator.n_features_in_ = int(np.prod(images.shape[1:]))
        floats = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images
        estimator.input_mean_ = floats.mean(axis=(0, 2, 3)).astype(np.float64)
        estimator.input_scale_ = np.maximum(floats.std(axis=(0, 2, 3)), 1e-6).astype(np.float64)
        prepared = images
    else:
        if estimator.augment is not None:
            raise ValueError("augment is for image input (N x H x W x C); got tabular X")
        X, y = validate_data(estimator, X, y, dtype=[np.float64, np.float32], y_numeric=False)
        estimator.input_spec_ = InputSpec("tabular", (X.shape[1],))
        # float64 statistics, so that a saved and reloaded ensemble standardises identically
        estimator.input_mean_ = X.mean(axis=0, dtype=np.float64)
        estimator.input_scale_ = _feature_scale(X.std(axis=0, dtype=np.float64))
        prepared = standardise(estimator, X)
    check_classification_targets(y)
    estimator.classes_, encoded = np.unique(y, return_inverse=True)
    if len(estimator.classes_) < 2:
        raise ValueError(f"y holds 1 class ({estimator.classes_[0]!r}); a classifier needs at least 2 classes")
    return ArraySource(prepared, encoded.astype(np.int64))


def standardise(estimator, X: np.ndarray) -> np.ndarray:
    """Tabular rows ``N x D`` standardised per feature with ``estimator``'s training statistics
    (``input_mean_``, ``input_scale_``); computed in float64, returned as float32 ``N x D``."""
    rows = torch.from_numpy(np.asarray(X, dtype=np.float64))
    return normalize(rows, estimator.input_mean_, estimator.input_scale_).numpy().astype(np.float32)


def prepare_predict_data(estimator, X) -> np.ndarray:
    """Check rows to predict against what ``estimator`` was fitted on; returns them prepared."""
    check_is_fitted(estimator, "estimators_")
    spec = estimator.input_spec_
    if spec.kind == "image":
        if not is_image_input(X):
            raise ValueError(f"this ensemble was fitted on images of shape {spec.shape} (C, H, W); "
                             f"got an array of rank {np.ndim(X)}")
        images, _ = as_image_array(X, layout=spec.layout)
        if tuple(images.shape[1:]) != spec.shape:
            raise ValueError(f"X has images of shape {tuple(images.shape[1:])} (C, H, W) but this ensemble "
                             f"was fitted on {spec.shape}")
        return images
    X = validate_data(estimator, X, reset=False, dtype=[np.float64, np.float32])
    return standardise(estimator, X)


def _feature_scale(std: np.ndarray) -> np.ndarray:
    """Per-feature divisors for standardisation: the standard deviation, floored at a tenth of
    the median feature's (or 1 when every feature is constant).

    Without the floor a nearly constant feature (digits' corner pixels: one non-zero value in
    a thousand) is divided by a tiny std, so its rare values become hundreds of standard units
    and can make SGD diverge; StandardScaler guards only exact zeros.
    """
    positive = std[std > 0]
    floor = 0.1 * float(np.median(positive)) if positive.size else 1.0
    return np.maximum(std, floor)
