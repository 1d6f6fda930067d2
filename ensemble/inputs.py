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

__all__ = ["InputSpec", "as_image_array", "is_image_input"]


@dataclass(frozen=True)
class InputSpec:
    """What a fitted ensemble expects: ``kind`` is ``"tabular"`` or ``"image"``; ``shape`` is
    the per-sample shape the members see (``(D,)`` or ``(C, H, W)``); ``layout`` is how image
    arrays arrived (``"NHWC"`` or ``"NCHW"``)."""

    kind: str
    shape: tuple[int, ...]
    layout: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "layout": self.layout}

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        return cls(kind=str(d["kind"]), shape=tuple(int(s) for s in d["shape"]), layout=d.get("layout"))


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

    Args:
        X: ``N x H x W x C`` / ``N x C x H x W`` / ``N x H x W`` array, tensor or list of images.
        layout: ``"NHWC"`` or ``"NCHW"`` to force one (as fitted); ``None`` infers it: channels
            last when the last axis has 1 or 3 entries, else channels first.

    Returns:
        (uint8 or float32 array ``N x C x H x W``, layout).
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
