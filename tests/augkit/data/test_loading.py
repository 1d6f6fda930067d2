"""augkit.data.loading: a folder decoded into one array; bad files, size limits, mixed sizes, resizing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import augkit.data as D
from tests.augkit.data._files import bad_files, load_folder, psnr, rgb, save


def test_load_image_folder_layout_order_and_values(tree: Path, tmp_path: Path) -> None:
    (tree / "cat" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (tree / ".hidden_class").mkdir()
    (tree / "README.txt").write_text("files at the root are not classes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hidden files are ignored silently
        images, labels, classes = load_folder(tree, tmp_path)
    assert classes == ["cat", "dog", "eel"]
    assert images.dtype == np.uint8 and images.shape == (6, 8, 6, 3)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 0, 1, 1, 2]
    np.testing.assert_array_equal(images[4], rgb(8, 6, 11))  # dog/01.png


def test_bad_files_are_skipped_with_warnings_naming_file_and_reason(tree: Path, tmp_path: Path) -> None:
    expected = bad_files(tree)
    with pytest.warns(UserWarning) as record:
        images, labels, classes = load_folder(tree, tmp_path)
    messages = [str(w.message) for w in record]
    for relpath, reason in expected.items():
        hits = [m for m in messages if str(tree / relpath) in m]
        assert len(hits) == 1, (relpath, messages)
        assert reason in hits[0], (reason, hits[0])
    assert classes == ["bad", "cat", "dog", "eel"]
    assert labels.tolist() == [0, 1, 1, 1, 2, 2, 3]  # only zz_good.png survives in "bad"
    np.testing.assert_array_equal(images[0], rgb(8, 6, 99))


@pytest.mark.parametrize("kind", ["truncated.jpg", "corrupt.png", "empty.png", "notes.txt", "bomb.png"])
def test_bad_file_raise_mode_names_the_file(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "tree"
    expected = bad_files(root)
    for other in expected:
        if not other.endswith(kind):
            (root / other).unlink()
    with pytest.raises(ValueError, match=kind.replace(".", r"\.")) as info:
        load_folder(root, tmp_path, on_error="raise")
    assert isinstance(info.value, D.BadImageError)
    assert expected[f"bad/{kind}"] in info.value.reason


def test_max_pixels_applies_to_folders(tree: Path, tmp_path: Path) -> None:
    save(tree / "dog" / "big.png", rgb(8, 7, 5))  # 56 pixels > 48
    with pytest.warns(UserWarning, match="big.png.*max_pixels=48"):
        images, _labels, _ = load_folder(tree, tmp_path, max_pixels=48)
    assert len(images) == 6


def test_mixed_sizes_error_names_two_files_or_resize(tree: Path, tmp_path: Path) -> None:
    save(tree / "dog" / "wide.png", rgb(5, 9, 3))
    with pytest.raises(ValueError, match=r"'cat/00.png' is 8x6 but 'dog/wide.png' is 5x9"):
        load_folder(tree, tmp_path)
    images, _labels, _ = load_folder(tree, tmp_path, size=(4, 3))
    assert images.shape == (7, 4, 3, 3)
    reference = np.asarray(Image.fromarray(rgb(5, 9, 3)).resize((3, 4), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(images[5], reference)  # dog/wide.png sorts after dog/01.png


def test_resize_uses_jpeg_draft_but_keeps_resolution(tmp_path: Path) -> None:
    photo = D.load_sample_photos()[0]
    save(tmp_path / "t" / "c" / "p.jpg", photo, "JPEG")
    images, _, _ = load_folder(tmp_path / "t", tmp_path, size=(100, 150), cache_dir=False)
    full = np.asarray(Image.open(tmp_path / "t" / "c" / "p.jpg").convert("RGB").resize((150, 100), Image.Resampling.BILINEAR))
    assert psnr(images[0], full) > 30


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: D.load_image_folder(p.parent.parent, cache_dir=False, num_threads=0), ValueError,
         r"num_threads must be an int >= 1, got 0"),
        (lambda p: D.load_image_folder(p.parent.parent, cache_dir=False, max_pixels="big"), TypeError,
         r"max_pixels must be an int, got 'big'"),
        (lambda p: D.load_image_folder(p.parent.parent, cache_dir=False, on_empty_class="ignore"), ValueError,
         r"on_empty_class must be one of \('warn', 'raise'\), got 'ignore'"),
    ],
)
def test_bad_arguments_name_the_argument(one_png: Path, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(one_png)
