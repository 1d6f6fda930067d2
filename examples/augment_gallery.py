"""Gallery of augkit's transforms: augmented views of photos and CIFAR-10 images, TTA crops.

Figures written to ``--out``:

* ``gallery_photos.png``: scikit-learn's two sample photographs (china, flower), shrunk to a
  shorter side of ``--photo-side`` pixels; one row per transform, ``--samples`` columns of random
  draws (columns alternate between the two photos; the first row is the untouched input);
* ``gallery_cifar10.png``: the same rows on CIFAR-10 training images (one image per column),
  when :func:`augkit.data.cifar10_root` finds the data (otherwise the script says so and skips it);
* ``ten_crop.png``: the 10 views of :func:`augkit.ten_crop` (224 px) of the china photo;
* ``multi_scale.png``: the 50 views of :func:`augkit.multi_scale_ten_crop` (224 px at shorter
  sides 224, 256, 384, 480, 640) of the same photo.

Rows: HorizontalFlip, VerticalFlip, RandomScaleCrop, RandomResizedCrop, PCALighting (fitted on
the images shown, sigma 0.5 so the colour shift is visible), ColorJitter, Grayscale, GaussianBlur,
Rotate, Translate, Shear, Stretch, LensDistortion (barrel and pincushion), GaussianNoise,
RandomErasing, TrivialAugmentWide, RandAugment, MixUp and CutMix (each column mixed with another
column's image), and the full training pipeline (scale-crop, flip, PCA lighting 0.1, rotate 15,
noise 0.03). ``gallery.md`` / ``gallery.json`` list every row's transform (its JSON config) and
every figure.

    python examples/augment_gallery.py --out docs/results/gallery
"""
from __future__ import annotations

import json
from pathlib import Path

import _report
import numpy as np
import torch

import augkit as A
from augkit.data import cifar10_root, load_cifar10, load_sample_photos, to_batch, to_nhwc

MULTI_SCALES = (224, 256, 384, 480, 640)


def transform_rows(images: torch.Tensor, crop: int, scale: tuple[int, int]) -> dict[str, A.Transform]:
    """One named transform per gallery row; ``images`` (uint8 N x 3 x H x W) fit the PCA lighting."""
    return {
        "HorizontalFlip": A.HorizontalFlip(p=0.5),
        "VerticalFlip": A.VerticalFlip(p=0.5),
        f"ScaleCrop {crop}, L {scale[0]}-{scale[1]}": A.RandomScaleCrop(size=crop, scale=scale),
        f"ResizedCrop {crop}": A.RandomResizedCrop(size=crop),
        "PCALighting 0.5": A.PCALighting.fit(images, sigma=0.5),
        "ColorJitter .4 .4 .4 .1": A.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
        "Grayscale p 0.5": A.Grayscale(p=0.5),
        "GaussianBlur 0.5-3 px": A.GaussianBlur(kernel_size=9, sigma=(0.5, 3.0)),
        "Rotate +-30 deg": A.Rotate(degrees=30),
        "Translate +-20 %": A.Translate(x=0.2, y=0.2),
        "Shear +-20 deg": A.Shear(x=20, y=20),
        "Stretch 0.7..1.3": A.Stretch(x=0.3, y=0.3),
        "Lens barrel": A.LensDistortion(k1=(0.2, 0.4)),
        "Lens pincushion": A.LensDistortion(k1=(-0.3, -0.15)),
        "GaussianNoise 0.1": A.GaussianNoise(sigma=0.1),
        "RandomErasing p 1": A.RandomErasing(p=1.0, value="random"),
        "TrivialAugmentWide": A.TrivialAugmentWide(),
        "RandAugment 2 ops, 9": A.RandAugment(num_ops=2, magnitude=9),
        "MixUp alpha 1": A.MixUp(alpha=1.0),
        "CutMix alpha 1": A.CutMix(alpha=1.0),
        "full train Compose": A.Compose([
            A.RandomScaleCrop(size=crop, scale=scale),
            A.HorizontalFlip(p=0.5),
            A.PCALighting.fit(images, sigma=0.1),
            A.Rotate(degrees=15),
            A.GaussianNoise(sigma=0.03),
        ]),
    }


def augmented_grid(images: torch.Tensor, rows: dict[str, A.Transform], samples: int,
                   seed: int) -> dict[str, list[np.ndarray]]:
    """Per row name, ``samples`` uint8 H x W x 3 views; column j shows image ``j % len(images)``.

    Each row draws from its own generator seeded ``seed + row number``, so a row's views do not
    change when rows are added or removed before it. Label-mixing rows (MixUp, CutMix) label
    column j as class j and show the mixed images.
    """
    batch = images[torch.arange(samples) % len(images)]
    grid = {"input": list(to_nhwc(batch))}
    for i, (name, transform) in enumerate(rows.items()):
        if transform.mixes_labels:
            out, _ = transform(batch, torch.arange(samples), generator=seed + i, num_classes=samples)
        else:
            out = transform(batch, generator=seed + i)
        grid[name] = list(to_nhwc(out))
    return grid


