"""augkit.data.folder: classes and files of an ImageFolder tree, in order; empty classes and roots."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.augkit.data._files import load_folder, rgb, save


@pytest.mark.parametrize("num_threads", [1, 3])
def test_files_sorted_by_name_and_subfolders_searched(tmp_path: Path, num_threads: int) -> None:
    root = tmp_path / "tree"
    for name, seed in [("b.png", 2), ("a.png", 1), ("sub/c.png", 3), ("a0.png", 4)]:
        save(root / "only" / name, rgb(4, 4, seed))
    images, _, _ = load_folder(root, tmp_path, cache_dir=False, num_threads=num_threads)
    expected = [rgb(4, 4, s) for s in (1, 4, 2, 3)]  # a, a0, b, sub/c
    np.testing.assert_array_equal(images, np.stack(expected))


def test_empty_class_warns_and_keeps_index(tree: Path, tmp_path: Path) -> None:
    (tree / "ant").mkdir()
    (tree / "ant" / ".DS_Store").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"class folder .*ant'.*class index 0 is kept"):
        _images, labels, classes = load_folder(tree, tmp_path)
    assert classes == ["ant", "cat", "dog", "eel"]
    assert labels.tolist() == [1, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match=r"class folder .*ant'"):
        load_folder(tree, tmp_path, on_empty_class="raise")


def test_root_without_classes_or_images(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"root=.*empty' contains no class folders"):
        load_folder(empty, tmp_path)
    (empty / "cls").mkdir()
    with pytest.raises(ValueError, match=r"root=.*empty' contains no image files"):
        load_folder(empty, tmp_path)
    (empty / "cls" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="notes.txt"):
        with pytest.raises(ValueError, match=r"root=.*empty' contains no decodable images"):
            load_folder(empty, tmp_path)
    with pytest.raises(ValueError, match="is not a directory"):
        load_folder(tmp_path / "missing", tmp_path)
    with pytest.raises(ValueError, match=r"on_error must be one of \('warn', 'raise'\), got 'skip'"):
        load_folder(empty, tmp_path, on_error="skip")


# ---------------------------------------------------------------- scan_image_folder and the pre-scan
def test_scan_image_folder_lists_classes_and_files_and_refuses_what_cannot_train(tree: Path, tmp_path: Path) -> None:
    from augkit.data.folder import scan_image_folder

    classes, paths, labels = scan_image_folder(tree)
    assert classes == ["cat", "dog", "eel"] and labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert paths[0] == str(tree / "cat" / "00.png")
    with pytest.raises(ValueError, match=r"'.*missing' does not exist"):
        scan_image_folder(tmp_path / "missing")
    (tree / "ant").mkdir()
    (tree / "ant" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"class folder '.*ant' holds no image file"):
        scan_image_folder(tree)


def _jpeg(tmp_path: Path, name: str, **save_options) -> tuple[Path, bytes]:
    path = save(tmp_path / name, rgb(48, 64, 1), fmt="JPEG")
    if save_options:
        Image.open(path).save(path, format="JPEG", **save_options)
    return path, path.read_bytes()


def test_the_pre_scan_finds_empty_files_non_images_and_files_cut_short(tmp_path: Path) -> None:
    from augkit.data.folder import check_image_file, check_image_files

    good, data = _jpeg(tmp_path, "good.jpg")
    assert check_image_file(good) is None
    trailer = tmp_path / "trailer.jpg"  # bytes after the end marker (cameras append some): still good
    trailer.write_bytes(data + b"\xff\xda trailing bytes")
    assert check_image_file(trailer) is None
    cases = {"empty.jpg": (b"", "empty file"), "notes.jpg": (b"not an image at all", "not an image file"),
             "half.jpg": (data[: len(data) // 2], "truncated JPEG"), "no_eoi.jpg": (data[:-2], "truncated JPEG"),
             "header.jpg": (data[:300], "corrupt image header")}
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    png = save(tmp_path / "cut.png", rgb(30, 30, 2))
    png.write_bytes(png.read_bytes()[:-20])
    found = dict(check_image_files([good, trailer, *(tmp_path / n for n in cases), png]))
    assert set(found) == {str(tmp_path / n) for n in cases} | {str(png)}
    for name, (_, reason) in cases.items():
        assert reason in found[str(tmp_path / name)], name
    assert "truncated PNG" in found[str(png)]


def test_a_thumbnail_end_marker_does_not_hide_a_truncated_jpeg(tmp_path: Path) -> None:
    """An EXIF thumbnail (a whole JPEG inside the APP1 segment) has its own end marker."""
    from augkit.data.folder import check_image_file

    thumb = io.BytesIO()
    Image.fromarray(rgb(8, 8, 3)).save(thumb, format="JPEG")
    exif = Image.Exif()
    exif[0x010F] = "camera"
    path, data = _jpeg(tmp_path, "with_thumb.jpg", exif=exif.tobytes() + thumb.getvalue())
    assert data.count(b"\xff\xd9") >= 2 and check_image_file(path) is None
    path.write_bytes(data[:-100])
    assert "truncated JPEG" in check_image_file(path)
