"""Folder scanning: an ImageFolder tree ``root/<class>/<file>`` -> sorted classes and files.

Classes are the sorted non-hidden sub-folders of ``root`` (class index = position in that list);
files are sorted by relative path within a class (sub-folders are searched too). Hidden files
and folders (names starting with ".", e.g. ``.DS_Store``) are ignored silently.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .decoding import BadImageError

OnError = Literal["warn", "raise"]
ON_ERROR_CHOICES = ("warn", "raise")


@dataclass(frozen=True)
class _FileEntry:
    relpath: str  # posix path relative to root, "class/name.jpg"
    label: int
    nbytes: int
    mtime_ns: int


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_files(directory: str, relative: str, label: int) -> Iterator[_FileEntry]:
    # os.scandir + plain strings: pathlib costs seconds on a 50k-file tree, the cache hit's budget.
    with os.scandir(directory) as entries:
        for entry in entries:
            if _is_hidden(entry.name):
                continue
            relpath = f"{relative}/{entry.name}"
            if entry.is_dir():
                yield from _walk_files(entry.path, relpath, label)
            elif entry.is_file():
                stat = entry.stat()
                yield _FileEntry(relpath, label, stat.st_size, stat.st_mtime_ns)


def _scan_folder(root: Path) -> tuple[list[str], list[_FileEntry]]:
    """List class folders (sorted) and their files (sorted by relative path, hidden ones skipped)."""
    if not root.is_dir():
        raise ValueError(f"root={str(root)!r} is not a directory")
    classes = sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and not _is_hidden(entry.name)
    )
    if not classes:
        raise ValueError(f"root={str(root)!r} contains no class folders")
    files = []
    for label, name in enumerate(classes):
        found = list(_walk_files(os.path.join(root, name), name, label))
        files.extend(sorted(found, key=lambda entry: entry.relpath))
    if not files:
        raise ValueError(f"root={str(root)!r} contains no image files")
    return classes, files


def _report_empty_classes(
    root: Path, classes: list[str], labels: np.ndarray, on_empty_class: str
) -> None:
    counts = np.bincount(labels, minlength=len(classes))
    for label, name in enumerate(classes):
        if counts[label] == 0:
            message = (
                f"class folder {str(root / name)!r} has no decodable images; "
                f"its class index {label} is kept"
            )
            if on_empty_class == "raise":
                raise ValueError(message)
            warnings.warn(message, stacklevel=3)


def _report_bad(path: str, reason: str, on_error: str) -> None:
    if on_error == "raise":
        raise BadImageError(path, reason)
    warnings.warn(f"skipping bad image file {path!r}: {reason}", stacklevel=3)
