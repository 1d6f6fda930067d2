"""In-memory loading: a whole ImageFolder tree decoded on a thread pool into one uint8 array.

For small datasets (CIFAR-10): decoded once by :func:`load_image_folder` into N x H x W x 3
and cached on disk (:mod:`augkit.data.cache`), so the second load is a plain ``np.load``.
Large photo folders stream instead (:mod:`augkit.data.streaming`).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from conventions import check_choice, check_int

from ..validation import check_size
from .cache import _cache_key, _default_cache_dir, _read_cache, _write_cache
from .decoding import BadImageError, PathLike, _decode, _quiet_bomb_warnings
from .folder import ON_ERROR_CHOICES, OnError, _FileEntry, _report_bad, _report_empty_classes, _scan_folder

__all__ = ["load_image_folder"]

def _decode_folder(
    root: Path,
    files: list[_FileEntry],
    size: tuple[int, int] | None,
    max_pixels: int,
    progress: bool,
    num_threads: int,
    on_error: str,
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Decode every file on a thread pool (simplejpeg and Pillow release the GIL while decoding).

    Returns images N x H x W x 3 uint8, labels N int64 and the skipped files as [relpath, reason];
    with ``on_error="raise"`` the first bad file raises at once.
    """

    def decode(entry: _FileEntry) -> np.ndarray | BadImageError:
        try:
            return _decode(root / entry.relpath, size, max_pixels)
        except BadImageError as err:
            return err

    bar = tqdm(
        total=len(files),
        desc=f"decoding {root.name}",
        unit="img",
        disable=not progress or not sys.stderr.isatty(),
    )
    images = None
    labels = np.empty(len(files), dtype=np.int64)
    skipped = []
    kept = 0
    first = None
    pool = ThreadPoolExecutor(max_workers=num_threads)
    try:
        for entry, result in zip(files, pool.map(decode, files)):
            bar.update()
            if isinstance(result, BadImageError):
                if on_error == "raise":
                    raise result
                skipped.append([entry.relpath, result.reason])
                continue
            if images is None:
                # Allocate once from the first image's size; later images are copied in place.
                images = np.empty((len(files), *result.shape), dtype=np.uint8)
                first = entry
            elif result.shape != images.shape[1:]:
                raise ValueError(
                    f"images in root={str(root)!r} have different sizes: {first.relpath!r} is "
                    f"{images.shape[1]}x{images.shape[2]} but {entry.relpath!r} is "
                    f"{result.shape[0]}x{result.shape[1]} (height x width); "
                    "pass size=(height, width) to resize them"
                )
            images[kept] = result
            labels[kept] = entry.label
            kept += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    if images is None:
        images = np.empty((0, 0, 0, 3), dtype=np.uint8)
    return images[:kept], labels[:kept], skipped



def load_image_folder(
    root: PathLike,
    *,
    size: tuple[int, int] | int | None = None,
    cache_dir: PathLike | Literal[False] | None = None,
    on_error: OnError = "warn",
    on_empty_class: OnError = "warn",
    progress: bool = True,
    max_pixels: int | None = None,
    num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load an ImageFolder tree (``root/<class>/<file>``) into memory, with an on-disk cache.

    Classes and file order are those of :mod:`augkit.data.folder`; decoding follows
    :mod:`augkit.data.decoding`.

    Parameters
    ----------
    root : str or os.PathLike
        Folder whose sub-folders are the classes.
    size : int or (int, int), optional
        ``(height, width)`` (an int for a square) to resize every image to (antialiased
        bilinear); if None, all images must already have the same size.
    cache_dir : str, os.PathLike or False, optional
        Where the decoded array is cached; default ``$AUGKIT_CACHE`` or ``~/.cache/augkit``;
        False disables the cache (see :mod:`augkit.data.cache` for the key and the checks).
    on_error : {"warn", "raise"}
        Bad files: "warn" skips each with a warning naming the file and the reason, "raise"
        raises :class:`BadImageError` (a ValueError).
    on_empty_class : {"warn", "raise"}
        A class folder without decodable images: "warn" (its class index is kept) or "raise"
        (ValueError naming the folder).
    progress : bool
        Show a tqdm progress bar while decoding (only when stderr is a terminal).
    max_pixels : int, optional
        Refuse files whose header claims more pixels (default ``PIL.Image.MAX_IMAGE_PIXELS``).
    num_threads : int, optional
        Decoding threads (default ``min(8, os.cpu_count())``).

    Returns
    -------
    images : numpy.ndarray
        uint8, N x H x W x 3.
    labels : numpy.ndarray
        int64, N.
    classes : list of str
        The N_classes folder names.

    Raises
    ------
    ValueError
        When ``root`` has no class folders or no decodable image, when image sizes differ and
        ``size`` is None (naming two files and their sizes), for a bad file with
        ``on_error="raise"``, or for a bad argument value.
    TypeError
        For an argument of the wrong type (``size``, ``max_pixels``, ``num_threads``).
    """
    check_choice(on_error, "on_error", ON_ERROR_CHOICES)
    check_choice(on_empty_class, "on_empty_class", ON_ERROR_CHOICES)
    size = None if size is None else check_size(size)
    max_pixels = Image.MAX_IMAGE_PIXELS if max_pixels is None else check_int(max_pixels, "max_pixels", minimum=1)
    num_threads = min(8, os.cpu_count() or 1) if num_threads is None else check_int(num_threads, "num_threads", minimum=1)
    root = Path(root)
    classes, files = _scan_folder(root)

    entry = None
    if cache_dir is not False:
        directory = _default_cache_dir() if cache_dir is None else Path(cache_dir)
        key = _cache_key(classes, files, size, max_pixels)
        stem = f"{root.name or 'root'}-{key[:32]}"
        array_path, meta_path = directory / f"{stem}.npy", directory / f"{stem}.json"
        entry = _read_cache(array_path, meta_path, key)
    if entry is None:
        with _quiet_bomb_warnings():
            images, labels, skipped = _decode_folder(
                root, files, size, max_pixels, progress, num_threads, on_error
            )
        entry = {"images": images, "labels": labels, "classes": classes, "skipped": skipped}
        # A failed load (a bad file in raise mode, nothing decodable) is not cached.
        if len(images) and cache_dir is not False:
            _write_cache(array_path, meta_path, key, entry)
    # Cache hits repeat the warnings of the original decode, so both loads behave alike.
    for relpath, reason in entry["skipped"]:
        _report_bad(str(root / relpath), reason, on_error)
    if len(entry["images"]) == 0:
        raise ValueError(f"root={str(root)!r} contains no decodable images")
    _report_empty_classes(root, entry["classes"], entry["labels"], on_empty_class)
    return entry["images"], entry["labels"], list(entry["classes"])
