"""augkit.data.folder: classes and files of an ImageFolder tree, in order; empty classes and roots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
