"""Decoding rules: one image file -> uint8 RGB, or a BadImageError naming the file and the reason.

The same rules hold on every path (folder loading, streaming, single files):

* JPEG files (recognised by content, whatever their name) are decoded by libjpeg-turbo through
  simplejpeg, with its accurate integer IDCT and smooth chroma upsampling: the pixels Pillow
  gives for the same file (both use libjpeg-turbo; tested equal), at about twice the speed.
  Baseline and progressive JPEGs, 4:4:4 / 4:2:2 / 4:2:0 and grayscale take this path. CMYK
  and YCCK JPEGs, and any JPEG simplejpeg refuses (a warning libjpeg can recover from, an
  unusual marker), go to Pillow, which decodes it or says why not.
* every other format Pillow reads goes to Pillow, and is converted to 8-bit RGB: grayscale
  ("1", "L") is replicated to three channels; 16-bit data ("I;16*", and "I" which Pillow uses
  for 16-bit PNGs) keeps its high byte (``v >> 8``, so 65535 -> 255, 257 -> 1); CMYK / YCbCr /
  other colour modes use Pillow's conversion; images with transparency ("LA", "RGBA", "PA", "P"
  or "L" with a transparency entry) are **composited on black**: ``rgb = round(rgb * alpha /
  255)``, so fully transparent pixels become 0.
* EXIF orientation is **not** applied: pixels come in the order the file stores them, as with
  torchvision's ``ImageFolder`` and ``decode_jpeg`` and Pillow's ``Image.open`` (OpenCV's
  ``imread`` applies it). A camera photo tagged "rotate 90" comes back sideways; rotate such
  files once on disk (``PIL.ImageOps.exif_transpose``) if the orientation matters.
* a file is *bad* when it is empty, not an image Pillow recognises (e.g. ``notes.txt``, or a
  text file named ``photo.jpg``), truncated or corrupt, has an unsupported mode, or its header
  claims more than ``max_pixels`` pixels (a decompression bomb: refused from the header, before
  any pixel is decoded, on the JPEG path as on Pillow's; default limit
  ``PIL.Image.MAX_IMAGE_PIXELS``, read at each call, so setting it configures augkit too).
  Bad files raise :class:`BadImageError` (a ``ValueError`` naming the file and the reason).

Reduced-scale JPEG decoding (libjpeg-turbo's scaled IDCT, 1/2, 1/4 or 1/8 of each side) serves
callers that resize anyway; :func:`dct_reduction` states the rule and its callers their margin.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from ..validation import check_size

__all__ = ["BadImageError", "PathLike", "dct_reduction", "decode_image"]

PathLike = str | os.PathLike

# Bilinear with Pillow's antialiasing support matches torch's interpolate(antialias=True), so the
# streamed path and the in-memory tensor path resample alike.
_RESAMPLE = Image.Resampling.BILINEAR
# decode_image decodes a JPEG at 1/k scale only while the decoded image stays at least this many
# times the target size, so an antialiased resize still does most of the reduction. Pillow's
# thumbnail uses the same rule (reducing_gap=2); with 1 instead of 2 the DCT downscale does it
# all and the error against a full decode triples (worst PSNR 32 dB instead of 42 dB on
# benchmarks/photo_folder.py).
_DRAFT_GAP = 2
# The DCT scales used: libjpeg-turbo's other M/8 scales (3/8, 5/8, 3/4, 7/8) have no SIMD IDCT
# and decode slower than the full size (benchmarks/jpeg_decode.py --all-scales).
_REDUCTIONS = (8, 4, 2)
# Errors Pillow raises for files it cannot decode (plugins raise several kinds).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# JPEG colour spaces simplejpeg decodes to RGB as Pillow does; CMYK and YCCK go to Pillow, whose
# conversion (Adobe's inverted CMYK included) is the rule.
_SIMPLEJPEG_COLORSPACES = ("YCbCr", "Gray", "RGB")


class BadImageError(ValueError):
    """A file that cannot be decoded into an RGB image.

    Parameters
    ----------
    path : str or os.PathLike
        The file (kept as ``str`` in ``path``).
    reason : str
        Why it cannot be decoded (kept in ``reason``).
    """

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


def _pixel_limit(max_pixels: int | None) -> int | None:
    """The decompression-bomb limit in force: ``max_pixels``, or ``PIL.Image.MAX_IMAGE_PIXELS``
    (None: no limit) when it is None."""
    return Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels


@dataclass
class _Encoded:
    """A file read and checked from its header: ``size`` is its (height, width) in pixels.

    ``jpeg``: simplejpeg decodes it; otherwise ``image`` is Pillow's lazily opened image."""

    path: PathLike
    data: bytes
    size: tuple[int, int]
    jpeg: bool
    image: Image.Image | None = None

    def close(self) -> None:
        if self.image is not None:
            self.image.close()


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG header simplejpeg decodes to RGB as Pillow does, else None."""
    if not data.startswith(b"\xff\xd8"):  # the SOI marker: not a JPEG, whatever the name
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:  # a header libjpeg-turbo does not parse: Pillow decides
        return None
    return (height, width) if colorspace in _SIMPLEJPEG_COLORSPACES else None


def _read_checked(path: PathLike, max_pixels: int | None) -> _Encoded:
    """Read ``path`` and its header; refuse empty, unknown and oversized files (BadImageError)."""
    limit = _pixel_limit(max_pixels)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:  # vanished or unreadable since the folder was scanned
        raise BadImageError(path, f"cannot read file ({err})") from None
    if not data:
        raise BadImageError(path, "empty file (0 bytes)")
    size = _jpeg_size(data)
    image = None
    if size is None:
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImageError(path, "not an image file Pillow can identify") from None
        except Image.DecompressionBombError as err:
            raise BadImageError(path, f"decompression bomb refused by Pillow ({err})") from None
        except _DECODE_ERRORS as err:
            raise BadImageError(path, f"corrupt image header ({type(err).__name__}: {err})") from None
        size = (image.height, image.width)
    if limit is not None and size[0] * size[1] > limit:
        if image is not None:
            image.close()
        raise BadImageError(
            path,
            f"decompression bomb: header claims {size[1]}x{size[0]} = {size[0] * size[1]} pixels, "
            f"more than max_pixels={limit}",
        )
    return _Encoded(path, data, size, image is None, image)


def dct_reduction(size: tuple[int, int], needed: tuple[int, int]) -> int:
    """The JPEG DCT-domain reduction for an image of ``size`` that must stay ``needed`` large.

    The rule: the largest ``k`` in (8, 4, 2) with ``H >= k needed_h`` and ``W >= k needed_w``
    (so the decoded ``ceil(H / k) x ceil(W / k)`` image is at least ``needed``) and decoded
    sides of at least 8 pixels; 1 (full size) when none qualifies. Only power-of-two scales:
    libjpeg-turbo's 3/8, 5/8, 3/4 and 7/8 scales have no SIMD IDCT and decode slower than the
    full size.

    Parameters
    ----------
    size : (int, int)
        The file's ``(H, W)``.
    needed : (int, int)
        The smallest ``(h, w)`` the decoded image may have.

    Returns
    -------
    int
        1, 2, 4 or 8: decoded pixel ``(y, x)`` covers source pixels ``[k y, k (y + 1)) x
        [k x, k (x + 1))``.
    """
    (height, width), (need_h, need_w) = size, needed
    for k in _REDUCTIONS:
        if height >= k * max(need_h, 8) and width >= k * max(need_w, 8):
            return k
    return 1


def _decode_pillow(encoded: _Encoded, reduction: int) -> tuple[np.ndarray, int]:
    """Pillow's decode (at 1/``reduction`` for a JPEG, via ``draft``); the reduction it used."""
    with _pixel_errors_as_bad(encoded.path):
        image = encoded.image if encoded.image is not None else Image.open(io.BytesIO(encoded.data))
    with image, _pixel_errors_as_bad(encoded.path):
        height, width = encoded.size
        if reduction > 1:
            # draft keeps the image at least this large: exactly 1/reduction (see dct_reduction).
            image.draft("RGB", (width // reduction, height // reduction))
        rgb = _to_rgb(image)
        return np.asarray(rgb, dtype=np.uint8).copy(), round(width / rgb.width)


def _decode_reduced(encoded: _Encoded, reduction: int = 1) -> tuple[np.ndarray, int]:
    """Decode a checked file to uint8 H x W x 3, a JPEG at 1/``reduction`` scale when it can.

    Returns the array and the reduction used (1 for formats without a DCT scale). A JPEG that
    simplejpeg refuses is handed to Pillow, whose verdict stands (BadImageError if it fails too).
    """
    if encoded.jpeg:
        height, width = encoded.size
        try:
            out = simplejpeg.decode_jpeg(encoded.data, colorspace="RGB", min_height=-(-height // reduction),
                                         min_width=-(-width // reduction))
        except ValueError:  # truncated, corrupt or unusual: Pillow decodes it or says why not
            return _decode_pillow(encoded, reduction)
        return out, reduction
    return _decode_pillow(encoded, reduction)


@contextlib.contextmanager
def _pixel_errors_as_bad(path: PathLike) -> Iterator[None]:
    """Turn Pillow's errors while decoding pixel data into BadImageError."""
    try:
        yield
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file Pillow can identify") from None
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


def _decode(path: PathLike, size: tuple[int, int] | None, max_pixels: int | None) -> np.ndarray:
    """Decode one file to uint8 H x W x 3, resized to ``size=(h, w)`` if given; BadImageError."""
    encoded = _read_checked(path, max_pixels)
    try:
        needed = None if size is None else (_DRAFT_GAP * size[0], _DRAFT_GAP * size[1])
        rgb, k = _decode_reduced(encoded, 1 if needed is None else dct_reduction(encoded.size, needed))
    finally:
        encoded.close()
    if size is None or rgb.shape[:2] == size:
        return rgb
    # The box is the source image in decoded pixels (H / k, not the rounded-up decoded size), so
    # the resize samples the source's positions.
    height, width = encoded.size
    resized = Image.fromarray(rgb).resize((size[1], size[0]), _RESAMPLE, box=(0, 0, width / k, height / k))
    return np.asarray(resized, dtype=np.uint8).copy()


def decode_image(
    path: PathLike, *, size: int | tuple[int, int] | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """Decode one image file to RGB by the module's rules.

    Parameters
    ----------
    path : str or os.PathLike
        File to decode (JPEG through simplejpeg, any other format Pillow reads).
    size : int or (int, int), optional
        ``(height, width)`` (an int for a square) to resize to (antialiased bilinear; a JPEG
        at least 4 times that size is decoded at 1/2, 1/4 or 1/8 scale first, keeping at least
        twice the size for the resize: :func:`dct_reduction` of twice ``size``).
    max_pixels : int, optional
        Refuse files whose header claims more pixels, before decoding anything (default
        ``PIL.Image.MAX_IMAGE_PIXELS``). Pillow itself also refuses more than twice its own
        limit on the files it opens.

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
