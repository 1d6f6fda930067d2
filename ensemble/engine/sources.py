"""Batch sources: what the engine trains and predicts from.

Two kinds, one seam (:func:`ensemble.engine.orchestration.train` takes either):

- :class:`ArraySource`: prepared in-memory rows (uint8 or float images N x C x H x W, or
  standardised tabular rows N x D) and encoded labels. Batches are index slices of the one
  array, which sits on the training device for the whole run (airbench's data path).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["ArraySource"]


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
