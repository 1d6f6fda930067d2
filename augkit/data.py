"""Image data: ImageFolder loading with an on-disk cache, streaming decode, and bad-file handling.

Two paths, one set of decoding rules:

* small datasets (CIFAR-10) are decoded once by :func:`load_image_folder` into a uint8 array
  N x H x W x 3 and cached on disk as ``.npy`` + JSON, so the second load is a plain ``np.load``;
* large photo folders stream through :class:`ImageFolderStream`, decoding one file per
  ``__getitem__`` on DataLoader workers; :func:`decode_scale_crop` decodes a JPEG at a reduced
  scale (Pillow ``draft``) and resamples only the crop window that augkit's scale-crop would keep.

Decoding rules (:func:`decode_image`), the same everywhere:

* every file is converted to 8-bit RGB: grayscale ("1", "L") is replicated to three channels;
  16-bit data ("I;16*", and "I" which Pillow uses for 16-bit PNGs) keeps its high byte
  (``v >> 8``, so 65535 -> 255, 257 -> 1); CMYK / YCbCr / other colour modes use Pillow's
  conversion; images with transparency ("LA", "RGBA", "PA", "P" or "L" with a transparency
  entry) are **composited on black**: ``rgb = round(rgb * alpha / 255)``, so fully transparent
  pixels become 0.
* a file is *bad* when it is empty, not an image Pillow recognises (e.g. ``notes.txt``),
  truncated or corrupt, has an unsupported mode, or its header claims more than ``max_pixels``
  pixels (a decompression bomb: refused from the header, before any pixel is decoded;
  default limit ``PIL.Image.MAX_IMAGE_PIXELS``). Bad files raise :class:`BadImageError`
  (a ``ValueError`` naming the file and the reason); the folder loaders either skip them with a
  warning (``on_error="warn"``) or raise (``on_error="raise"``).
* hidden files and folders (names starting with ".", e.g. ``.DS_Store``) are ignored silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import PIL
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ._checks import as_generator
from .transforms import RandomScaleCrop

__all__ = [
    "write_atomic",
    "BadImageError",
    "ImageFolderStream",
    "ScaleCropLoader",
    "cifar10_root",
    "decode_image",
    "decode_scale_crop",
    "item_seed",
    "last_per_class_split",
    "load_cifar10",
    "load_digits_images",
    "load_image_folder",
    "load_sample_photos",
    "to_batch",
    "to_nhwc",
]

PathLike = str | os.PathLike
OnError = Literal["warn", "raise"]
GeneratorLike = torch.Generator | int | None

# Bumped whenever the cached array could differ for the same files (decoding rules, layout).
_CACHE_FORMAT = 1
# Bilinear with Pillow's antialiasing support matches torch's interpolate(antialias=True), so the
# streamed path and the in-memory tensor path resample alike.
_RESAMPLE = Image.Resampling.BILINEAR
# Errors Pillow raises for files it cannot decode (plugins raise several kinds).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class BadImageError(ValueError):
    """A file that cannot be decoded into an RGB image; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"bad image file {self.path!r}: {reason}")


def _check_on_error(on_error: str, name: str = "on_error") -> None:
    if on_error not in ("warn", "raise"):
        raise ValueError(f"{name} must be 'warn' or 'raise', got {on_error!r}")


@contextlib.contextmanager
def _quiet_bomb_warnings() -> Iterator[None]:
    # Pillow warns when opening large images; we apply our own max_pixels check from the header
    # and report refusals ourselves, so its warning would only duplicate ours. (warnings filters
    # are process-wide: load_image_folder enters this once, around its whole thread pool.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _open_checked(path: PathLike, max_pixels: int | None) -> Image.Image:
    """Open ``path`` lazily (header only) and refuse empty, unknown and oversized files."""
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        nbytes = os.path.getsize(path)
    except OSError as err:  # vanished or unreadable since the folder was scanned
        raise BadImageError(path, f"cannot read file ({err})") from None
    if nbytes == 0:
        raise BadImageError(path, "empty file (0 bytes)")
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file Pillow can identify") from None
    except Image.DecompressionBombError as err:
        raise BadImageError(path, f"decompression bomb refused by Pillow ({err})") from None
    except _DECODE_ERRORS as err:
        raise BadImageError(path, f"corrupt image header ({type(err).__name__}: {err})") from None
    width, height = image.size
    if limit is not None and width * height > limit:
        image.close()
        raise BadImageError(
            path,
            f"decompression bomb: header claims {width}x{height} = {width * height} pixels, "
            f"more than max_pixels={limit}",
        )
    return image


