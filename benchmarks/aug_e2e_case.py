"""Case (c) of the augmentation benchmark: end to end from JPEG files through a torch DataLoader.

Each runner decodes every file of an ImageFolder tree of real photos (mixed sizes: the folder
``benchmarks/photo_folder.py`` writes, or any folder, e.g. the flower photos), applies a scale
augmentation (shorter side L ~ U{lo..hi}, random crop; default 224 of L in [256, 480]) and a
horizontal flip, and collates uint8 batches of 32 N x 3 x size x size, on a DataLoader with 2
worker processes (one torch thread each, OpenCV threads off, persistent workers, shuffled with a
fixed seed):

* augkit: :class:`augkit.data.ImageFolderStream` with :class:`augkit.data.ScaleCropLoader`
  (libjpeg-turbo decode through simplejpeg, at a reduced DCT scale while the decoded image
  stays at least twice the L-scaled size, only the crop window resampled, uint8 throughout),
  collated, then ``A.HorizontalFlip`` on the uint8 batch (in the worker);
* torchvision.v2: ``ImageFolder`` (PIL decode) + ``v2.Compose([ToImage(),
  RandomShortestSize(256..480), RandomCrop(224), RandomHorizontalFlip()])`` (uint8 tensors);
* albumentations: a Dataset calling ``cv2.imread`` (+ BGR -> RGB) + ``Compose([SmallestMaxSize(
  256..480), RandomCrop(224, 224), HorizontalFlip(), ToTensorV2()])``.

Rows for torchvision / albumentations appear when they are importable (run it in the comparison
environment, built by ``../shared/tools/comparison-venv.sh``). Images/second over a full pass,
median of ``--repeats`` passes after a warm-up pass, the libraries' passes interleaved round by
round.

    python benchmarks/aug_e2e_case.py [--images 512] [--repeats 5] [--photos DIR] [--size 224]
        [--scale 256 480] [--per-item]

``case_c_runners(root)`` returns ``({name: (style, fn)}, n_images)`` like ``case_a_runners`` in
``benchmarks/aug_throughput.py``: ``fn(n)`` runs one full pass over the n images of ``root``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import augkit as A
from augkit.data import ImageFolderStream, ScaleCropLoader

SIZE, SCALE = 224, (256, 480)
FOOTNOTES = {
    "augkit": "augkit.data.ImageFolderStream + ScaleCropLoader(size, (lo, hi)) in the workers (simplejpeg "
              "decode, reduced DCT scale while the decode stays >= 2x the L-scaled size, antialiased bilinear on "
              "the crop window only), default_collate, then A.HorizontalFlip on the uint8 batch in the worker.",
    "torchvision.v2": "torchvision ImageFolder (PIL decode) + v2.ToImage + RandomShortestSize(lo..hi, "
                      "antialias) + RandomCrop(size) + RandomHorizontalFlip, uint8 tensors.",
    "albumentations": "cv2.imread + cvtColor(BGR2RGB) + SmallestMaxSize([lo..hi]) (its default "
                      "cv2 bilinear, not antialiased) + RandomCrop(size) + HorizontalFlip + ToTensorV2.",
}


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)
    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(0)


class _CollateFlip:
    """The DataLoader's default collation, then augkit's batched flip on the uint8 batch.

    It runs in the worker, with the torch generator DataLoader seeds per worker."""

    def __init__(self) -> None:
        self.flip = A.HorizontalFlip()

    def __call__(self, items: list) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = torch.utils.data.default_collate(items)
        return self.flip(images), labels


class _Cv2Folder(torch.utils.data.Dataset):
    """The files and labels of an ImageFolder tree, decoded with cv2.imread and augmented per item."""

    def __init__(self, samples: list[tuple[str, int]], transform: Callable) -> None:
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        import cv2

        path, label = self.samples[index]
        image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return self.transform(image=image)["image"], label


def _pass(loader: torch.utils.data.DataLoader, n: int) -> None:
    count = 0
    for images, _labels in loader:
        count += len(images)
    if count != n:
        raise ValueError(f"one pass yields {count} images, asked for n={n}")


def case_c_datasets(root: str | Path, seed: int = 0, size: int = SIZE, scale: tuple[int, int] = SCALE
                    ) -> dict[str, tuple[torch.utils.data.Dataset, Callable | None]]:
    """name -> (dataset, collate_fn or None for the default) of each installed library over ``root``."""
    datasets = {"augkit": (ImageFolderStream(root, loader=ScaleCropLoader(size, scale), seed=seed), _CollateFlip())}
    try:
        from torchvision.datasets import ImageFolder
        from torchvision.transforms import v2

        tv = v2.Compose([v2.ToImage(), v2.RandomShortestSize(list(range(scale[0], scale[1] + 1)), antialias=True),
                         v2.RandomCrop(size), v2.RandomHorizontalFlip()])
        datasets["torchvision.v2"] = (ImageFolder(str(root), transform=tv), None)
    except ImportError:
        pass
    try:
        import albumentations as alb
        import cv2  # noqa: F401  (the dataset decodes with it)
        from albumentations.pytorch import ToTensorV2

        al = alb.Compose([alb.SmallestMaxSize(max_size=list(range(scale[0], scale[1] + 1))),
                          alb.RandomCrop(size, size), alb.HorizontalFlip(), ToTensorV2()])
        datasets["albumentations"] = (_Cv2Folder(datasets["augkit"][0].samples, al), None)
    except ImportError:
        pass
    return datasets


def case_c_runners(root: str | Path, *, batch_size: int = 32, num_workers: int = 2, seed: int = 0,
                   size: int = SIZE, scale: tuple[int, int] = SCALE
                   ) -> tuple[dict[str, tuple[str, Callable[[int], None]]], int]:
    """The end-to-end runners over the ImageFolder tree ``root``.

    Returns ``(runners, n_images)``: ``runners[name] = (style, fn)``, where ``fn(n)`` runs one
    full pass (``n`` must be ``n_images``; it raises ValueError otherwise) and returns nothing.
    The loaders keep their workers between passes (time one warm-up pass first).
    """
    datasets = case_c_datasets(root, seed, size, scale)
    runners = {}
    for name, (dataset, collate_fn) in datasets.items():
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers, collate_fn=collate_fn,
            persistent_workers=num_workers > 0, worker_init_fn=_worker_init,
            generator=torch.Generator().manual_seed(seed))
        style = "DataLoader, batched flip" if name == "augkit" else "DataLoader, per sample"
        runners[name] = (style, lambda n, loader=loader: _pass(loader, n))
    return runners, len(datasets["augkit"][0])


def per_item_cpu_ms(root: str | Path, n_items: int = 128, repeats: int = 3, seed: int = 0, size: int = SIZE,
                    scale: tuple[int, int] = SCALE) -> dict[str, float]:
    """CPU milliseconds per ``dataset[i]`` in this process (no DataLoader), median over rounds.

    The profile behind case (c): each library's item, and the decode alone (simplejpeg's, which
    augkit uses, Pillow's, which torchvision uses, and OpenCV's, which the albumentations
    dataset uses). CPU time (``time.process_time``), so load from other processes on shared
    cores barely moves it.
    """
    import simplejpeg
    from PIL import Image

    datasets = {name: dataset for name, (dataset, _) in case_c_datasets(root, seed, size, scale).items()}
    paths = [path for path, _ in datasets["augkit"].samples][:n_items]

    def pillow_decode(i: int) -> None:
        with Image.open(paths[i]) as image:
            image.load()

    items = {f"{name} item": dataset.__getitem__ for name, dataset in datasets.items()}
    items["Pillow decode alone"] = pillow_decode
    items["simplejpeg decode alone"] = lambda i: simplejpeg.decode_jpeg(Path(paths[i]).read_bytes())
    if "albumentations" in datasets:
        import cv2

        items["cv2.imread alone"] = lambda i: cv2.imread(paths[i], cv2.IMREAD_COLOR)
    times = {name: [] for name in items}
    for _ in range(repeats):
        for name, item in items.items():
            start = time.process_time()
            for i in range(len(paths)):
                item(i)
            times[name].append((time.process_time() - start) / len(paths) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the case (c) table; return its rows as dicts (library, style, images_per_s, augkit_ratio)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from aug_throughput import median_seconds
    from photo_folder import write_photo_folder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="photos to write (ignored with --photos)")
    parser.add_argument("--photos", type=Path, help="an existing ImageFolder tree instead of the built one")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=SIZE, help="crop size")
    parser.add_argument("--scale", type=int, nargs=2, default=SCALE, help="range of the shorter side L")
    parser.add_argument("--per-item", action="store_true",
                        help="also print CPU ms per item in one process (the profile behind the table)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.photos or write_photo_folder(Path(tmp) / "photos", args.images, args.seed)
        scale = tuple(args.scale)
        runners, n = case_c_runners(root, batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed,
                                    size=args.size, scale=scale)
        seconds = median_seconds({name: (lambda fn=fn: fn(n)) for name, (_, fn) in runners.items()}, args.repeats)
        per_item = (per_item_cpu_ms(root, repeats=args.repeats, seed=args.seed, size=args.size, scale=scale)
                    if args.per_item else {})
    rates = {name: n / seconds[name] for name in runners}
    source = args.photos or f"benchmarks/photo_folder.py (seed {args.seed})"
    print(f"(c) end to end from {n} JPEGs in {source}: crop {args.size} of L in {tuple(args.scale)}, "
          f"batch {args.batch_size}, {args.num_workers} workers, median of {args.repeats} passes")
    print("\n| library | style | images/s | augkit / this |")
    print("|---|---|---:|---:|")
    rows = []
    for name, (style, _) in runners.items():
        ratio = rates["augkit"] / rates[name]
        rows.append({"library": name, "style": style, "images_per_s": rates[name], "augkit_ratio": ratio})
        print(f"| {name} | {style} | {rates[name]:,.0f} | {ratio:.2f}x |")
    peers = [rate for name, rate in rates.items() if name != "augkit"]
    if peers:
        print(f"\naugkit / faster peer: {rates['augkit'] / max(peers):.2f}x (goal >= 1.5x)")
    if per_item:
        print("\n| per item, one process | CPU ms |\n|---|---:|")
        for name, ms in per_item.items():
            print(f"| {name} | {ms:.2f} |")
    print()
    for name in runners:
        print(f"* {name}: {FOOTNOTES[name]}")
    return rows


if __name__ == "__main__":
    main()
