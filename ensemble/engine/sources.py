"""Batch sources: what the engine trains and predicts from.

Two kinds, one seam (:func:`ensemble.engine.orchestration.train` takes either):

- :class:`ArraySource`: prepared in-memory rows (uint8 or float images N x C x H x W, or
  standardised tabular rows N x D) and encoded labels. Batches are index slices of the one
  array, which sits on the training device for the whole run (airbench's data path).
- :class:`StreamSource`: photos of any size, read on DataLoader workers: image files (a
  folder or a list of paths) or the items of a map-style Dataset. A training epoch decodes
  each image once, takes its per-image crop there (:mod:`ensemble.engine.photos`) and yields
  uint8 batches ``B x 3 x h x w`` with the rows' indices, in an order and with crops that
  depend only on (seed, epoch, row): not on the number of workers, nor on which members
  consume the batches. Evaluation yields every requested test view of each image from one
  decode. Memory holds a few batches, whatever the number of images.

Bad images: a row that cannot be read raises :class:`augkit.data.BadImageError` naming it
(``on_bad_image="raise"``), or is skipped with a warning and recorded in ``skipped``
(``"skip"``). Workers never raise for a bad image; they hand it back, and this process
decides, so the error that reaches the caller is typed and names the file.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from augkit.data import BadImageError, item_seed

from .photos import BAD_ITEM_ERRORS, DatasetItems, FileItems, PhotoGeometry, decode_side, photo_views

__all__ = ["ArraySource", "StreamSource", "BadItem"]


@dataclass(frozen=True)
class ArraySource:
    """In-memory rows: ``X`` prepared (:func:`ensemble.inputs.prepare_fit_data`), ``y`` int64
    labels 0..K-1 (only for training; None for prediction)."""

    X: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    def fingerprint_parts(self) -> Iterator[bytes | memoryview]:
        """What identifies the rows for :func:`ensemble.engine.storage.run_fingerprint`."""
        yield memoryview(np.ascontiguousarray(self.X)).cast("B")
        yield f"{self.X.shape}{self.X.dtype}".encode()
        yield np.asarray(self.y).tobytes()


class BadItem(NamedTuple):
    """A row a worker could not read, and why."""

    index: int
    reason: str


def _bad(index: int, err: BaseException) -> BadItem:
    return BadItem(index, err.reason if isinstance(err, BadImageError) else f"{type(err).__name__}: {err}")


class _TrainCrops(torch.utils.data.Dataset):
    """Row i of one epoch: its per-image crop (uint8 3 x h x w) drawn from item_seed(seed, epoch, i)."""

    def __init__(self, items, geometry: PhotoGeometry, seed: int, epoch: int) -> None:
        self.items, self.crop, self.seed, self.epoch = items, geometry.crop, seed, epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        generator = torch.Generator().manual_seed(item_seed(self.seed, self.epoch, i))
        try:
            return self.items.train_crop(i, self.crop, generator), i
        except BAD_ITEM_ERRORS as err:
            return _bad(i, err)


class _Views(torch.utils.data.Dataset):
    """Row ``rows[j]``: its test views for each of ``modes``, from one decode."""

    def __init__(self, items, rows: np.ndarray, geometry: PhotoGeometry, modes: Sequence) -> None:
        self.items, self.rows, self.geometry, self.modes = items, rows, geometry, list(modes)
        self.side = decode_side(geometry, self.modes)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j: int):
        i = int(self.rows[j])
        try:
            return photo_views(self.items.image(i, self.side), self.geometry, self.modes), i
        except BAD_ITEM_ERRORS as err:
            return _bad(i, err)


def _collate(items: list) -> tuple:
    """(images B x ... uint8, or a list of them per mode; row indices int64 B; the bad rows)."""
    good = [item for item in items if not isinstance(item, BadItem)]
    bad = [item for item in items if isinstance(item, BadItem)]
    rows = torch.tensor([row for _, row in good], dtype=torch.long)
    if not good:
        return None, rows, bad
    first = good[0][0]
    if isinstance(first, list):
        return [torch.stack([image[k] for image, _ in good]) for k in range(len(first))], rows, bad
    return torch.stack([image for image, _ in good]), rows, bad


class StreamSource:
    """Photos read on DataLoader workers (see the module docstring).

    Parameters
    ----------
    items : FileItems or DatasetItems
        How row i is read.
    y : numpy.ndarray or None
        int64 labels 0..K-1 of the rows (None for prediction).
    geometry : PhotoGeometry
        The crop size, evaluation resize and per-image training stage.
    num_workers : int
        DataLoader worker processes (0: read in this process).
    on_bad_image : {"raise", "skip"}
        What a row that cannot be read does.
    skipped : iterable of int
        Rows already known to be bad (left out of every pass).
    progress : bool
        Progress bars over images.
    """

    def __init__(self, items: FileItems | DatasetItems, y: np.ndarray | None, geometry: PhotoGeometry, *,
                 num_workers: int = 0, on_bad_image: str = "raise", skipped=(), progress: bool = False) -> None:
        self.items, self.y, self.geometry = items, y, geometry
        self.num_workers, self.on_bad_image, self.progress = num_workers, on_bad_image, progress
        self.skipped: set[int] = set(int(i) for i in skipped)

    def __len__(self) -> int:
        return len(self.items)

    def fingerprint_parts(self) -> Iterator[bytes]:
        """What identifies the rows for :func:`ensemble.engine.storage.run_fingerprint`: each
        file's path, size and modification time (a Dataset's type and length), the labels and
        the geometry."""
        if isinstance(self.items, FileItems):
            for path in self.items.paths:
                stat = os.stat(path)
                yield f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        else:
            yield f"{type(self.items.dataset).__qualname__}\0{len(self.items)}".encode()
        yield np.asarray(self.y).tobytes()
        yield repr(self.geometry).encode()

    def _read(self, dataset: torch.utils.data.Dataset, batch_size: int, order: Sequence[int], desc: str) -> Iterator:
        """Collated batches of ``dataset`` items in ``order``, read on the workers, bad rows
        handled here (see :meth:`_handle_bad`), with a progress bar over images."""
        # The platform's own start method, named: inside a joblib (loky) worker the default is loky's.
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn") \
            if self.num_workers else None
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=list(order),
                                             num_workers=self.num_workers, collate_fn=_collate,
                                             multiprocessing_context=context)
        bar = tqdm(total=len(order), desc=desc, unit="img", leave=False, disable=not self.progress or None)
        try:
            for images, rows, bad in loader:
                self._handle_bad(bad)
                bar.update(len(rows) + len(bad))
                if len(rows):
                    yield images, rows
        finally:
            bar.close()

    def _handle_bad(self, bad: list[BadItem]) -> None:
        """Raise for the first bad row, or skip them all with a warning (``on_bad_image``)."""
        for item in bad:
            name = self.items.name(item.index)
            if self.on_bad_image == "raise":
                raise BadImageError(name, item.reason + " (on_bad_image='skip' leaves such files out of training)")
            if item.index not in self.skipped:
                warnings.warn(f"skipping {name!r}: {item.reason}", UserWarning, stacklevel=4)
                self.skipped.add(item.index)

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        """The rows of epoch ``epoch`` in their order: a permutation drawn from (seed, epoch),
        the skipped rows left out."""
        order = np.random.default_rng([seed, epoch]).permutation(len(self))
        return order[~np.isin(order, list(self.skipped))] if self.skipped else order

    def train_batches(self, seed: int, epoch: int, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Epoch ``epoch``'s batches: (uint8 B x 3 x h x w crops, int64 B row indices)."""
        order = self.epoch_order(seed, epoch)
        return self._read(_TrainCrops(self.items, self.geometry, seed, epoch), batch_size, order, f"epoch {epoch}")

    def view_chunks(self, rows: np.ndarray, modes: Sequence[str | Callable | None],
                    images_per_chunk: int, desc: str = "predicting") -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
        """The views of ``rows`` (skipped rows left out), a chunk of images at a time: (per mode
        uint8 n x V x 3 x h x w, int64 n row indices)."""
        rows = np.asarray(rows)
        if self.skipped:
            rows = rows[~np.isin(rows, list(self.skipped))]
        return self._read(_Views(self.items, rows, self.geometry, modes), images_per_chunk, range(len(rows)), desc)
