"""Checking and preparing photo sources: a folder, a list of image files, a map-style Dataset.

Three kinds of photo input reach :class:`~ensemble.BaggedNetClassifier`, as ``X``:

- a folder path (``str`` or ``os.PathLike``) in the ImageFolder layout, one sub-folder per
  class, classes sorted by name as torchvision sorts them; ``classes_`` are the folder names
  and ``y`` is omitted;
- a list (or tuple) of image file paths, with ``y``;
- any map-style ``torch.utils.data.Dataset`` of ``(image, label)`` pairs, ``y`` omitted: an
  image may be a PIL image, a numpy H x W x C uint8 array or a C x H x W uint8 tensor, of any
  size. The labels are read from the Dataset's ``targets`` when it has them (torchvision's
  ``ImageFolder`` does), else from one pass over its items.

Every check that can run before training does: a missing folder or file, a folder without
class folders or with an empty one, and files that are empty, no image or cut short (the
cheap look of :func:`augkit.data.folder.check_image_files`, no pixel decoded) raise an error
naming them, or, with ``on_bad_image="skip"``, are left out with a warning and recorded.
The members' per-channel normalisation comes from the centre views of up to
:data:`STAT_IMAGES` evenly spaced training photos.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from augkit.data import BadImageError
from augkit.data.folder import check_image_files, scan_image_folder

from .engine.members import available_cores
from .engine.photos import DatasetItems, FileItems, PhotoGeometry, photo_geometry
from .engine.sources import StreamSource
from .inputs import InputSpec

__all__ = ["is_photo_input", "prepare_photo_fit", "prepare_photo_predict", "STAT_IMAGES"]

#: Photos whose centre views give the members' per-channel mean and std.
STAT_IMAGES = 256


def _is_path(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def is_photo_input(X) -> bool:
    """True for a folder path, a non-empty list, tuple or 1-d numpy array of paths, or a map-style
    torch Dataset."""
    if _is_path(X):
        return True
    if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "UO":
        X = X.tolist()
    if isinstance(X, (list, tuple)) and X and all(_is_path(x) for x in X):
        return True
    return isinstance(X, torch.utils.data.Dataset) and not isinstance(X, torch.utils.data.IterableDataset)


def _dataset_labels(dataset, num_workers: int) -> np.ndarray:
    """The labels of a Dataset: its ``targets`` when they match its length, else one pass over it."""
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == len(dataset):
        return np.asarray([int(t) if isinstance(t, torch.Tensor) else t for t in targets])
    loader = torch.utils.data.DataLoader(_Labels(dataset), batch_size=64, num_workers=num_workers,
                                         collate_fn=list)
    return np.asarray([label for batch in loader for label in batch])


class _Labels(torch.utils.data.Dataset):
    """The labels of a Dataset's items (read on DataLoader workers)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        label = self.dataset[i][1]
        return int(label) if isinstance(label, torch.Tensor) else label


def _items(X, y, num_workers: int) -> tuple[FileItems | DatasetItems, np.ndarray | None, list[str] | None]:
    """(how rows are read, their labels (None when unknown), the folder's class names or None)."""
    if _is_path(X):
        if y is not None:
            raise ValueError("X is a folder: its classes are its sub-folders, so y must be omitted")
        classes, paths, labels = scan_image_folder(X)
        return FileItems(paths), labels, classes
    if isinstance(X, np.ndarray):  # a 1-d array of paths
        X = X.tolist()
    if isinstance(X, (list, tuple)):
        missing = [str(p) for p in X if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"{len(missing)} of the {len(X)} image files do not exist, e.g. {missing[0]!r}")
        return FileItems(X), (None if y is None else column_or_1d(np.asarray(y), warn=True)), None
    if y is not None:
        raise ValueError("X is a Dataset of (image, label) pairs: its labels come from it, so y must be omitted")
    if len(X) == 0:
        raise ValueError("the Dataset is empty: need at least one (image, label) pair")
    return DatasetItems(X), _dataset_labels(X, num_workers), None


