"""augkit.data.streaming against its definition, resize-then-crop of the fully decoded file, on real
JPEG photos of mixed sizes (benchmarks/photo_folder.py); and bad arguments of the data modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import augkit as A
import augkit.data as D

ROOT = Path(__file__).resolve().parent.parent


def _photo_folder_module():
    spec = importlib.util.spec_from_file_location("photo_folder", ROOT / "benchmarks" / "photo_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    root = _photo_folder_module().write_photo_folder(tmp_path_factory.mktemp("e2e") / "photos", n_images=8, seed=1)
    return sorted(root.rglob("*.jpg"))


def _definition(path: Path, params: dict, size: int) -> np.ndarray:
    """RandomScaleCrop on the full decode: antialiased bilinear resize to the scaled size, then crop."""
    full = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(full, size=params["scaled_size"], mode="bilinear", antialias=True)
    top, left = params["top"], params["left"]
    return resized[0, :, top:top + size, left:left + size].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("size, scale", [(224, (256, 480)), (40, (48, 128))])
def test_stream_is_resize_then_crop_of_the_full_decode(photos: list[Path], size: int, scale: tuple[int, int]) -> None:
    regimes = {"full": 0, "draft": 0}
    for i, path in enumerate(photos):
        width, height = Image.open(path).size
        for seed in range(3):
            out, params = D.decode_scale_crop(path, size, scale, 10 * i + seed, return_params=True)
            diff = np.abs(out.astype(np.float64) - _definition(path, params, size))
            if params["decoded_size"] == (height, width):
                regimes["full"] += 1
                assert diff.max() <= 2, (path, params)
                # The in-memory transform itself, with the same draws, on the decoded batch.
                batch = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None]
                in_memory = A.RandomScaleCrop(size, scale)(batch, generator=10 * i + seed)[0].permute(1, 2, 0)
                assert np.abs(out.astype(np.int64) - in_memory.numpy()).max() <= 2, (path, params)
            else:
                regimes["draft"] += 1
                scaled_h, scaled_w = params["scaled_size"]
                decoded_h, decoded_w = params["decoded_size"]
                assert decoded_h >= 2 * scaled_h and decoded_w >= 2 * scaled_w  # never below twice the resolution
                psnr = 10 * np.log10(255**2 / np.mean(diff**2))
                assert diff.mean() <= 1.5 and psnr >= 40, (path, params, diff.mean(), psnr)
    if scale == (48, 128):
        assert regimes["full"] and regimes["draft"]  # both bounds were exercised


def test_photo_folder_is_deterministic_and_of_mixed_sizes(photos: list[Path], tmp_path: Path) -> None:
    again = _photo_folder_module().write_photo_folder(tmp_path / "again", n_images=8, seed=1)
    assert [p.read_bytes() for p in photos] == [p.read_bytes() for p in sorted(again.rglob("*.jpg"))]
    sizes = [Image.open(p).size for p in photos]
    assert all(300 <= max(s) <= 800 for s in sizes) and len(set(sizes)) == len(sizes)
    assert {p.parent.name for p in photos} <= {"china_landscape", "china_portrait", "flower_landscape", "flower_portrait"}
    assert all(Image.open(p).format == "JPEG" for p in photos)


@pytest.fixture
def one_png(tmp_path: Path) -> Path:
    path = tmp_path / "c" / "x.png"
    path.parent.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: D.decode_scale_crop(p, 0, (20, 24)), ValueError, r"size must be positive, got \(0, 0\)"),
        (lambda p: D.decode_scale_crop(p, "16", (20, 24)), TypeError, r"size must be an int or an \(h, w\) pair"),
        (lambda p: D.decode_scale_crop(p, 16, (24, 20)), ValueError, r"scale range is reversed"),
        (lambda p: D.decode_scale_crop(p, 16, (20.5, 24)), ValueError, r"scale must be integer shorter-side lengths"),
        (lambda p: D.decode_scale_crop(p, (16, 30), (20, 24)), ValueError,
         r"crop size \(16, 30\) is larger than an image rescaled to shorter side scale\[0\]=20: .* lo >= 30"),
        (lambda p: D.ScaleCropLoader(16, (20, 24), max_pixels=0), ValueError, r"max_pixels must be an int >= 1, got 0"),
        (lambda p: D.ImageFolderStream(p.parent.parent, seed=1.5), TypeError, r"seed must be an int, got 1.5"),
        (lambda p: D.ImageFolderStream(p.parent.parent, on_error="skip"), ValueError, r"on_error must be one of"),
        (lambda p: D.load_image_folder(p.parent.parent, cache_dir=False, num_threads=0), ValueError,
         r"num_threads must be an int >= 1, got 0"),
        (lambda p: D.load_image_folder(p.parent.parent, cache_dir=False, max_pixels="big"), TypeError,
         r"max_pixels must be an int, got 'big'"),
        (lambda p: D.load_image_folder(p.parent.parent, cache_dir=False, on_empty_class="ignore"), ValueError,
         r"on_empty_class must be one of \('warn', 'raise'\), got 'ignore'"),
        (lambda p: D.decode_image(p, size=(0, 3)), ValueError, r"size must be positive, got \(0, 3\)"),
        (lambda p: D.last_per_class_split(np.zeros(3, np.int64), 1.0), TypeError, r"n_per_class must be an int, got 1.0"),
    ],
)
def test_bad_arguments_name_the_argument(one_png: Path, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(one_png)


def test_loader_and_stream_return_the_draw_of_their_crop(one_png: Path) -> None:
    loader = D.ScaleCropLoader((16, 12), (20, 24))
    assert (loader.crop.size, loader.crop.scale) == ((16, 12), (20, 24))
    out = loader(one_png, torch.Generator().manual_seed(5))
    expected = D.decode_scale_crop(one_png, (16, 12), (20, 24), 5)
    assert out.shape == (16, 12, 3)
    np.testing.assert_array_equal(out, expected)
    image, label = D.ImageFolderStream(one_png.parent.parent, loader=loader, seed=3)[0]
    assert image.shape == (3, 16, 12) and image.dtype == torch.uint8 and label == 0
