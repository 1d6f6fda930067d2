"""augkit.data.streaming against its definition, resize-then-crop of the fully decoded file, on real
JPEG photos of mixed sizes (benchmarks/photo_folder.py); the stream's items, seeds and bad arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import augkit as A
import augkit.data as D
from tests.augkit.data._files import photo_folder_module, psnr, rgb, save
from tests.script_loader import load_script


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
        assert psnr(out, reference[0].permute(1, 2, 0).numpy()) > 30
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
        assert psnr(out, reference) > 38
    assert reductions == {2, 4}  # L in [100, 160] straddles the 1/4 -> 1/2 switch at L = 106


def test_decode_scale_crop_png_and_errors(tmp_path: Path) -> None:
    path = save(tmp_path / "x.png", rgb(40, 50, 0))
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
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), rgb(8, 6, 0))
    with pytest.warns(UserWarning, match=r"dog/00.png.*empty file"):
        image, label = stream[3]
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), rgb(8, 6, 11))
    assert label == 1
    with pytest.raises(D.BadImageError, match=r"00\.png"):
        D.ImageFolderStream(tree, on_error="raise")[3]
    flipped = D.ImageFolderStream(tree, transform=lambda x: x.flip(-1))[0][0]
    np.testing.assert_array_equal(flipped.permute(1, 2, 0).numpy(), rgb(8, 6, 0)[:, ::-1])


def test_image_folder_stream_seeding_is_independent_of_workers(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for i in range(6):
        save(root / f"c{i % 2}" / f"{i}.jpg", rgb(48, 64, i), "JPEG")
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


def test_streaming_photos_example_runs(capsys) -> None:
    main = load_script("examples/streaming_photos.py").main
    main(["--epochs", "1", "--copies", "3", "--num-workers", "0", "--batch-size", "4", "--size", "64",
          "--scale", "64", "80"])
    out = capsys.readouterr().out
    assert "6 images in 2 classes" in out and "images/s" in out and "(4, 3, 64, 64) torch.float32" not in out
    assert "(2, 3, 64, 64) torch.float32" in out  # 6 images in batches of 4: the last has 2


def _definition(path: Path, params: dict, size: int) -> np.ndarray:
    """RandomScaleCrop on the full decode: antialiased bilinear resize to the scaled size, then crop."""
    full = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(full, size=params["scaled_size"], mode="bilinear", antialias=True)
    top, left = params["top"], params["left"]
    return resized[0, :, top:top + size, left:left + size].permute(1, 2, 0).numpy()


def _check_against_definition(paths: list[Path], size: int, scale: tuple[int, int]) -> dict[str, int]:
    """decode_scale_crop on each file against RandomScaleCrop on the full decode; counts of each regime."""
    regimes = {"full": 0, "draft": 0}
    for i, path in enumerate(paths):
        width, height = Image.open(path).size
        for seed in range(3):
            out, params = D.decode_scale_crop(path, size, scale, 10 * i + seed, return_params=True)
            diff = np.abs(out.astype(np.float64) - _definition(path, params, size))
            if params["decoded_size"] == (height, width):
                regimes["full"] += 1
                assert diff.max() <= 1, (path, params)
                # The in-memory transform itself, with the same draws, on the decoded batch: equal.
                batch = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None]
                in_memory = A.RandomScaleCrop(size, scale)(batch, generator=10 * i + seed)[0].permute(1, 2, 0)
                np.testing.assert_array_equal(out, in_memory.numpy(), err_msg=str((path, params)))
            else:
                regimes["draft"] += 1
                scaled_h, scaled_w = params["scaled_size"]
                decoded_h, decoded_w = params["decoded_size"]
                assert decoded_h >= 2 * scaled_h and decoded_w >= 2 * scaled_w  # never below twice the resolution
                psnr = 10 * np.log10(255**2 / np.mean(diff**2))
                assert diff.mean() <= 2.5 and psnr >= 38, (path, params, diff.mean(), psnr)
    return regimes


@pytest.mark.parametrize("size, scale", [(224, (256, 480)), (40, (48, 128))])
def test_stream_is_resize_then_crop_of_the_full_decode(photos: list[Path], size: int, scale: tuple[int, int]) -> None:
    regimes = _check_against_definition(photos, size, scale)
    if scale == (48, 128):
        assert regimes["full"] and regimes["draft"]  # both bounds were exercised


@pytest.mark.parametrize("size, scale", [(112, (128, 240)), (24, (28, 64))])
def test_stream_on_real_photos_is_resize_then_crop_of_the_full_decode(
    flower_photos: list[Path], size: int, scale: tuple[int, int]
) -> None:
    regimes = _check_against_definition(flower_photos, size, scale)
    if scale == (28, 64):
        assert regimes["full"] and regimes["draft"]


def test_photo_folder_is_deterministic_and_of_mixed_sizes(photos: list[Path], tmp_path: Path) -> None:
    again = photo_folder_module().write_photo_folder(tmp_path / "again", n_images=8, seed=1)
    assert [p.read_bytes() for p in photos] == [p.read_bytes() for p in sorted(again.rglob("*.jpg"))]
    sizes = [Image.open(p).size for p in photos]
    assert all(300 <= max(s) <= 800 for s in sizes) and len(set(sizes)) == len(sizes)
    assert {p.parent.name for p in photos} <= {"china_landscape", "china_portrait", "flower_landscape", "flower_portrait"}
    assert all(Image.open(p).format == "JPEG" for p in photos)


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
    # The window is written channels-first: the item is a contiguous tensor, collated by one copy.
    assert image.is_contiguous()
