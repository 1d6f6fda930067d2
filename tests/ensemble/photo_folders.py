"""Small photo folders of mixed sizes for the tests that stream photos: crops of scikit-learn's
two sample photos (one class each) and smooth synthetic images (a third class), saved as
JPEGs and PNGs of different sizes and colour modes."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

import nets
from augkit.data import load_sample_photos

CLASSES = ("china", "flower", "waves")
# A tiny network for 24 x 24 crops: the tests check behaviour, not accuracy.
tiny_cnn = functools.partial(nets.SmallCNN, widths=(4, 8))


def _waves(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth synthetic RGB image: sums of random sinusoids, uint8 H x W x 3."""
    y, x = np.mgrid[0:height, 0:width] / 16.0
    channels = [sum(np.sin(rng.uniform(0.2, 1.5) * x + rng.uniform(0.2, 1.5) * y + rng.uniform(0, 6))
                    for _ in range(3)) for _ in range(3)]
    return ((np.stack(channels, -1) / 3 + 1) * 127.5).astype(np.uint8)


def photo_images(per_class: int, seed: int = 0) -> list[tuple[Image.Image, int]]:
    """``per_class`` PIL images per class of :data:`CLASSES`, sizes between 32 and 96 pixels a
    side (the photos' crops downscaled), labelled 0, 1, 2; every sixth image is grayscale,
    palette or RGBA."""
    rng = np.random.default_rng(seed)
    photos = load_sample_photos()
    images = []
    for label in range(len(CLASSES)):
        for i in range(per_class):
            height, width = (int(v) for v in rng.integers(32, 97, 2))
            if label < 2:
                photo = photos[label]
                top, left = rng.integers(0, photo.shape[0] - 200), rng.integers(0, photo.shape[1] - 200)
                image = Image.fromarray(photo[top:top + 200, left:left + 200]).resize((width, height))
            else:
                image = Image.fromarray(_waves(rng, height, width))
            mode = ("L", "P", "RGBA", None, None, None)[i % 6]
            images.append((image.convert(mode) if mode else image, label))
    return images


def make_photo_folder(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """An ImageFolder tree ``root/<class>/<i>.jpg`` of :func:`photo_images` (RGBA and palette
    images as PNG, the rest as JPEG); returns ``root``."""
    for i, (image, label) in enumerate(photo_images(per_class, seed)):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        if image.mode in ("RGBA", "P"):
            image.save(folder / f"{i:03d}.png")
        else:
            image.save(folder / f"{i:03d}.jpg", quality=90)
    return root