@contextlib.contextmanager
def _pixel_errors_as_bad(path: PathLike) -> Iterator[None]:
    """Turn Pillow's errors while decoding pixel data into BadImageError."""
    try:
        yield
    except Image.DecompressionBombError as err:
        raise BadImageError(path, f"decompression bomb refused by Pillow ({err})") from None
    except _DECODE_ERRORS as err:
        reason = f"truncated or corrupt image data ({type(err).__name__}: {err})"
        raise BadImageError(path, reason) from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Decode ``image`` and convert it to 8-bit RGB by the module's rules (see module docstring)."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        image.load()
        return image
    if mode in _SIXTEEN_BIT_MODES:
        # 16-bit -> 8-bit keeps the high byte; "I" is clipped to the 16-bit range first.
        values = np.asarray(image).astype(np.int64)
        gray = (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
    if "A" in mode or "a" in mode or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA")).astype(np.uint16)
        # Composite on black: rgb * alpha / 255, rounded (+127 before the integer division).
        rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    return image.convert("RGB")


def _decode(
    path: PathLike, size: tuple[int, int] | None, max_pixels: int | None
) -> np.ndarray:
    """Decode one file to uint8 H x W x 3, resized to ``size=(h, w)`` if given; BadImageError."""
    with _open_checked(path, max_pixels) as image, _pixel_errors_as_bad(path):
        if size is not None:
            # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still covers the target size.
            image.draft(None, (size[1], size[0]))
        rgb = _to_rgb(image)
        if size is not None and rgb.size != (size[1], size[0]):
            rgb = rgb.resize((size[1], size[0]), _RESAMPLE)
        return np.asarray(rgb, dtype=np.uint8).copy()


def decode_image(
    path: PathLike, *, size: tuple[int, int] | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """Decode one image file to RGB.

    Parameters
    ----------
    path : file to decode (any format Pillow reads).
    size : optional ``(height, width)``; the image is resized to it (antialiased bilinear,
        JPEGs decoded at a reduced scale first when that still covers the size).
    max_pixels : refuse files whose header claims more pixels (default
        ``PIL.Image.MAX_IMAGE_PIXELS``). Pillow itself refuses more than twice its own limit.

    Returns
    -------
    uint8 numpy array H x W x 3.

    Raises
    ------
    BadImageError (a ValueError) naming the file and the reason when it cannot be decoded.
    """
    size = _check_size(size)
    with _quiet_bomb_warnings():
        return _decode(path, size, max_pixels)


def _check_size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size)
    ):
        raise ValueError(f"size must be None or (height, width) positive ints, got {size!r}")
    return int(size[0]), int(size[1])


# ----------------------------------------------------------------------------- folder scanning


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


# ----------------------------------------------------------------------------- on-disk cache


def _default_cache_dir() -> Path:
    return Path(os.environ.get("AUGKIT_CACHE") or Path.home() / ".cache" / "augkit")


