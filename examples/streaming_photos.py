"""Stream a folder of large photos: per-image decode + scale-crop in workers, the rest batched.

The split follows the cost of each step:

* per image, in DataLoader workers: decode the file and take a random scale-crop. Images of
  different sizes cannot be batched before the crop, and ``decode_scale_crop`` decodes JPEGs at
  a reduced scale (Pillow ``draft``) and resamples only the crop window, so the worker never
  materialises the full-resolution photo.
* per batch, after collation: horizontal flip, PCA lighting and noise, as one augkit Compose on
  an N x 3 x size x size tensor (the same code runs on a GPU batch).

By default it writes scikit-learn's two sample photos (427 x 640) as JPEGs into a temporary
ImageFolder tree (several copies per class, so there is something to stream); ``--data PATH``
streams your own ImageFolder tree instead. Prints images/second per epoch and writes them as
``streaming_photos.md`` and ``.json`` to ``--out``.

    python examples/streaming_photos.py
    python examples/streaming_photos.py --data /path/to/imagefolder --size 224 --scale 256 480
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import _report
import torch
from PIL import Image

import augkit as A
from augkit.data import ImageFolderStream, ScaleCropLoader, load_sample_photos


def write_sample_tree(root: Path, copies: int) -> Path:
    """Write sklearn's photos as an ImageFolder of JPEGs: root/<china|flower>/NNN.jpg."""
    for name, photo in zip(("china", "flower"), load_sample_photos()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(copies):
            Image.fromarray(photo).save(root / name / f"{i:03d}.jpg", quality=90)
    return root


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="ImageFolder tree (default: sklearn's sample photos)")
    # The defaults are small enough for JPEG draft decoding on the 427 x 640 sample photos while
    # L <= 427 / 4 (decoded at half size, still twice the L-scaled image); for ImageNet-style
    # training use --size 224 --scale 256 480.
    parser.add_argument("--size", type=int, default=96, help="crop side (pixels)")
    parser.add_argument("--scale", type=int, nargs=2, default=(96, 128), metavar=("LO", "HI"),
                        help="shorter side L ~ U{LO..HI} before the crop")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--copies", type=int, default=24, help="copies per sample photo")
    parser.add_argument("--seed", type=int, default=0)
    _report.add_out_argument(parser, "streaming_photos")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or write_sample_tree(Path(tmp) / "photos", args.copies)
        # An int seed: item i of epoch e gets its own stream, whichever worker decodes it.
        stream = ImageFolderStream(root, loader=ScaleCropLoader(args.size, tuple(args.scale)),
                                   seed=args.seed)
        loader = torch.utils.data.DataLoader(
            stream, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers,
            generator=torch.Generator().manual_seed(args.seed),
        )
        print(f"{len(stream)} images in {len(stream.classes)} classes from {root}; "
              f"crops {args.size}x{args.size} from shorter side {args.scale[0]}..{args.scale[1]}, "
              f"{args.num_workers} workers")

        # Lighting's eigenpairs from a few streamed batches (fit_pca accumulates batch by batch).
        lighting = A.PCALighting.fit(images for images, _ in itertools.islice(loader, 4))
        pipeline = A.Compose([A.HorizontalFlip(p=0.5), lighting, A.GaussianNoise(sigma=0.03)])
        generator = torch.Generator().manual_seed(args.seed)

        rows = []
        for epoch in range(args.epochs):
            stream.set_epoch(epoch)
            count, batch_seconds, start = 0, 0.0, time.perf_counter()
            for images, _labels in loader:  # images: uint8 N x 3 x size x size
                tic = time.perf_counter()
                batch = pipeline(images.float().div_(255), generator=generator)
                batch_seconds += time.perf_counter() - tic
                count += len(batch)
            seconds = time.perf_counter() - start
            rows.append({"epoch": epoch, "images": count, "images_per_s": count / seconds,
                         "augment_images_per_s": count / batch_seconds})
            print(f"epoch {epoch}: last batch {tuple(batch.shape)} {batch.dtype} in [{batch.min():.2f}, {batch.max():.2f}]")
        caption = (f"{len(stream)} images from {args.data or 'copies of scikit-learn sample photos'}, "
                   f"{args.size} x {args.size} crops, {args.num_workers} workers, batch {args.batch_size}")
    table = _report.markdown_table(["epoch", "images", "images/s end to end", "batched augmentation alone, images/s"],
                                   [list(r.values()) for r in rows], floats=".1f")
    _report.write_report(args.out, "streaming_photos", caption + "\n\n" + table, {"args": args, "epochs": rows})
    return rows


if __name__ == "__main__":
    main()
