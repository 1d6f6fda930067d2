"""augkit.data.decoding: decompression bombs refused from the header, every mode to RGB with exact values."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import augkit.data as D
from tests.augkit.data._files import bomb_png, rgb, save


def test_bomb_refused_from_header_without_decoding(tmp_path: Path, monkeypatch) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(bomb_png(100_000, 100_000))
    small = save(tmp_path / "small.png", rgb(20, 20, 0))

    def no_decoding(self):
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(D.BadImageError, match="decompression bomb"):
        D.decode_image(huge)
    with pytest.raises(D.BadImageError, match=r"20x20 = 400 pixels, more than max_pixels=399"):
        D.decode_image(small, max_pixels=399)
    # Pillow's own warning for large-but-allowed headers is replaced by our check, not shown.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(D.BadImageError, match="decompression bomb"):
            D.decode_image(small, max_pixels=10)


@pytest.mark.parametrize(
    "make, expected",
    [
        # grayscale: replicated
        (lambda: Image.fromarray(np.array([[0, 100, 255]], np.uint8), "L"), [[0] * 3, [100] * 3, [255] * 3]),
        # bilevel
        (lambda: Image.fromarray(np.array([[0, 255]], np.uint8), "L").convert("1"), [[0] * 3, [255] * 3]),
        # LA composited on black: round(200 * 128 / 255) = 100
        (lambda: Image.fromarray(np.array([[[200, 128], [200, 0]]], np.uint8), "LA"), [[100] * 3, [0] * 3]),
        # RGBA composited on black
        (
            lambda: Image.fromarray(np.array([[[255, 100, 0, 255], [255, 100, 0, 51], [9, 9, 9, 0]]], np.uint8), "RGBA"),
            [[255, 100, 0], [51, 20, 0], [0, 0, 0]],
        ),
        # CMYK: Pillow's conversion, (255 - c) * (255 - k) / 255
        (lambda: Image.new("CMYK", (1, 1), (0, 255, 255, 0)), [[255, 0, 0]]),
    ],
    ids=["L", "1", "LA", "RGBA", "CMYK"],
)
def test_mode_conversions(tmp_path: Path, make, expected) -> None:
    image = make()
    path = tmp_path / ("x.tiff" if image.mode == "CMYK" else "x.png")
    image.save(path)
    assert Image.open(path).mode == image.mode  # the file really stores that mode
    np.testing.assert_array_equal(D.decode_image(path)[0], np.array(expected, np.uint8))


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.save(tmp_path / "p.png", transparency=0)  # palette index 0 (red) fully transparent
    assert Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_array_equal(D.decode_image(tmp_path / "p.png")[0], [[0, 0, 0], [0, 255, 0]])
    image.save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(D.decode_image(tmp_path / "opaque.png")[0], [[255, 0, 0], [0, 255, 0]])


def test_sixteen_bit_keeps_high_byte(tmp_path: Path) -> None:
    values = np.array([[0, 257, 0x1234, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = D.decode_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 0x12, 255])
    assert (out == out[..., :1]).all()
    # 32-bit "I" (TIFF) is read as 16-bit data: clipped to [0, 65535] first.
    Image.fromarray(np.array([[-5, 65535, 70000, 512]], np.int32)).save(tmp_path / "i32.tiff")
    np.testing.assert_array_equal(D.decode_image(tmp_path / "i32.tiff")[0, :, 0], [0, 255, 255, 2])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: D.decode_image(p, size=(0, 3)), ValueError, r"size must be positive, got \(0, 3\)"),
    ],
)
def test_bad_arguments_name_the_argument(one_png: Path, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(one_png)