def _cache_key(
    classes: list[str], files: list[_FileEntry], size: tuple[int, int] | None, max_pixels: int
) -> str:
    description = {
        "format": _CACHE_FORMAT,
        "pillow": PIL.__version__,
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


def write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Create or replace ``path`` with what ``write(binary_file)`` writes, atomically.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    renamed over ``path``: a reader (or a process killed midway) never sees a partial file.
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


# ----------------------------------------------------------------------------- in-memory loading


def _decode_folder(
    root: Path,
    files: list[_FileEntry],
    size: tuple[int, int] | None,
    max_pixels: int,
    progress: bool,
    num_threads: int,
    on_error: str,
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Decode every file on a thread pool (Pillow releases the GIL while decoding).

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

    Classes are the sorted non-hidden sub-folders of ``root`` (class index = position in that
    list); files are sorted by relative path within a class (sub-folders are searched too).

    Parameters
    ----------
    root : folder whose sub-folders are the classes.
    size : ``(height, width)`` (or an int for a square) to resize every image to (antialiased
        bilinear); if None, all images must already have the same size.
    cache_dir : where the decoded array is cached; default ``$AUGKIT_CACHE`` or
        ``~/.cache/augkit``; False disables the cache. An entry is keyed by a hash of the
        relative file list, the files' sizes and mtimes, ``size``, ``max_pixels`` and the Pillow
        version, so a changed file rebuilds it; a truncated or corrupt entry is detected
        (checksum) and rebuilt.
    on_error : bad files (see module docstring): "warn" skips each with a warning naming the
        file and the reason, "raise" raises :class:`BadImageError` (a ValueError).
    on_empty_class : a class folder without decodable images: "warn" (its class index is kept)
        or "raise" (ValueError naming the folder).
    progress : show a tqdm progress bar while decoding (only when stderr is a terminal).
    max_pixels : refuse files whose header claims more pixels (default
        ``PIL.Image.MAX_IMAGE_PIXELS``).
    num_threads : decoding threads (default ``min(8, os.cpu_count())``).

    Returns
    -------
    images : uint8 numpy N x H x W x 3.
    labels : int64 numpy N.
    classes : list of N_classes folder names.

    Raises
    ------
    ValueError when ``root`` has no class folders or no decodable image, when image sizes differ
    and ``size`` is None (naming two files and their sizes), or for a bad file with
    ``on_error="raise"``.
    """
    _check_on_error(on_error)
    _check_on_error(on_empty_class, "on_empty_class")
    size = _check_size(size)
    if max_pixels is None:
        max_pixels = Image.MAX_IMAGE_PIXELS
    elif not isinstance(max_pixels, (int, np.integer)) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be None or a positive int, got {max_pixels!r}")
    if num_threads is None:
        num_threads = min(8, os.cpu_count() or 1)
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


def load_cifar10(
    root: PathLike | None = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load the CIFAR-10 training images with :func:`load_image_folder` (cached after the first load).

    ``root``: the ImageFolder tree ``<root>/<class>/<image>``; ``None`` reads it from the
    ``AUGKIT_CIFAR10`` environment variable (:func:`cifar10_root`). The library never guesses a
    location. ``kwargs`` go to :func:`load_image_folder`. Returns uint8 N x 32 x 32 x 3 images,
    int64 N labels and the 10 class names. Raises FileNotFoundError when the folder is missing.
    """
    if root is None:
        root = cifar10_root()
    if root is None or not Path(root).is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 training images not found (root={None if root is None else str(root)!r}): "
            "pass root=<ImageFolder tree <root>/<class>/<image>> or set AUGKIT_CIFAR10 to it"
        )
    return load_image_folder(root, **kwargs)


def cifar10_root() -> Path | None:
    """The CIFAR-10 training ImageFolder named by ``$AUGKIT_CIFAR10``, or None when it is unset."""
    from_env = os.environ.get("AUGKIT_CIFAR10")
    return Path(from_env) if from_env else None


def last_per_class_split(
    labels: np.ndarray | torch.Tensor, n_per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the last ``n_per_class`` images of each class (in file order) for validation.

    Parameters
    ----------
    labels : int array N (e.g. from :func:`load_image_folder`, whose order is file order).
    n_per_class : validation images per class (>= 0).

    Returns
    -------
    train_idx, val_idx : int64 numpy arrays of indices into ``labels``, each ascending.

    Raises ValueError if some class has ``n_per_class`` images or fewer (nothing left to train on).
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D int array, got dtype {labels.dtype} and shape {labels.shape}"
        )
    if (
        isinstance(n_per_class, bool)
        or not isinstance(n_per_class, (int, np.integer))
        or n_per_class < 0
    ):
        raise ValueError(f"n_per_class must be an int >= 0, got {n_per_class!r}")
    is_val = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= n_per_class:
            raise ValueError(
                f"class {int(label)} has {len(members)} images, not more than n_per_class={n_per_class}"
            )
        is_val[members[len(members) - n_per_class:]] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as images.

    Returns uint8 N x 8 x 8 x 1 (values 0..16 scaled to 0..255, rounded) and int64 N labels.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    return images, digits.target.astype(np.int64)


def load_sample_photos() -> np.ndarray:
    """scikit-learn's two sample photos (china, flower; no download): uint8 2 x 427 x 640 x 3."""
    from sklearn.datasets import load_sample_images

    return np.stack(load_sample_images().images).astype(np.uint8)


def to_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """N x H x W x C images (numpy or tensor) -> contiguous torch tensor N x C x H x W, same dtype."""
    tensor = torch.as_tensor(images)
    if tensor.dim() != 4:
        raise ValueError(f"images must be N x H x W x C (rank 4), got shape {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 1, 2).contiguous()


def to_nhwc(batch: torch.Tensor) -> np.ndarray:
    """Torch batch N x C x H x W (any device) -> numpy N x H x W x C, same dtype."""
    if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
        got = getattr(batch, "shape", type(batch))
        raise ValueError(f"batch must be an N x C x H x W tensor, got {got}")
    return batch.detach().permute(0, 2, 3, 1).cpu().contiguous().numpy()


# ----------------------------------------------------------------------------- streaming


def _check_scale(size: int, scale: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in scale)
        or not size <= scale[0] <= scale[1]
    ):
        raise ValueError(f"scale must be a pair of ints size <= lo <= hi (size={size}), got {scale!r}")
    return int(scale[0]), int(scale[1])


def _sample_scale_crop(
    height: int, width: int, size: int, scale: tuple[int, int], generator: torch.Generator
) -> tuple[int, int, int, int, int]:
    """Draw one image's parameters with RandomScaleCrop itself, so both paths sample alike.

    Returns ``(L, scaled_h, scaled_w, top, left)``: shorter side L ~ U{lo..hi}, the other side
    ``round(side * L / shorter)``, and a ``size x size`` crop at (top, left) in that image.
    """
    params = RandomScaleCrop(size, scale).make_params((1, 3, height, width), generator)
    shorter = int(params["length"][0])
    scaled_h = round(height * shorter / min(height, width))
    scaled_w = round(width * shorter / min(height, width))
    return shorter, scaled_h, scaled_w, int(params["top"][0]), int(params["left"][0])


def decode_scale_crop(
    path: PathLike,
    size: int,
    scale: tuple[int, int],
    generator: GeneratorLike = None,
    *,
    max_pixels: int | None = None,
    return_params: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """Decode one file straight into a random scale-crop, resampling only the crop window.

    Samples like augkit's RandomScaleCrop: the shorter side is resized to an integer L drawn
    uniformly from ``scale = (lo, hi)`` (inclusive), then a ``size x size`` crop is taken at a
    uniformly random offset. Instead of resizing the whole image, it reads the header, asks
    Pillow's JPEG decoder for a 1/2, 1/4 or 1/8 scale decode (``Image.draft``) that is still at
    least as large as the L-scaled image (never below the needed resolution), and resamples only
    the crop window (``Image.resize(box=...)``, antialiased bilinear, ``reducing_gap=3``) to
    ``size x size``. Non-JPEG files are decoded at full size.

    Parameters
    ----------
    path : image file.
    size : crop side (pixels).
    scale : ``(lo, hi)`` ints with ``size <= lo <= hi``: the range of the shorter side L.
    generator : torch.Generator, int seed, or None (torch's global generator); the draws are
        those of ``RandomScaleCrop(size, scale).make_params`` for a batch of one image.
    max_pixels : as in :func:`decode_image`.
    return_params : also return ``{"L", "scaled_size": (h, w), "top", "left",
        "decoded_size": (h, w)}``; ``decoded_size`` is the size Pillow actually decoded at.

    Returns
    -------
    uint8 numpy ``size x size x 3`` (and the parameter dict if ``return_params``).

    Raises BadImageError (a ValueError) for a bad file, ValueError for bad arguments.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    scale = _check_scale(size, scale)
    generator = as_generator(generator)
    with _quiet_bomb_warnings(), _open_checked(path, max_pixels) as image:
        width, height = image.size
        shorter, scaled_h, scaled_w, top, left = _sample_scale_crop(
            height, width, size, scale, generator
        )
        with _pixel_errors_as_bad(path):
            drafted = image.draft(None, (scaled_w, scaled_h))
            # draft returns the decoded frame in source coordinates: (0, 0, W / k, H / k).
            reduction = width / drafted[1][2] if drafted else 1.0
            rgb = _to_rgb(image)
            # Crop window in source pixels, then in the (possibly reduced) decoded frame.
            to_decoded = width / scaled_w / reduction, height / scaled_h / reduction
            box = (
                left * to_decoded[0],
                top * to_decoded[1],
                (left + size) * to_decoded[0],
                (top + size) * to_decoded[1],
            )
            crop = rgb.resize((size, size), _RESAMPLE, box=box, reducing_gap=3.0)
            decoded_size = (rgb.height, rgb.width)
            out = np.asarray(crop, dtype=np.uint8).copy()
    if return_params:
        params = {
            "L": shorter,
            "scaled_size": (scaled_h, scaled_w),
            "top": top,
            "left": left,
            "decoded_size": decoded_size,
        }
        return out, params
    return out


@dataclass(frozen=True)
class ScaleCropLoader:
    """Picklable loader for :class:`ImageFolderStream`: ``loader(path, generator)`` =
    :func:`decode_scale_crop` ``(path, size, scale, generator)`` -> uint8 size x size x 3."""

    size: int
    scale: tuple[int, int]
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        _check_scale(self.size, self.scale)

    def __call__(self, path: PathLike, generator: GeneratorLike = None) -> np.ndarray:
        return decode_scale_crop(path, self.size, self.scale, generator, max_pixels=self.max_pixels)


def _full_image_loader(path: PathLike, generator: GeneratorLike = None) -> np.ndarray:
    return decode_image(path)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of item ``index`` in ``epoch`` for base ``seed``: a SeedSequence hash, 63-bit int."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0] >> 1)


class ImageFolderStream(torch.utils.data.Dataset):
    """A torch Dataset over an ImageFolder tree that decodes one file per item (for large folders).

    ``dataset[i] -> (image, label)``: image a uint8 tensor C x H x W (C = 3), label an int.
    Classes and file order are those of :func:`load_image_folder`.

    Parameters
    ----------
    root : folder whose sub-folders are the classes.
    transform : optional callable applied to the uint8 C x H x W tensor of each item.
    loader : ``loader(path, generator) -> uint8 H x W x 3 numpy``; default: full decode
        (:func:`decode_image`). Use :class:`ScaleCropLoader` for mixed-size photos.
    on_error : a bad file met while loading: "warn" warns (naming the file and reason) and
        returns the next decodable file in order instead (with its own label); "raise" raises
        :class:`BadImageError`. Bad files are only found when read.
    seed : randomness of ``loader``. An int makes item ``i`` of epoch ``e`` use a generator
        seeded with :func:`item_seed` ``(seed, e, i)``: workers get independent streams and the
        output depends only on (seed, epoch, index), not on ``num_workers`` or which worker
        loads the item. Call :meth:`set_epoch` before each epoch (with ``persistent_workers``
        the workers keep the epoch they were started with). None draws each item's seed from
        torch's global generator, which DataLoader seeds per worker (``base_seed + worker_id``,
        base_seed drawn from the DataLoader's ``generator``): independent across workers and
        reproducible for a fixed ``num_workers`` and ``DataLoader(generator=...)``.
    """

    def __init__(
        self,
        root: PathLike,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        loader: Callable[[PathLike, GeneratorLike], np.ndarray] | None = None,
        on_error: OnError = "warn",
        seed: int | None = None,
    ) -> None:
        _check_on_error(on_error)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be None or an int, got {seed!r}")
        self.root = Path(root)
        self.transform = transform
        self.loader = _full_image_loader if loader is None else loader
        self.on_error = on_error
        self.seed = seed
        self.epoch = 0
        self.classes, files = _scan_folder(self.root)
        self.samples = [(str(self.root / f.relpath), f.label) for f in files]
        self.targets = np.array([f.label for f in files], dtype=np.int64)
        _report_empty_classes(self.root, self.classes, self.targets, "warn")

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random stream the next items use (only matters with an int seed)."""
        self.epoch = int(epoch)

    def _generator(self, index: int) -> torch.Generator:
        if self.seed is None:
            seed = int(torch.randint(0, 2**63 - 1, ()))
        else:
            seed = item_seed(self.seed, self.epoch, index)
        return torch.Generator().manual_seed(seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        generator = self._generator(index)
        for offset in range(len(self)):
            path, label = self.samples[(index + offset) % len(self)]
            try:
                image = self.loader(path, generator)
            except BadImageError as err:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"skipping bad image file {err.path!r}: {err.reason}", stacklevel=2)
                continue
            tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()
            if self.transform is not None:
                tensor = self.transform(tensor)
            return tensor, label
        raise ValueError(f"root={str(self.root)!r} contains no decodable images")
