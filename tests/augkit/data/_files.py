"""Image files for the data tests: random images, PNG bytes, decompression bombs, a set of bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import augkit.data as D
from tests.script_loader import load_script


def rgb(h: int, w: int, seed: int) -> np.ndarray:
    """A seeded random uint8 H x W x 3 image."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray | Image.Image, fmt: str = "PNG") -> Path:
    """Write an image (array or PIL) to ``path``, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    image.save(path, format=fmt)
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims width x height (CRC recomputed, so the header is valid)."""
    data = bytearray(png_bytes(Image.new("RGB", (1, 1))))
    # Bytes 8..15 are the IHDR chunk length and type; its data (width, height, ...) starts at 16.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


def load_folder(root: Path, tmp_path: Path, **kwargs):
    """``load_image_folder`` with the cache under ``tmp_path`` and no progress bar."""
    kwargs.setdefault("cache_dir", tmp_path / "cache")
    kwargs.setdefault("progress", False)
    return D.load_image_folder(root, **kwargs)


def bad_files(root: Path) -> dict[str, str]:
    """Write one bad file of each kind into root/bad; return relpath -> expected reason fragment."""
    good = io.BytesIO()
    Image.fromarray(rgb(64, 64, 0)).save(good, format="JPEG", quality=90)
    png = bytearray(png_bytes(Image.fromarray(rgb(16, 16, 1))))
    png[60:70] = b"\xff" * 10  # inside IDAT: CRC mismatch / broken zlib stream
    files = {
        "bad/truncated.jpg": (good.getvalue()[: len(good.getvalue()) // 2], "truncated or corrupt"),
        "bad/corrupt.png": (bytes(png), "corrupt"),
        "bad/empty.png": (b"", "empty file (0 bytes)"),
        "bad/notes.txt": (b"not an image\n", "not an image file"),
        "bad/bomb.png": (bomb_png(100_000, 100_000), "decompression bomb"),
    }
    for relpath, (content, _) in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(content)
    save(root / "bad" / "zz_good.png", rgb(8, 6, 99))
    return {relpath: reason for relpath, (_, reason) in files.items()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse)) if mse else float("inf")


def photo_folder_module():
    """benchmarks/photo_folder.py, which writes JPEG photos of mixed sizes."""
    return load_script("benchmarks/photo_folder.py")


def jpeg_bytes(image: np.ndarray | Image.Image, **options) -> bytes:
    """An image encoded as JPEG with Pillow's ``save`` options (quality, progressive, exif...)."""
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def bomb_jpeg(width: int, height: int) -> bytes:
    """A real 16 x 16 JPEG (under 1 KB) whose frame header (SOF0) claims width x height."""
    data = bytearray(jpeg_bytes(rgb(16, 16, 0), quality=50))
    sof = data.index(b"\xff\xc0")
    # SOF0: marker, length (2), precision (1), height (2), width (2).
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
