"""Fixtures of the data tests: a small ImageFolder tree, one PNG, large JPEG photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import augkit.data as D
from tests.augkit.data._files import photo_folder_module, rgb, save


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A clean 3-class tree of 8x6 PNGs: cat (3 files), dog (2 files), eel (1 file)."""
    root = tmp_path / "tree"
    for label, (name, count) in enumerate([("cat", 3), ("dog", 2), ("eel", 1)]):
        for i in range(count):
            save(root / name / f"{i:02d}.png", rgb(8, 6, 10 * label + i))
    return root


@pytest.fixture
def one_png(tmp_path: Path) -> Path:
    """One black 40 x 50 PNG, the only file of class ``c``."""
    path = tmp_path / "c" / "x.png"
    path.parent.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory) -> Path:
    """A 1280 x 854 JPEG photo (sklearn's china photo upscaled)."""
    path = tmp_path_factory.mktemp("photos") / "big.jpg"
    photo = Image.fromarray(D.load_sample_photos()[0]).resize((1280, 854), Image.Resampling.BICUBIC)
    photo.save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """8 JPEG photos of mixed sizes (benchmarks/photo_folder.py, seed 1)."""
    root = photo_folder_module().write_photo_folder(tmp_path_factory.mktemp("e2e") / "photos", n_images=8, seed=1)
    return sorted(root.rglob("*.jpg"))


# The tests (never the library) know where the project's shared photos live.
SHARED_FLOWERS = Path(__file__).resolve().parents[4] / "shared" / "data" / "flowers" / "train"


@pytest.fixture(scope="session")
def flower_photos() -> list[Path]:
    """12 real JPEG photos of mixed sizes (every 250th file of the flowers training folder:
    ``$AUGKIT_FLOWERS`` or ../shared beside the repository); skips when absent."""
    root = Path(os.environ.get("AUGKIT_FLOWERS") or SHARED_FLOWERS)
    if not root.is_dir():
        pytest.skip(f"flower photos not found: set AUGKIT_FLOWERS or place the ImageFolder at {SHARED_FLOWERS}")
    return sorted(root.rglob("*.jpg"))[::250]
