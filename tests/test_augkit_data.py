"""augkit.data: ImageFolder loading, bad files, mode conversion, cache, split, streaming decode."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import augkit.data as D


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path: Path, array: np.ndarray | Image.Image, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    image.save(path, format=fmt)
    return path


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims width x height (CRC recomputed, so the header is valid)."""
    data = bytearray(_png_bytes(Image.new("RGB", (1, 1))))
    # Bytes 8..15 are the IHDR chunk length and type; its data (width, height, ...) starts at 16.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A clean 3-class tree of 8x6 PNGs: cat (3 files), dog (2 files), eel (1 file)."""
    root = tmp_path / "tree"
    for label, (name, count) in enumerate([("cat", 3), ("dog", 2), ("eel", 1)]):
        for i in range(count):
            _save(root / name / f"{i:02d}.png", _rgb(8, 6, 10 * label + i))
    return root


def _load(root: Path, tmp_path: Path, **kwargs):
    kwargs.setdefault("cache_dir", tmp_path / "cache")
    kwargs.setdefault("progress", False)
    return D.load_image_folder(root, **kwargs)


def test_load_image_folder_layout_order_and_values(tree: Path, tmp_path: Path) -> None:
    (tree / "cat" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (tree / ".hidden_class").mkdir()
    (tree / "README.txt").write_text("files at the root are not classes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hidden files are ignored silently
        images, labels, classes = _load(tree, tmp_path)
    assert classes == ["cat", "dog", "eel"]
    assert images.dtype == np.uint8 and images.shape == (6, 8, 6, 3)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 0, 1, 1, 2]
    np.testing.assert_array_equal(images[4], _rgb(8, 6, 11))  # dog/01.png


@pytest.mark.parametrize("num_threads", [1, 3])
def test_files_sorted_by_name_and_subfolders_searched(tmp_path: Path, num_threads: int) -> None:
    root = tmp_path / "tree"
    for name, seed in [("b.png", 2), ("a.png", 1), ("sub/c.png", 3), ("a0.png", 4)]:
        _save(root / "only" / name, _rgb(4, 4, seed))
    images, _, _ = _load(root, tmp_path, cache_dir=False, num_threads=num_threads)
    expected = [_rgb(4, 4, s) for s in (1, 4, 2, 3)]  # a, a0, b, sub/c
    np.testing.assert_array_equal(images, np.stack(expected))


def _bad_files(root: Path) -> dict[str, str]:
    """Write one bad file of each kind into root/bad; return relpath -> expected reason fragment."""
    good = io.BytesIO()
    Image.fromarray(_rgb(64, 64, 0)).save(good, format="JPEG", quality=90)
    png = bytearray(_png_bytes(Image.fromarray(_rgb(16, 16, 1))))
    png[60:70] = b"\xff" * 10  # inside IDAT: CRC mismatch / broken zlib stream
    files = {
        "bad/truncated.jpg": (good.getvalue()[: len(good.getvalue()) // 2], "truncated or corrupt"),
        "bad/corrupt.png": (bytes(png), "corrupt"),
        "bad/empty.png": (b"", "empty file (0 bytes)"),
        "bad/notes.txt": (b"not an image\n", "not an image file"),
        "bad/bomb.png": (_bomb_png(100_000, 100_000), "decompression bomb"),
    }
    for relpath, (content, _) in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(content)
    _save(root / "bad" / "zz_good.png", _rgb(8, 6, 99))
    return {relpath: reason for relpath, (_, reason) in files.items()}


def test_bad_files_are_skipped_with_warnings_naming_file_and_reason(tree: Path, tmp_path: Path) -> None:
    expected = _bad_files(tree)
    with pytest.warns(UserWarning) as record:
        images, labels, classes = _load(tree, tmp_path)
    messages = [str(w.message) for w in record]
    for relpath, reason in expected.items():
        hits = [m for m in messages if str(tree / relpath) in m]
        assert len(hits) == 1, (relpath, messages)
        assert reason in hits[0], (reason, hits[0])
    assert classes == ["bad", "cat", "dog", "eel"]
    assert labels.tolist() == [0, 1, 1, 1, 2, 2, 3]  # only zz_good.png survives in "bad"
    np.testing.assert_array_equal(images[0], _rgb(8, 6, 99))


@pytest.mark.parametrize("kind", ["truncated.jpg", "corrupt.png", "empty.png", "notes.txt", "bomb.png"])
def test_bad_file_raise_mode_names_the_file(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "tree"
    expected = _bad_files(root)
    for other in expected:
        if not other.endswith(kind):
            (root / other).unlink()
    with pytest.raises(ValueError, match=kind.replace(".", r"\.")) as info:
        _load(root, tmp_path, on_error="raise")
    assert isinstance(info.value, D.BadImageError)
    assert expected[f"bad/{kind}"] in info.value.reason


def test_bomb_refused_from_header_without_decoding(tmp_path: Path, monkeypatch) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(_bomb_png(100_000, 100_000))
    small = _save(tmp_path / "small.png", _rgb(20, 20, 0))

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


def test_max_pixels_applies_to_folders(tree: Path, tmp_path: Path) -> None:
    _save(tree / "dog" / "big.png", _rgb(8, 7, 5))  # 56 pixels > 48
    with pytest.warns(UserWarning, match="big.png.*max_pixels=48"):
        images, _labels, _ = _load(tree, tmp_path, max_pixels=48)
    assert len(images) == 6


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


def test_empty_class_warns_and_keeps_index(tree: Path, tmp_path: Path) -> None:
    (tree / "ant").mkdir()
    (tree / "ant" / ".DS_Store").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"class folder .*ant'.*class index 0 is kept"):
        _images, labels, classes = _load(tree, tmp_path)
    assert classes == ["ant", "cat", "dog", "eel"]
    assert labels.tolist() == [1, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match=r"class folder .*ant'"):
        _load(tree, tmp_path, on_empty_class="raise")


def test_root_without_classes_or_images(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"root=.*empty' contains no class folders"):
        _load(empty, tmp_path)
    (empty / "cls").mkdir()
    with pytest.raises(ValueError, match=r"root=.*empty' contains no image files"):
        _load(empty, tmp_path)
    (empty / "cls" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="notes.txt"):
        with pytest.raises(ValueError, match=r"root=.*empty' contains no decodable images"):
            _load(empty, tmp_path)
    with pytest.raises(ValueError, match="is not a directory"):
        _load(tmp_path / "missing", tmp_path)
    with pytest.raises(ValueError, match=r"on_error must be one of \('warn', 'raise'\), got 'skip'"):
        _load(empty, tmp_path, on_error="skip")


def test_mixed_sizes_error_names_two_files_or_resize(tree: Path, tmp_path: Path) -> None:
    _save(tree / "dog" / "wide.png", _rgb(5, 9, 3))
    with pytest.raises(ValueError, match=r"'cat/00.png' is 8x6 but 'dog/wide.png' is 5x9"):
        _load(tree, tmp_path)
    images, _labels, _ = _load(tree, tmp_path, size=(4, 3))
    assert images.shape == (7, 4, 3, 3)
    reference = np.asarray(Image.fromarray(_rgb(5, 9, 3)).resize((3, 4), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(images[5], reference)  # dog/wide.png sorts after dog/01.png


def test_resize_uses_jpeg_draft_but_keeps_resolution(tmp_path: Path) -> None:
    photo = D.load_sample_photos()[0]
    _save(tmp_path / "t" / "c" / "p.jpg", photo, "JPEG")
    images, _, _ = _load(tmp_path / "t", tmp_path, size=(100, 150), cache_dir=False)
    full = np.asarray(Image.open(tmp_path / "t" / "c" / "p.jpg").convert("RGB").resize((150, 100), Image.Resampling.BILINEAR))
    assert _psnr(images[0], full) > 30


def test_cache_hit_is_identical_and_does_not_decode(tree: Path, tmp_path: Path, monkeypatch) -> None:
    _bad_files(tree)
    with pytest.warns(UserWarning):
        first = _load(tree, tmp_path)
    cache_files = sorted(p.suffix for p in (tmp_path / "cache").iterdir())
    assert cache_files == [".json", ".npy"]  # no temporary files left behind

    def fail(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(D.loading, "_decode", fail)
    with pytest.warns(UserWarning) as record:  # a hit repeats the skip warnings
        second = _load(tree, tmp_path)
    assert sum("truncated.jpg" in str(w.message) for w in record) == 1
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    with pytest.raises(D.BadImageError, match=r"bomb\.png"):  # raise mode also holds on a hit
        _load(tree, tmp_path, on_error="raise")


def test_cache_default_dir_from_env(tree: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUGKIT_CACHE", str(tmp_path / "envcache"))
    D.load_image_folder(tree, progress=False)
    assert len(list((tmp_path / "envcache").glob("tree-*.npy"))) == 1


def test_cache_invalidated_when_a_file_changes(tree: Path, tmp_path: Path) -> None:
    _load(tree, tmp_path)
    target = tree / "dog" / "00.png"
    _save(target, _rgb(8, 6, 1234))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    images, _, _ = _load(tree, tmp_path)
    np.testing.assert_array_equal(images[3], _rgb(8, 6, 1234))
    _load(tree, tmp_path, size=(4, 4))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3  # size is part of the key


@pytest.mark.parametrize("damage", ["truncate_npy", "flip_npy_byte", "garbage_json"])
def test_corrupt_cache_is_rebuilt(tree: Path, tmp_path: Path, damage: str) -> None:
    reference, _, _ = _load(tree, tmp_path)
    npy = next((tmp_path / "cache").glob("*.npy"))
    if damage == "truncate_npy":
        npy.write_bytes(npy.read_bytes()[:200])
    elif damage == "flip_npy_byte":
        data = bytearray(npy.read_bytes())
        data[-1] ^= 0xFF
        npy.write_bytes(bytes(data))
    else:
        npy.with_suffix(".json").write_text("{not json")
    with pytest.warns(UserWarning, match="ignoring corrupt cache entry"):
        images, _, _ = _load(tree, tmp_path)
    np.testing.assert_array_equal(images, reference)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry is valid again
        np.testing.assert_array_equal(_load(tree, tmp_path)[0], reference)


def test_last_per_class_split() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0])
    train, val = D.last_per_class_split(labels, 2)
    # class 0 at 0,1,2,10 -> val 2,10; class 1 at 3..6 -> val 5,6; class 2 at 7,8,9 -> val 8,9
    assert val.tolist() == [2, 5, 6, 8, 9, 10]
    assert train.tolist() == [0, 1, 3, 4, 7]
    assert train.dtype == val.dtype == np.int64
    train, val = D.last_per_class_split(torch.tensor(labels), 0)
    assert train.tolist() == list(range(11)) and val.tolist() == []
    with pytest.raises(ValueError, match="class 2 has 3 images, not more than n_per_class=3"):
        D.last_per_class_split(labels, 3)
    with pytest.raises(ValueError, match="n_per_class must be an int >= 0, got -1"):
        D.last_per_class_split(labels, -1)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse)) if mse else float("inf")


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory) -> Path:
    """A 1280 x 854 JPEG photo (sklearn's china photo upscaled)."""
    path = tmp_path_factory.mktemp("photos") / "big.jpg"
    photo = Image.fromarray(D.load_sample_photos()[0]).resize((1280, 854), Image.Resampling.BICUBIC)
    photo.save(path, quality=92)
    return path


def test_decode_scale_crop_samples_like_random_scale_crop(big_jpeg: Path) -> None:
    import augkit as A

    full = torch.from_numpy(np.asarray(Image.open(big_jpeg).convert("RGB")).copy()).permute(2, 0, 1)[None]
    lengths = set()
    for seed in range(12):
        out, params = D.decode_scale_crop(big_jpeg, 96, (100, 160), seed, return_params=True)
        assert out.shape == (96, 96, 3) and out.dtype == np.uint8
        reference, expected = A.RandomScaleCrop(96, (100, 160))(full, generator=seed, return_params=True)
        assert (params["L"], params["top"], params["left"]) == (
            int(expected["length"][0]), int(expected["top"][0]), int(expected["left"][0])
        )
        short = params["L"]
        assert 100 <= short <= 160
        assert params["scaled_size"] == (short, round(1280 * short / 854))
        assert _psnr(out, reference[0].permute(1, 2, 0).numpy()) > 30
        lengths.add(short)
        np.testing.assert_array_equal(out, D.decode_scale_crop(big_jpeg, 96, (100, 160), seed))
    assert len(lengths) > 6  # L really varies over the range


def test_decode_scale_crop_uses_draft_and_matches_full_resolution(big_jpeg: Path) -> None:
    reductions = set()
    for seed in range(12):  # seed 10 draws L = 101
        out, params = D.decode_scale_crop(big_jpeg, 96, (100, 160), seed, return_params=True)
        decoded_h, decoded_w = params["decoded_size"]
        scaled_h, scaled_w = params["scaled_size"]
        # The largest 1/k (k = 1, 2, 4, 8) whose decode is still twice the L-scaled image.
        k = next(k for k in (8, 4, 2, 1) if 1280 // k >= 2 * scaled_w and 854 // k >= 2 * scaled_h)
        assert (decoded_h, decoded_w) == (-(-854 // k), -(-1280 // k))
        reductions.add(k)
        # Reference: full-resolution decode, the same crop window resampled to 96 x 96.
        sy, sx = 854 / scaled_h, 1280 / scaled_w
        box = (params["left"] * sx, params["top"] * sy, (params["left"] + 96) * sx, (params["top"] + 96) * sy)
        full = Image.open(big_jpeg).convert("RGB")
        reference = np.asarray(full.resize((96, 96), Image.Resampling.BILINEAR, box=box))
        assert _psnr(out, reference) > 38
    assert reductions == {2, 4}  # L in [100, 160] straddles the 1/4 -> 1/2 switch at L = 106


def test_decode_scale_crop_png_and_errors(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.png", _rgb(40, 50, 0))
    out, params = D.decode_scale_crop(path, 16, (20, 24), torch.Generator().manual_seed(3), return_params=True)
    assert out.shape == (16, 16, 3) and params["decoded_size"] == (40, 50)
    with pytest.raises(ValueError, match=r"crop size \(16, 16\) is larger than an image rescaled to shorter side scale\[0\]=10"):
        D.decode_scale_crop(path, 16, (10, 20))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(D.BadImageError, match=r"bad\.jpg"):
        D.decode_scale_crop(tmp_path / "bad.jpg", 16, (20, 24))


def test_image_folder_stream_items_and_bad_files(tree: Path) -> None:
    (tree / "dog" / "00.png").write_bytes(b"")  # bad: the stream substitutes dog/01.png
    stream = D.ImageFolderStream(tree)
    assert len(stream) == 6 and stream.classes == ["cat", "dog", "eel"]
    image, label = stream[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 8, 6) and label == 0
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), _rgb(8, 6, 0))
    with pytest.warns(UserWarning, match=r"dog/00.png.*empty file"):
        image, label = stream[3]
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), _rgb(8, 6, 11))
    assert label == 1
    with pytest.raises(D.BadImageError, match=r"00\.png"):
        D.ImageFolderStream(tree, on_error="raise")[3]
    flipped = D.ImageFolderStream(tree, transform=lambda x: x.flip(-1))[0][0]
    np.testing.assert_array_equal(flipped.permute(1, 2, 0).numpy(), _rgb(8, 6, 0)[:, ::-1])


def test_image_folder_stream_seeding_is_independent_of_workers(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for i in range(6):
        _save(root / f"c{i % 2}" / f"{i}.jpg", _rgb(48, 64, i), "JPEG")
    stream = D.ImageFolderStream(root, loader=D.ScaleCropLoader(24, (24, 40)), seed=7)

    def epoch(num_workers: int) -> torch.Tensor:
        loader = torch.utils.data.DataLoader(stream, batch_size=3, num_workers=num_workers)
        return torch.cat([images for images, _ in loader])

    first = epoch(0)
    assert first.shape == (6, 3, 24, 24)
    torch.testing.assert_close(epoch(2), first, rtol=0, atol=0)  # same items whichever worker
    assert not torch.equal(first[0], first[2])  # items differ: independent streams per index
    stream.set_epoch(1)
    assert not torch.equal(epoch(0), first)  # a new epoch draws new crops
    stream.set_epoch(0)
    torch.testing.assert_close(epoch(0), first, rtol=0, atol=0)
    assert D.item_seed(7, 0, 1) != D.item_seed(7, 0, 2) != D.item_seed(7, 1, 1)


def test_batch_layout_round_trip() -> None:
    images = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    batch = D.to_batch(images)
    assert batch.shape == (2, 3, 3, 4) and batch.is_contiguous() and batch.dtype == torch.uint8
    assert batch[1, 2, 0, 3] == images[1, 0, 3, 2]
    np.testing.assert_array_equal(D.to_nhwc(batch), images)
    with pytest.raises(ValueError, match="rank 4"):
        D.to_batch(images[0])


def test_sklearn_datasets() -> None:
    images, labels = D.load_digits_images()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert images.max() == 255 and set(np.unique(images)) <= {round(v * 255 / 16) for v in range(17)}
    photos = D.load_sample_photos()
    assert photos.shape == (2, 427, 640, 3) and photos.dtype == np.uint8


def test_cifar10_root_from_env_and_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUGKIT_CIFAR10", str(tmp_path / "nowhere"))
    assert D.cifar10_root() == tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="AUGKIT_CIFAR10"):
        D.load_cifar10()


def test_cifar10_root_is_only_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("AUGKIT_CIFAR10", raising=False)
    assert D.cifar10_root() is None  # never a path guessed beside the package
    with pytest.raises(FileNotFoundError, match="AUGKIT_CIFAR10"):
        D.load_cifar10()


def test_cifar10_one_class(tmp_path: Path, cifar10_root) -> None:
    root = cifar10_root
    assert sorted(p.name for p in root.iterdir() if p.is_dir())[0] == "airplane"
    # One class through a symlinked tree keeps the test light (5000 images, not 50000).
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "airplane").symlink_to(root / "airplane")
    images, labels, classes = D.load_cifar10(tmp_path / "one", cache_dir=tmp_path / "cache", progress=False)
    assert images.shape == (5000, 32, 32, 3) and classes == ["airplane"] and (labels == 0).all()
    again, _, _ = D.load_cifar10(tmp_path / "one", cache_dir=tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(images, again)


def test_streaming_photos_example_runs(capsys) -> None:
    import runpy

    example = Path(__file__).resolve().parent.parent / "examples" / "streaming_photos.py"
    main = runpy.run_path(str(example))["main"]
    main(["--epochs", "1", "--copies", "3", "--num-workers", "0", "--batch-size", "4", "--size", "64",
          "--scale", "64", "80"])
    out = capsys.readouterr().out
    assert "6 images in 2 classes" in out and "images/s" in out and "(4, 3, 64, 64) torch.float32" not in out
    assert "(2, 3, 64, 64) torch.float32" in out  # 6 images in batches of 4: the last has 2