def _prescan(items, on_bad_image: str, progress: bool) -> list[int]:
    """Rows of ``items`` that the cheap look finds bad: raise naming them, or (skip) warn and return them."""
    if not isinstance(items, FileItems):
        return []
    bad = check_image_files(items.paths, progress=progress)
    if not bad:
        return []
    listed = "; ".join(f"{path!r}: {reason}" for path, reason in bad[:5]) + (
        f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    if on_bad_image == "raise":
        path, reason = bad[0]
        raise BadImageError(path, f"{reason}. {len(bad)} bad file(s) found before training: {listed}. Remove or "
                                  "replace them, or pass on_bad_image='skip' to leave them out")
    warnings.warn(f"leaving out {len(bad)} bad image file(s): {listed}", UserWarning, stacklevel=4)
    rows = {path: i for i, path in enumerate(items.paths)}
    return [rows[path] for path, _ in bad]


def _channel_statistics(source: StreamSource) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (floored at 1e-6) on the [0, 1] scale of the centre views of up to
    :data:`STAT_IMAGES` evenly spaced rows (float64, 3 each)."""
    rows = np.setdiff1d(np.arange(len(source)), sorted(source.skipped))
    rows = rows[np.linspace(0, len(rows) - 1, min(len(rows), STAT_IMAGES)).round().astype(np.int64)]
    total, total_sq, count = np.zeros(3), np.zeros(3), 0
    for views, _ in source.view_chunks(rows, [None], 64, desc="normalisation"):
        x = views[0][:, 0].double() / 255
        total += x.sum(dim=(0, 2, 3)).numpy()
        total_sq += (x * x).sum(dim=(0, 2, 3)).numpy()
        count += x.shape[0] * x.shape[2] * x.shape[3]
    if count == 0:
        raise ValueError("no photo could be read: every image is bad")
    mean = total / count
    return mean, np.maximum(np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0)), 1e-6)


def _workers(estimator) -> int:
    """DataLoader workers: ``num_workers``, or, when None, a quarter of this process's cores (at
    least 1): decoding a photo costs a fraction of the members' steps on it."""
    if estimator.num_workers is not None:
        return int(estimator.num_workers)
    return max(1, available_cores() // 4)


def prepare_photo_fit(estimator, X, y) -> StreamSource:
    """Check a photo source and learn what prediction needs: ``classes_``, ``input_spec_``,
    ``n_features_in_``, ``input_mean_``, ``input_scale_``. Returns the training stream (labels
    encoded 0..K-1, files found bad by the pre-scan left out when skipping).

    Raises
    ------
    ValueError, FileNotFoundError, BadImageError
        Before any training: see the module docstring.
    """
    geometry = photo_geometry(estimator.augment, estimator.image_size)
    workers = _workers(estimator)
    items, labels, folder_classes = _items(X, y, workers)
    if labels is None:
        raise ValueError("y is required with a list of image files (one label per file)")
    if len(labels) != len(items):
        raise ValueError(f"found {len(items)} images but {len(labels)} labels")
    progress = estimator.verbose > 0
    skipped = _prescan(items, estimator.on_bad_image, progress)
    if folder_classes is not None:
        estimator.classes_, encoded = np.asarray(folder_classes), labels
    else:
        check_classification_targets(labels)
        estimator.classes_, encoded = np.unique(labels, return_inverse=True)
    if len(estimator.classes_) < 2:
        raise ValueError(f"the photos hold 1 class ({estimator.classes_[0]!r}); a classifier needs at least 2 classes")
    source = StreamSource(items, encoded.astype(np.int64), geometry, num_workers=workers,
                          on_bad_image=estimator.on_bad_image, skipped=skipped, progress=progress)
    h, w = geometry.size
    estimator.input_spec_ = InputSpec("image", (3, h, w), resize=geometry.resize)
    estimator.n_features_in_ = 3 * h * w
    estimator.input_mean_, estimator.input_scale_ = _channel_statistics(source)
    return source


def prepare_photo_predict(estimator, X, y=None) -> StreamSource:
    """A prediction stream of photo input for an ensemble fitted on photos; a folder's labels (or
    ``y``, for files) encoded by ``classes_`` when they are all known classes (else None). Bad
    images raise, naming the file."""
    check_is_fitted(estimator, "estimators_")
    spec = estimator.input_spec_
    if not spec.photos:
        raise ValueError(f"this ensemble was fitted on arrays of shape {spec.shape}: pass arrays, or fit it on "
                         "photos (a folder, a list of files or a Dataset)")
    items, labels, folder_classes = _items(X, y, _workers(estimator))
    _prescan(items, "raise", estimator.verbose > 0)
    encoded = None
    if labels is not None:
        names = np.asarray(folder_classes)[labels] if folder_classes is not None else labels
        known = np.isin(names, estimator.classes_)
        if known.all():
            encoded = np.searchsorted(estimator.classes_, names).astype(np.int64)
    geometry = PhotoGeometry(size=tuple(spec.shape[1:]), resize=spec.resize)
    return StreamSource(items, encoded, geometry, num_workers=_workers(estimator), on_bad_image="raise",
                        progress=estimator.verbose > 0)
