"""The on-disk cache of decoded folders: a uint8 ``.npy`` array plus a JSON record.

An entry is keyed by a hash of the relative file list, the files' sizes and mtimes, the decode
settings and the decoders' versions (Pillow, simplejpeg), so a changed file rebuilds it. The JSON holds the array's
SHA-256 and is written last, so a truncated or corrupt entry is detected and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import PIL
import simplejpeg

from conventions.files import write_atomic

from .folder import _FileEntry

# Bumped whenever the cached array could differ for the same files (decoding rules, layout).
_CACHE_FORMAT = 3


def _default_cache_dir() -> Path:
    return Path(os.environ.get("AUGKIT_CACHE") or Path.home() / ".cache" / "augkit")


def _cache_key(
    classes: list[str], files: list[_FileEntry], size: tuple[int, int] | None, max_pixels: int
) -> str:
    description = {
        "format": _CACHE_FORMAT,
        "pillow": PIL.__version__,
        "simplejpeg": simplejpeg.__version__,
        "classes": classes,
        "files": [[f.relpath, f.nbytes, f.mtime_ns] for f in files],
        "size": size,
        "max_pixels": max_pixels,
    }
    return hashlib.sha256(json.dumps(description).encode()).hexdigest()


def _digest(images: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(images)).cast("B")).hexdigest()


def _read_cache(array_path: Path, meta_path: Path, key: str) -> dict | None:
    """The cached entry if it is complete and its checksum matches; None otherwise."""
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(array_path, allow_pickle=False)
        labels = np.asarray(meta["labels"], dtype=np.int64)
        valid = (
            meta["key"] == key
            and images.dtype == np.uint8
            and list(images.shape) == meta["shape"]
            and labels.shape == images.shape[:1]
            and _digest(images) == meta["sha256"]
        )
    except (OSError, ValueError, EOFError, KeyError, TypeError):
        valid = False
    if not valid:
        warnings.warn(f"ignoring corrupt cache entry {str(meta_path)!r}; rebuilding it", stacklevel=3)
        return None
    return {"images": images, "labels": labels, "classes": meta["classes"], "skipped": meta["skipped"]}


def _write_cache(array_path: Path, meta_path: Path, key: str, entry: dict) -> None:
    images = entry["images"]
    meta = {
        "key": key,
        "shape": list(images.shape),
        "sha256": _digest(images),
        "classes": entry["classes"],
        "labels": entry["labels"].tolist(),
        "skipped": entry["skipped"],
    }
    try:
        array_path.parent.mkdir(parents=True, exist_ok=True)
        # The array first, the metadata last: the metadata file marks a complete entry.
        write_atomic(array_path, lambda handle: np.save(handle, images, allow_pickle=False))
        write_atomic(meta_path, lambda handle: handle.write(json.dumps(meta).encode()))
    except OSError as err:
        message = f"could not write the image cache in {str(array_path.parent)!r}: {err}"
        warnings.warn(message, stacklevel=3)
