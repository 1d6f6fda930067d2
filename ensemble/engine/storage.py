"""On-disk member records: atomic writes, and loading that never unpickles.

A member is two files in one folder:

- ``member_NNN.safetensors``: its ``state_dict`` (keys ``state/<name>``) and its bag
  (``bag/train_indices``, ``bag/val_indices``), in the safetensors format (no code inside);
- ``member_NNN.json``: its seed, history and the SHA-256 of the weights file.

Each file is written to a temporary name and renamed into place, the JSON last, so a member
counts as finished only when its JSON parses and names the exact bytes of its weights: a file
cut short by a killed process is never mistaken for a finished member.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from conventions import write_atomic

__all__ = ["MemberRecord", "save_member", "load_member", "finished_members", "qualified_name", "run_fingerprint", "file_sha256",
           "open_checkpoint", "write_json_atomic", "read_json", "checked_file", "UnsafeFileError"]

_MEMBER_FILE = re.compile(r"^member_(\d{3,})\.json$")


class UnsafeFileError(ValueError):
    """A saved file is not what it claims to be (wrong format, tampered, or outside its folder)."""


@dataclass
class MemberRecord:
    """One trained member: weights, bag and training record."""

    index: int
    seed: int
    state: dict[str, torch.Tensor]
    train_indices: np.ndarray
    val_indices: np.ndarray
    history: dict = field(default_factory=dict)


def write_json_atomic(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    data = json.dumps(obj, indent=1, sort_keys=True).encode()
    write_atomic(Path(path), lambda f: f.write(data))


def read_json(path: Path) -> dict:
    """Read a JSON object, refusing anything else (a pickle, binary junk) with a clear error."""
    path = Path(path)
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnsafeFileError(f"{path} is not a JSON file ({e.__class__.__name__}); refusing to load it") from None
    if not isinstance(obj, dict):
        raise UnsafeFileError(f"{path} must hold a JSON object; got {type(obj).__name__}")
    return obj


def checked_file(folder: Path, name: str) -> Path:
    """``folder / name`` where ``name`` is a plain file name: no separators, no ``..``, no links out."""
    folder = Path(folder).resolve()
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise UnsafeFileError(f"file name {name!r} in {folder} is not a plain file name inside the folder")
    path = (folder / name).resolve()
    if path.parent != folder:
        raise UnsafeFileError(f"file name {name!r} points outside {folder}")
    return path


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def member_stem(index: int) -> str:
    return f"member_{index:03d}"


def save_member(folder: Path, record: MemberRecord) -> None:
    """Write ``record`` into ``folder`` atomically (weights first, then the JSON that vouches for them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = member_stem(record.index)
    tensors = {f"state/{k}": v.detach().cpu().contiguous() for k, v in record.state.items()}
    tensors["bag/train_indices"] = torch.as_tensor(np.asarray(record.train_indices, dtype=np.int64))
    tensors["bag/val_indices"] = torch.as_tensor(np.asarray(record.val_indices, dtype=np.int64))
    weights = folder / f"{stem}.safetensors"
    data = save(tensors)
    write_atomic(weights, lambda f: f.write(data))
    meta = {"index": record.index, "seed": int(record.seed), "history": record.history,
            "weights": weights.name, "sha256": file_sha256(weights)}
    write_json_atomic(folder / f"{stem}.json", meta)


def load_member(folder: Path, meta_name: str) -> MemberRecord:
    """Load one member from its JSON record; the weights must match the recorded SHA-256."""
    folder = Path(folder)
    meta = read_json(checked_file(folder, meta_name))
    for key in ("index", "seed", "weights", "sha256"):
        if key not in meta:
            raise UnsafeFileError(f"{folder / meta_name} lacks the field {key!r}")
    weights = checked_file(folder, meta["weights"])
    if not weights.is_file():
        raise UnsafeFileError(f"{weights} is missing")
    if file_sha256(weights) != meta["sha256"]:
        raise UnsafeFileError(f"{weights} does not match the SHA-256 recorded in {meta_name}: "
                              "it was changed or cut short after the member was saved")
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError, ValueError) as e:
        raise UnsafeFileError(f"{weights} is not a valid safetensors file ({e}); refusing to load it") from None
    state = {k[len("state/"):]: v for k, v in tensors.items() if k.startswith("state/")}
    try:
        train, val = tensors["bag/train_indices"], tensors["bag/val_indices"]
    except KeyError as e:
        raise UnsafeFileError(f"{weights} lacks the tensor {e.args[0]!r}") from None
    return MemberRecord(index=int(meta["index"]), seed=int(meta["seed"]), state=state,
                        train_indices=train.numpy(), val_indices=val.numpy(), history=meta.get("history", {}))


def finished_members(folder: Path) -> dict[int, MemberRecord]:
    """Every member in ``folder`` whose record is complete and intact, by index.

    Incomplete members (a weights file without its JSON, a JSON whose hash does not match)
    are ignored: they are trained again.
    """
    folder = Path(folder)
    found: dict[int, MemberRecord] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if not _MEMBER_FILE.match(path.name):
            continue
        try:
            record = load_member(folder, path.name)
        except UnsafeFileError:
            continue
        found[record.index] = record
    return found


def qualified_name(factory) -> str:
    """``module.qualname`` of a callable (of its class for a callable object), partials spelled out."""
    if isinstance(factory, functools.partial):
        args = [repr(a) for a in factory.args] + [f"{k}={v!r}" for k, v in factory.keywords.items()]
        return f"functools.partial({qualified_name(factory.func)}, {', '.join(args)})"
    target = factory if hasattr(factory, "__qualname__") else type(factory)
    return f"{getattr(target, '__module__', None) or '?'}.{target.__qualname__}"


def run_fingerprint(data: Iterable[bytes], settings: dict) -> str:
    """SHA-256 (hex) identifying a run for safe resuming: its data, as byte strings, and every
    setting that changes a member (values compared by ``repr``; functions by their qualified
    name, which, unlike their ``repr``, is the same in every process)."""
    h = hashlib.sha256()
    for part in data:
        h.update(part)
    stable = lambda v: qualified_name(v) if callable(v) and not isinstance(v, type) else repr(v)
    h.update(repr(sorted((k, stable(v)) for k, v in settings.items())).encode())
    return h.hexdigest()


def open_checkpoint(folder: Path, fingerprint: str, resume: bool, n_members: int) -> dict[int, MemberRecord]:
    """Claim ``folder`` for the run identified by ``fingerprint``; returns the finished members
    to reuse (with ``resume``; indices below ``n_members``).

    ``run.json`` holds the fingerprint of the run that owns the folder: another run's folder is
    refused, and so is this run's with finished members unless ``resume`` (no silent overwrite).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_file = folder / "run.json"
    if run_file.exists():
        previous = read_json(run_file).get("fingerprint")
        if previous != fingerprint:
            raise ValueError(f"checkpoint_dir {folder} holds members of a different run (other data or "
                             "settings); use an empty folder")
        if not resume and finished_members(folder):
            raise ValueError(f"checkpoint_dir {folder} already holds finished members of this run: pass "
                             "resume=True to keep them, or empty the folder to train again")
    write_json_atomic(run_file, {"fingerprint": fingerprint})
    done = finished_members(folder) if resume else {}
    return {i: r for i, r in done.items() if i < n_members}