def save_png(fig, path: Path, dpi: int) -> None:
    """Save ``fig`` as a 256-colour (palette) PNG and close it.

    Photographs compress poorly as 24-bit PNG; a dithered adaptive palette keeps the gallery
    figures small enough to commit (a few hundred KB) and the differences between views visible.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def plot_grid(grid: dict[str, list[np.ndarray]], path: Path, cell: tuple[float, float], dpi: int,
              title: str) -> None:
    """Rows of images with the row name at the left; ``cell`` = (width, height) inches per image."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(grid), len(next(iter(grid.values())))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell[0] * n_cols + 1.3, cell[1] * n_rows + 0.5), squeeze=False)
    for r, (name, views) in enumerate(grid.items()):
        for c, view in enumerate(views):
            ax = axes[r][c]
            ax.imshow(view, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    save_png(fig, path, dpi)


def plot_views(views: torch.Tensor, cols: int, path: Path, cell: float, dpi: int, title: str,
               labels: list[str]) -> None:
    """``views`` uint8 V x 3 x h x w laid out ``cols`` per row, each with its label."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(views) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, 1.2 * cell * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, view, label in zip(axes.flat, to_nhwc(views), labels):
        ax.imshow(view)
        ax.set_title(label, fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    save_png(fig, path, dpi)


def summary(config: dict | None) -> str:
    """A transform config in one short line: class names, without PCA eigenpairs."""
    if config is None:
        return "-"
    if "transforms" in config:
        return " -> ".join(summary(c) for c in config["transforms"])
    args = ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("name", "eigval", "eigvec"))
    return f"{config.get('name', '')}({args})"


def shrink(batch: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 N x C x H x W -> shorter side ``side`` (antialiased bilinear), still uint8."""
    x = torch.nn.functional.interpolate(batch.float() / 255, scale_factor=side / min(batch.shape[-2:]),
                                        mode="bilinear", antialias=True, align_corners=False)
    return x.mul(255).round().clamp(0, 255).to(torch.uint8)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = _report.parser(__doc__)
    parser.add_argument("--out", type=Path, default=Path("augkit-out/augment_gallery"),
                        help="folder for the PNGs and gallery.md/.json (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=6, help="random views per row (default: %(default)s)")
    parser.add_argument("--photo-side", type=int, default=96,
                        help="shorter side the photos are shrunk to before augmenting (default: %(default)s)")
    parser.add_argument("--cifar-images", type=int, default=None,
                        help="CIFAR-10 images shown (default: --samples, one per column)")
    parser.add_argument("--no-cifar", action="store_true", help="skip the CIFAR-10 rows even if the data is there")
    parser.add_argument("--no-tta", action="store_true", help="skip the ten-crop and multi-scale figures")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the draws (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error(f"--samples must be >= 1, got {args.samples}")
    args.out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []

    photos = to_batch(load_sample_photos())  # uint8 2 x 3 x 427 x 640
    small = shrink(photos, args.photo_side)
    side = args.photo_side
    rows = transform_rows(small, crop=side, scale=(side, int(side * 1.5)))
    grid = augmented_grid(small, rows, args.samples, args.seed)
    path = args.out / "gallery_photos.png"
    plot_grid(grid, path, cell=(1.2, 0.85), dpi=args.dpi, title=f"sklearn sample photos, shorter side {side} px")
    records += [{"figure": path.name, "row": name, "transform": rows[name].to_config() if name in rows else None}
                for name in grid]

    if args.no_cifar:
        print("CIFAR-10 rows skipped (--no-cifar)")
    elif cifar10_root() is None:
        print("CIFAR-10 not found (set AUGKIT_CIFAR10 or place it at <repo>/../shared/data/cifar10/train): "
              "CIFAR-10 rows skipped")
    else:
        images, labels, classes = load_cifar10()
        count = args.cifar_images or args.samples
        # Column j shows class j % 10 (its (j // 10)-th image in file order): every column differs.
        firsts = [int(np.flatnonzero(labels == j % len(classes))[j // len(classes)]) for j in range(count)]
        cifar = to_batch(images[firsts])
        rows = transform_rows(to_batch(images[:5000]), crop=32, scale=(32, 48))
        grid = augmented_grid(cifar, rows, len(firsts), args.seed)
        path = args.out / "gallery_cifar10.png"
        plot_grid(grid, path, cell=(0.75, 0.75), dpi=args.dpi,
                  title="CIFAR-10:\n" + ", ".join(classes[labels[i]] for i in firsts))
        records += [{"figure": path.name, "row": name, "transform": rows[name].to_config() if name in rows else None}
                    for name in grid]

    if not args.no_tta:
        photo = photos[:1]
        views = A.ten_crop(photo, size=224)[0]
        names = ["top-left", "top-right", "bottom-left", "bottom-right", "centre"]
        path = args.out / "ten_crop.png"
        plot_views(views, 5, path, cell=1.3, dpi=args.dpi, title="augkit.ten_crop(photo, 224): 10 views",
                   labels=names + [f"mirror {n}" for n in names])
        records.append({"figure": path.name, "row": "ten_crop", "transform": {"size": 224}})
        views = A.multi_scale_ten_crop(photo, size=224, scales=MULTI_SCALES)[0]
        labels = [f"{s}: {i}" for s in MULTI_SCALES for i in range(10)]
        path = args.out / "multi_scale.png"
        plot_views(views, 10, path, cell=0.8, dpi=args.dpi,
                   title=f"augkit.multi_scale_ten_crop(photo, 224, scales={MULTI_SCALES}): 50 views",
                   labels=labels)
        records.append({"figure": path.name, "row": "multi_scale_ten_crop",
                        "transform": {"size": 224, "scales": list(MULTI_SCALES)}})

    lines = ["| figure | row | transform (full configs in gallery.json) |", "|---|---|---|"]
    lines += [f"| {r['figure']} | {r['row']} | {summary(r['transform'])} |" for r in records]
    markdown = "\n".join(lines) + "\n"
    (args.out / "gallery.md").write_text(markdown)
    (args.out / "gallery.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "rows": records}, indent=1))
    print(markdown)
    return records


if __name__ == "__main__":
    main()
