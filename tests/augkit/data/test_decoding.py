"""augkit.data.decoding: decompression bombs refused from the header, every mode to RGB with exact values."""

from __future__ import annotations

import io
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


def test_jpeg_bomb_refused_from_its_header_before_any_decoder_runs(tmp_path: Path, monkeypatch) -> None:
    import simplejpeg

    from tests.augkit.data._files import bomb_jpeg

    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(bomb_jpeg(20_000, 20_000))
    assert bomb.stat().st_size < 2_000

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(simplejpeg, "decode_jpeg", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    message = r"bomb\.jpg.*decompression bomb: header claims 20000x20000 = 400000000 pixels, more than max_pixels="
    with pytest.raises(D.BadImageError, match=message):
        D.decode_image(bomb)
    with pytest.raises(D.BadImageError, match=message):
        D.decode_scale_crop(bomb, 224, (256, 480))
    with pytest.raises(D.BadImageError, match=message):
        D.ScaleCropLoader(224, (256, 480))(bomb, 0)


def test_the_pixel_limit_is_configurable_on_the_jpeg_path(tmp_path: Path, monkeypatch) -> None:
    from tests.augkit.data._files import jpeg_bytes

    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_bytes(rgb(64, 48, 0)))
    with pytest.raises(D.BadImageError, match=r"48x64 = 3072 pixels, more than max_pixels=3071"):
        D.decode_image(path, max_pixels=3071)
    assert D.decode_image(path, max_pixels=3072).shape == (64, 48, 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # Pillow's global is the default limit
    with pytest.raises(D.BadImageError, match=r"more than max_pixels=3000"):
        D.decode_scale_crop(path, 16, (20, 24))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # None: no limit, as in Pillow
    assert D.decode_image(path).shape == (64, 48, 3)


def _pillow_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize(
    "options",
    [{"quality": 90}, {"quality": 90, "subsampling": 0}, {"quality": 80, "progressive": True}, {"gray": True}],
    ids=["4:2:0", "4:4:4", "progressive", "grayscale"],
)
def test_jpegs_decode_to_pillows_pixels(tmp_path: Path, options: dict) -> None:
    from tests.augkit.data._files import jpeg_bytes

    photo = Image.fromarray(D.load_sample_photos()[1])
    if options.pop("gray", False):
        photo = photo.convert("L")
    data = jpeg_bytes(photo, **options)
    (tmp_path / "p.jpg").write_bytes(data)
    np.testing.assert_array_equal(D.decode_image(tmp_path / "p.jpg"), _pillow_rgb(data))


def test_real_photos_decode_to_pillows_pixels(flower_photos: list[Path]) -> None:
    for path in flower_photos:
        np.testing.assert_array_equal(D.decode_image(path), _pillow_rgb(path.read_bytes()), err_msg=str(path))


def test_cmyk_jpeg_uses_pillows_conversion(tmp_path: Path) -> None:
    from tests.augkit.data._files import jpeg_bytes

    data = jpeg_bytes(Image.fromarray(rgb(24, 32, 5)).convert("CMYK"), quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    (tmp_path / "cmyk.jpg").write_bytes(data)
    np.testing.assert_array_equal(D.decode_image(tmp_path / "cmyk.jpg"), _pillow_rgb(data))
    assert D.decode_scale_crop(tmp_path / "cmyk.jpg", 16, (24, 30), 0).shape == (16, 16, 3)


@pytest.mark.parametrize("call", [D.decode_image, lambda p: D.decode_scale_crop(p, 32, (40, 60), 0)],
                         ids=["decode_image", "decode_scale_crop"])
def test_bad_or_misnamed_files_are_decoded_or_refused_naming_the_file(tmp_path: Path, call) -> None:
    from tests.augkit.data._files import jpeg_bytes

    photo = D.load_sample_photos()[0]
    data = jpeg_bytes(photo, quality=90)
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(D.BadImageError, match=r"truncated\.jpg.*truncated or corrupt image data"):
        call(tmp_path / "truncated.jpg")
    (tmp_path / "notes.jpg").write_bytes(b"not an image\n")
    with pytest.raises(D.BadImageError, match=r"notes\.jpg.*not an image file Pillow can identify"):
        call(tmp_path / "notes.jpg")
    (tmp_path / "header.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(D.BadImageError, match=r"header\.jpg"):
        call(tmp_path / "header.jpg")
    # A PNG named .jpg, and a 16-bit PNG: decoded by content, by the module's rules.
    save(tmp_path / "png.jpg", photo[:60, :80], "PNG")
    assert call(tmp_path / "png.jpg").dtype == np.uint8
    Image.fromarray(photo[:60, :80, 0].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    out = call(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and (out == out[..., :1]).all()


def test_exif_orientation_is_not_applied(tmp_path: Path) -> None:
    from tests.augkit.data._files import jpeg_bytes

    image = Image.fromarray(rgb(20, 36, 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    (tmp_path / "tagged.jpg").write_bytes(jpeg_bytes(image, quality=95, exif=exif.tobytes()))
    (tmp_path / "plain.jpg").write_bytes(jpeg_bytes(image, quality=95))
    assert Image.open(tmp_path / "tagged.jpg").getexif()[0x0112] == 6
    tagged = D.decode_image(tmp_path / "tagged.jpg")
    assert tagged.shape == (20, 36, 3)  # stored order, as torchvision and Pillow's open give
    np.testing.assert_array_equal(tagged, D.decode_image(tmp_path / "plain.jpg"))


def test_dct_reduction_rule() -> None:
    # The largest k in (8, 4, 2) keeping the decoded image at least `needed` (and 8 px) on both sides.
    assert D.dct_reduction((854, 1280), (200, 300)) == 4  # 854 >= 4 * 200, 1280 >= 4 * 300
    assert D.dct_reduction((854, 1280), (214, 300)) == 2  # 854 < 4 * 214
    assert D.dct_reduction((800, 1200), (100, 150)) == 8
    assert D.dct_reduction((240, 320), (128, 171)) == 1  # no power of two keeps 128
    assert D.dct_reduction((60, 60), (1, 1)) == 4  # decoded sides stay >= 8 px
