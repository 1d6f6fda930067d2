"""A folder of real JPEG photographs of mixed sizes, built from scikit-learn's two sample photos.

No download: each file is a random crop of ``china.jpg`` or ``flower.jpg`` (427 x 640), with an
aspect ratio (longer / shorter side) in [1, 1.8], landscape or portrait, covering 50-100% of the
largest such window, rescaled (Lanczos) so its longer side is an integer in [300, 800] and saved
as a JPEG (quality 90, 4:2:0). The ImageFolder classes are the photo and the orientation:
``china_landscape``, ``china_portrait``, ``flower_landscape``, ``flower_portrait``. Everything
follows from ``seed``: the same call writes the same files.

    python benchmarks/photo_folder.py OUT_DIR [--images 512] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conventions import check_int

LONGER_SIDE = (300, 800)
ASPECT = (1.0, 1.8)
COVER = (0.5, 1.0)
QUALITY = 90


def write_photo_folder(root: str | Path, n_images: int = 512, seed: int = 0) -> Path:
    """Write ``n_images`` JPEG crops and rescales of the sklearn photos as an ImageFolder tree.

    Parameters
    ----------
    root : str or pathlib.Path
        Folder to create (its parents too); files ``<root>/<photo>_<orientation>/NNNN.jpg``.
    n_images : int
        Number of files (>= 1).
    seed : int
        Seed of every random choice (photo, orientation, aspect, window, longer side).

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    from sklearn.datasets import load_sample_images

    check_int(n_images, "n_images", minimum=1)
    sample = load_sample_images()
    names = [Path(f).stem for f in sample.filenames]
    photos = [Image.fromarray(p) for p in sample.images]
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n_images):
        which = int(rng.integers(len(photos)))
        photo = photos[which]
        portrait = bool(rng.integers(2))
        aspect = rng.uniform(*ASPECT)
        # Largest window of that aspect inside the photo, then a random part of it.
        width, height = photo.size
        win_w, win_h = (height / aspect, height) if portrait else (width, width / aspect)
        if win_h > height:
            win_w, win_h = win_w * height / win_h, height
        if win_w > width:
            win_w, win_h = width, win_h * width / win_w
        cover = rng.uniform(*COVER)
        win_w, win_h = win_w * cover, win_h * cover
        x0, y0 = rng.uniform(0, width - win_w), rng.uniform(0, height - win_h)
        longer = int(rng.integers(LONGER_SIDE[0], LONGER_SIDE[1] + 1))
        shorter = round(longer / aspect)
        out_size = (shorter, longer) if portrait else (longer, shorter)
        image = photo.resize(out_size, Image.Resampling.LANCZOS, box=(x0, y0, x0 + win_w, y0 + win_h))
        folder = root / f"{names[which]}_{'portrait' if portrait else 'landscape'}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:04d}.jpg", quality=QUALITY)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_photo_folder(args.out, args.images, args.seed)
    print(f"wrote {args.images} JPEGs to {args.out}")


if __name__ == "__main__":
    main()
