"""Epoch-boundary checkpoints of a stream's members: a killed ``fit`` resumes where it stopped.

A stream trains all its members together, epoch by epoch, so an interrupted run has no
finished member to keep (:mod:`ensemble.engine.storage` keeps those); instead, after every
epoch the whole training state of the members trained together is written to the
checkpoint folder:

- ``stream_<key>.json``: the members it holds, the last finished epoch, each member's history,
  whether it is still training or diverged, its early-stopping state (best value, epoch,
  patience used), the name of the tensors file and its SHA-256;
- ``stream_<key>_epoch<E>.safetensors``: per member its weights and buffers (dropout counters
  included), its step's state (steps done, optimiser moments, look-ahead average) and its
  early-stopping snapshot.

The tensors are written first, the JSON that vouches for them last (both atomically), then
the previous epoch's tensors are removed: a process killed at any moment leaves the last
complete epoch loadable. Nothing is unpickled. The random streams need no saving: every
epoch's order, crops, augmentation and torch RNG are drawn from (seed, epoch) alone.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from conventions import write_atomic

from .storage import UnsafeFileError, checked_file, file_sha256, read_json, write_json_atomic

__all__ = ["EpochCheckpoint"]


class EpochCheckpoint:
    """The epoch state of the members ``members`` (indices) in ``folder``."""

    def __init__(self, folder: str | Path, members: list[int]) -> None:
        self.folder, self.members = Path(folder), [int(i) for i in members]
        key = hashlib.sha256(",".join(map(str, self.members)).encode()).hexdigest()[:12]
        self.stem = f"stream_{key}"

    def save(self, epoch: int, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Write the state after epoch ``epoch`` (0-based): ``tensors`` (str -> tensor) and the
        JSON values of ``meta``; then drop the previous epoch's tensors."""
        self.folder.mkdir(parents=True, exist_ok=True)
        weights = self.folder / f"{self.stem}_epoch{epoch}.safetensors"
        data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        write_atomic(weights, lambda f: f.write(data))
        write_json_atomic(self.folder / f"{self.stem}.json",
                          {"members": self.members, "epoch": epoch, "meta": meta, "weights": weights.name,
                           "sha256": file_sha256(weights)})
        for old in self.folder.glob(f"{self.stem}_epoch*.safetensors"):
            if old != weights:
                old.unlink(missing_ok=True)

    def load(self) -> tuple[int, dict[str, torch.Tensor], dict] | None:
        """``(epoch, tensors, meta)`` of the last saved epoch, or None when there is none.

        Raises :class:`~ensemble.engine.storage.UnsafeFileError` for a state whose files do not
        match (changed after saving, or another run's members)."""
        path = self.folder / f"{self.stem}.json"
        if not path.is_file():
            return None
        record = read_json(path)
        if record.get("members") != self.members:
            raise UnsafeFileError(f"{path} holds members {record.get('members')}, not {self.members}")
        weights = checked_file(self.folder, record["weights"])
        if not weights.is_file() or file_sha256(weights) != record.get("sha256"):
            raise UnsafeFileError(f"{weights} is missing or does not match the SHA-256 recorded in {path.name}")
        try:
            tensors = load_file(weights)
        except (SafetensorError, OSError, ValueError) as e:
            raise UnsafeFileError(f"{weights} is not a valid safetensors file ({e}); refusing to load it") from None
        return int(record["epoch"]), tensors, record["meta"]

    def clear(self) -> None:
        """Remove the epoch state (its members are saved as finished members)."""
        for path in self.folder.glob(f"{self.stem}*"):
            path.unlink(missing_ok=True)
