"""Folder scanning: an ImageFolder tree ``root/<class>/<file>`` -> sorted classes and files,
and the cheap check of image files that runs before a long job reads them.

Classes are the sorted non-hidden sub-folders of ``root`` (class index = position in that list);
files are sorted by relative path within a class (sub-folders are searched too). Hidden files
and folders (names starting with ".", e.g. ``.DS_Store``) are ignored silently.

:func:`check_image_file` looks at a file without decoding a pixel: its size, its header
(Pillow's parse, which names the format) and, for JPEG and PNG, whether the file reaches its
end marker. It catches empty files, files that are no image (a text file named ``.jpg``)
and files cut short, the faults a copy or a download leaves behind; a file that passes can
still fail to decode (corrupt compressed data), which the decoder reports.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from .decoding import BadImageError, PathLike

__all__ = ["scan_image_folder", "every_kth_per_class", "check_image_file", "check_image_files"]

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


def scan_image_folder(root: PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """The classes and files of an ImageFolder tree, refusing a tree that cannot train a classifier.

    Parameters
    ----------
    root : str or os.PathLike
        Folder whose sub-folders are the classes (files sorted as the module says).

    Returns
    -------
    classes : list of str
        The K class folder names, sorted.
    paths : list of str
        The N files, ``root/<class>/...``, class by class.
    labels : numpy.ndarray
        int64 N, each file's class index.

    Raises
    ------
    ValueError
        ``root`` is missing or not a folder, has no class folders, or a class folder holds no
        file (each names the folder).
    """
    root = Path(root)
    if not root.exists():
        raise ValueError(f"{str(root)!r} does not exist: pass a folder whose sub-folders are the classes")
    classes, files = _scan_folder(root)
    labels = np.array([f.label for f in files], dtype=np.int64)
    counts = np.bincount(labels, minlength=len(classes))
    empty = [str(root / name) for name, count in zip(classes, counts) if count == 0]
    if empty:
        raise ValueError(f"class folder {empty[0]!r} holds no image file"
                         + (f" (nor do {len(empty) - 1} more)" if len(empty) > 1 else "")
                         + ": every class needs images; remove the folder or add images")
    return classes, [str(root / f.relpath) for f in files], labels


def every_kth_per_class(labels: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic validation split of a scanned folder: every file whose index within its
    class (in the folder's sorted order) is a multiple of ``k``.

    Parameters
    ----------
    labels : numpy.ndarray
        int N class indices, class by class as :func:`scan_image_folder` returns them.
    k : int
        One file in ``k`` of each class is held out (its first, (k+1)-th, ...).

    Returns
    -------
    train, validation : numpy.ndarray
        int64 row indices, ascending.
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    within = np.empty(len(labels), dtype=np.int64)
    within[order] = np.concatenate([np.arange(c) for c in np.bincount(labels)]) if len(labels) else []
    held = within % k == 0
    return np.flatnonzero(~held), np.flatnonzero(held)


# A JPEG marker in the data: FF then a byte that is not stuffing (00), fill (FF) or a restart (D0-D7).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
_JPEG_EOI, _JPEG_STANDALONE = 0xD9, {0x01}


def _jpeg_reaches_eoi(data: bytes) -> bool:
    """Whether the JPEG ``data`` reaches its end-of-image marker, walking the marker segments by
    their lengths and the entropy-coded data by its markers (an embedded thumbnail's end marker,
    inside a segment, is skipped; trailing bytes after the real one are allowed)."""
    pos = 2  # after the start-of-image marker
    while True:
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            return False
        at, marker = found.start(), data[found.start() + 1]
        if marker == _JPEG_EOI:
            return True
        if marker in _JPEG_STANDALONE:
            pos = found.end()
            continue
        if at + 4 > len(data):
            return False
        pos = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")  # the segment's length counts its own 2 bytes


def check_image_file(path: PathLike) -> str | None:
    """Why ``path`` cannot be a decodable image, from a look that decodes no pixel; None if it may be.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str or None
        The reason ("empty file (0 bytes)", "not an image file Pillow can identify",
        "truncated JPEG: no end-of-image marker", ...), or None.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return f"cannot read file ({err})"
    if not data:
        return "empty file (0 bytes)"
    try:
        with Image.open(path) as image:
            kind = image.format
    except UnidentifiedImageError:
        return "not an image file Pillow can identify"
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        return f"corrupt image header ({type(err).__name__}: {err})"
    if kind == "JPEG" and not _jpeg_reaches_eoi(data):
        return "truncated JPEG: no end-of-image marker (the file was cut short)"
    if kind == "PNG" and b"IEND" not in data[-32:]:
        return "truncated PNG: no IEND chunk at the end (the file was cut short)"
    return None


def check_image_files(paths: Sequence[PathLike], progress: bool = False) -> list[tuple[str, str]]:
    """:func:`check_image_file` of every file: ``(path, reason)`` of each one that fails, in order.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The files.
    progress : bool
        Show a tqdm progress bar (when stderr is a terminal).
    """
    from tqdm.auto import tqdm

    bad = []
    for path in tqdm(paths, desc="checking files", unit="file", disable=not progress or None):
        reason = check_image_file(path)
        if reason is not None:
            bad.append((str(path), reason))
    return bad
