"""Atomic file replacement, shared by augkit's image cache and ensemble's member records.

Both write files that another process may read or that a killed run may leave behind; one
function gives both the same guarantee: a file is either the old one or the whole new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomic"]


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with what ``write(binary_file)`` writes, atomically.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    renamed over ``path``: a reader (or a process killed midway) never sees a partial file.

    Parameters
    ----------
    path : pathlib.Path
        File to create or replace; its folder must exist.
    write : callable
        Called once with the open temporary file (binary, write mode).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
