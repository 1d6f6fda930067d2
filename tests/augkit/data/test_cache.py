"""augkit.data.cache: hits without decoding, the key, invalidation and corrupt entries rebuilt."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import augkit.data as D
from tests.augkit.data._files import bad_files, load_folder, rgb, save


def test_cache_hit_is_identical_and_does_not_decode(tree: Path, tmp_path: Path, monkeypatch) -> None:
    bad_files(tree)
    with pytest.warns(UserWarning):
        first = load_folder(tree, tmp_path)
    cache_files = sorted(p.suffix for p in (tmp_path / "cache").iterdir())
    assert cache_files == [".json", ".npy"]  # no temporary files left behind

    def fail(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(D.loading, "_decode", fail)
    with pytest.warns(UserWarning) as record:  # a hit repeats the skip warnings
        second = load_folder(tree, tmp_path)
    assert sum("truncated.jpg" in str(w.message) for w in record) == 1
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    with pytest.raises(D.BadImageError, match=r"bomb\.png"):  # raise mode also holds on a hit
        load_folder(tree, tmp_path, on_error="raise")


def test_cache_default_dir_from_env(tree: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUGKIT_CACHE", str(tmp_path / "envcache"))
    D.load_image_folder(tree, progress=False)
    assert len(list((tmp_path / "envcache").glob("tree-*.npy"))) == 1


def test_cache_invalidated_when_a_file_changes(tree: Path, tmp_path: Path) -> None:
    load_folder(tree, tmp_path)
    target = tree / "dog" / "00.png"
    save(target, rgb(8, 6, 1234))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    images, _, _ = load_folder(tree, tmp_path)
    np.testing.assert_array_equal(images[3], rgb(8, 6, 1234))
    load_folder(tree, tmp_path, size=(4, 4))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3  # size is part of the key


@pytest.mark.parametrize("damage", ["truncate_npy", "flip_npy_byte", "garbage_json"])
def test_corrupt_cache_is_rebuilt(tree: Path, tmp_path: Path, damage: str) -> None:
    reference, _, _ = load_folder(tree, tmp_path)
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
        images, _, _ = load_folder(tree, tmp_path)
    np.testing.assert_array_equal(images, reference)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry is valid again
        np.testing.assert_array_equal(load_folder(tree, tmp_path)[0], reference)
