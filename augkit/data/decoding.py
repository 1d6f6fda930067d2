"""Decoding rules: one image file -> uint8 RGB, or a BadImageError naming the file and the reason.

The same rules hold on every path (folder loading, streaming, single files):

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
  (a ``ValueError`` naming the file and the reason).
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..validation import check_size

__all__ = ["BadImageError", "PathLike", "decode_image"]

PathLike = str | os.PathLike

# Bilinear with Pillow's antialiasing support matches torch's interpolate(antialias=True), so the
# streamed path and the in-memory tensor path resample alike.
_RESAMPLE = Image.Resampling.BILINEAR
# A JPEG is decoded at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``: libjpeg's DCT-domain
# downscale) only while the decoded image stays at least this many times the target size, so an
# antialiased resize still does most of the reduction. Pillow's thumbnail uses the same rule
# (reducing_gap=2); with 1 instead of 2 the DCT downscale does it all and the error against a
# full decode triples (worst PSNR 32 dB instead of 42 dB on benchmarks/photo_folder.py).
_DRAFT_GAP = 2
# Errors Pillow raises for files it cannot decode (plugins raise several kinds).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class BadImageError(ValueError):
    """A file that cannot be decoded into an RGB image; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"bad image file {self.path!r}: {reason}")


@contextlib.contextmanager
def _quiet_bomb_warnings() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning inside the block.

    We apply our own ``max_pixels`` check from the header and report refusals ourselves, so its
    warning would only duplicate ours. (Warning filters are process-wide: folder loading enters
    this once, around its whole thread pool.)
    """
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
    """Decode ``image`` and convert it to 8-bit RGB by the module's rules."""
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


def _draft(image: Image.Image, size: tuple[int, int]) -> int:
    """Set up a reduced-scale JPEG decode of ``image`` for target ``size=(h, w)`` (see _DRAFT_GAP).

    Returns the reduction k (1 for other formats or when none applies): decoded pixel ``(y, x)``
    covers source pixels ``[k y, k (y + 1)) x [k x, k (x + 1))``.
    """
    width = image.width
    drafted = image.draft(None, (size[1] * _DRAFT_GAP, size[0] * _DRAFT_GAP))
    # draft returns the decoded frame in source units, (0, 0, W / k, H / k).
    return 1 if drafted is None else round(width / drafted[1][2])


def _decode(path: PathLike, size: tuple[int, int] | None, max_pixels: int | None) -> np.ndarray:
    """Decode one file to uint8 H x W x 3, resized to ``size=(h, w)`` if given; BadImageError."""
    with _open_checked(path, max_pixels) as image, _pixel_errors_as_bad(path):
        if size is not None:
            _draft(image, size)
        rgb = _to_rgb(image)
        if size is not None and rgb.size != (size[1], size[0]):
            rgb = rgb.resize((size[1], size[0]), _RESAMPLE)
        return np.asarray(rgb, dtype=np.uint8).copy()


def decode_image(
    path: PathLike, *, size: int | tuple[int, int] | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """Decode one image file to RGB by the module's rules.

    Parameters
    ----------
    path : str or os.PathLike
        File to decode (any format Pillow reads).
    size : int or (int, int), optional
        ``(height, width)`` (an int for a square) to resize to (antialiased bilinear; a JPEG
        at least 4 times that size is decoded at 1/2, 1/4 or 1/8 scale first, keeping at least
        twice the size for the resize).
    max_pixels : int, optional
        Refuse files whose header claims more pixels (default ``PIL.Image.MAX_IMAGE_PIXELS``).
        Pillow itself refuses more than twice its own limit.

    Returns
    -------
    numpy.ndarray
        uint8, H x W x 3.

    Raises
    ------
    BadImageError
        A ValueError naming the file and the reason when it cannot be decoded.
    TypeError, ValueError
        For a ``size`` that is not positive ints.
    """
    size = None if size is None else check_size(size)
    with _quiet_bomb_warnings():
        return _decode(path, size, max_pixels)
