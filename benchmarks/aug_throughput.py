"""Augmentation throughput (images/second), augkit beside torchvision.v2, albumentations and kornia.

Cases, one table from one run:

(a) the 32 px mission pipeline on uint8 CIFAR-10 batches (256 and 1024): RandomScaleCrop(32,
    (32, 40)), HorizontalFlip, PCALighting (fit on the data), Rotate(15), GaussianNoise(0.03) —
    one resampling per batch. Goals: >= 10x torchvision.v2, >= 3x kornia.
(b) large photos with default settings: RandomScaleCrop(224, (256, 480)) + HorizontalFlip on the
    two scikit-learn photos (427 x 640), as a batch from numpy (channels-last in memory), as a
    channels-first batch, and one image at a time (numpy H x W x 3). Goal: >= 2x albumentations.
(c) end to end from JPEG files through a DataLoader with 2 workers (benchmarks/aug_e2e_case.py).
    Goal: >= 1.5x the faster of torchvision.v2 and albumentations.
(d) TrivialAugmentWide + RandomErasing + MixUp on 32 px batches (benchmarks/aug_policy_case.py,
    when present). Goals: >= 5x torchvision.v2, >= 2x kornia.

Cases (a), (b), (d) run on one thread (torch.set_num_threads(1), cv2.setNumThreads(0)); each
figure is the median of ``--repeats`` timed runs after a warm-up, the libraries' runs interleaved
round by round (so load on shared cores hits all alike). Peer rows appear when the library is
importable (run it in the comparison venv, ../shared/tools/comparison-venv.sh).

    python benchmarks/aug_throughput.py --cifar10 ../shared/data/cifar10/train [--repeats 7]
        [--cases a,b,c,d] [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import augkit as A

try:
    import cv2

    cv2.setNumThreads(0)
except ImportError:
    cv2 = None

GOALS = {"a": {"torchvision.v2": 10.0, "kornia": 3.0}, "b": {"albumentations": 2.0},
         "c": {"faster peer": 1.5}, "d": {"torchvision.v2": 5.0, "kornia": 2.0}}
FOOTNOTES = {
    "torchvision.v2": "torchvision.transforms.v2 per sample on uint8 tensors. (a): RandomShortestSize(32..40) + "
                      "RandomCrop(32) + RandomHorizontalFlip + PCA lighting as a Lambda (the same formula) + "
                      "RandomRotation(15) + GaussianNoise(0.03); (b): RandomShortestSize(256..480) + RandomCrop(224) + "
                      "RandomHorizontalFlip.",
    "albumentations": "albumentations per sample on numpy H x W x 3 uint8. (a): SmallestMaxSize([32..40]) + "
                      "RandomCrop(32) + HorizontalFlip + FancyPCA(0.1) (their AlexNet lighting, which also runs a "
                      "PCA per image) + Rotate(15) + GaussNoise(std 0.03); (b): SmallestMaxSize([256..480]) (its "
                      "default: OpenCV bilinear, not antialiased) + RandomCrop(224) + HorizontalFlip.",
    "kornia": "kornia.augmentation batched on float [0, 1] (uint8 -> float -> uint8 included). (a): "
              "RandomResizedCrop(32, scale=(0.64, 1), ratio=(1, 1)) (the zoom range of L in [32, 40] with a "
              "uniform crop position; kornia has no shorter-side scale op) + RandomHorizontalFlip + PCA lighting as "
              "one tensor op (kornia has none) + RandomRotation(15) + RandomGaussianNoise(0.03).",
}


def median_seconds(fns: dict, repeats: int, sync=lambda: None) -> dict:
    """name -> median seconds of ``fns[name]()``, after one warm-up each.

    The timed runs are interleaved (one run of every function per round), so a change of load
    on shared cores hits all of them alike and the ratios stay comparable.
    """
    for fn in fns.values():
        fn()
        sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def cifar_images(n: int, root: str | None) -> tuple[np.ndarray, str]:
    """n uint8 32 x 32 x 3 CIFAR-10 images decoded with PIL (the first of each class), or
    random ones when no folder is given."""
    if root and Path(root).is_dir():
        from PIL import Image

        classes = sorted(p for p in Path(root).iterdir() if p.is_dir())
        per_class = -(-n // len(classes))
        files = [f for c in classes for f in sorted(c.glob("*.jpg"))[:per_class]][:n]
        if len(files) == n:
            return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]), f"CIFAR-10 ({n} JPEGs)"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), f"random uint8 ({n})"


def pca_offset_fn(eigval: torch.Tensor, eigvec: torch.Tensor, sigma: float = 0.1):
    """Per-image AlexNet offset on a float CHW / NCHW tensor (for libraries without one)."""
    def light(x: torch.Tensor) -> torch.Tensor:
        alpha = torch.randn(x.shape[:-3] + (3,), dtype=x.dtype, device=x.device) * sigma
        offset = (alpha * eigval.to(x)) @ eigvec.to(x).T
        return (x + offset[..., None, None]).clamp(0, 1)
    return light


def case_a_runners(images: np.ndarray, device: str):
    """name -> (style, fn(n)) for case (a)."""
    eigval, eigvec = A.fit_pca(images)
    ours = A.Compose([A.RandomScaleCrop(32, (32, 40)), A.HorizontalFlip(), A.PCALighting(eigval, eigvec),
                      A.Rotate(15), A.GaussianNoise(0.03)])
    tensors = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    generator = torch.Generator().manual_seed(0)
    runners = {"augkit": ("batched", lambda n: ours(tensors[:n], generator=generator))}
    if device != "cpu":
        return runners
    try:
        from torchvision.transforms import v2

        light = pca_offset_fn(eigval.float(), eigvec.float())
        tv = v2.Compose([v2.RandomShortestSize(list(range(32, 41)), antialias=True), v2.RandomCrop(32),
                         v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True), v2.Lambda(light),
                         v2.RandomRotation(15), v2.GaussianNoise(sigma=0.03, clip=True),
                         v2.ToDtype(torch.uint8, scale=True)])
        runners["torchvision.v2"] = ("per sample", lambda n: [tv(tensors[i]) for i in range(n)])
    except ImportError:
        pass
    try:
        import albumentations as alb

        al = alb.Compose([alb.SmallestMaxSize(max_size=list(range(32, 41))), alb.RandomCrop(32, 32),
                          alb.HorizontalFlip(), alb.FancyPCA(alpha=0.1, p=1.0), alb.Rotate(limit=15, p=1.0),
                          alb.GaussNoise(std_range=(0.03, 0.03), p=1.0)])
        runners["albumentations"] = ("per sample", lambda n: [al(image=images[i])["image"] for i in range(n)])
    except ImportError:
        pass
    try:
        import kornia.augmentation as K

        light = pca_offset_fn(eigval.float(), eigvec.float())
        resized = K.RandomResizedCrop((32, 32), scale=(0.64, 1.0), ratio=(1.0, 1.0))
        flip, rot = K.RandomHorizontalFlip(), K.RandomRotation(15.0, p=1.0)
        noise = K.RandomGaussianNoise(std=0.03, p=1.0)

        def kornia_pipe(n):
            x = tensors[:n].float().div_(255)
            x = rot(light(flip(resized(x))))
            return (noise(x).clamp_(0, 1) * 255).round_().to(torch.uint8)
        runners["kornia"] = ("batched", kornia_pipe)
    except ImportError:
        pass
    return runners


def case_b_runners():
    """name -> (style, fn(n)) for case (b): the library's default settings."""
    from augkit.data import load_sample_photos

    photos = load_sample_photos()  # 2 x 427 x 640 x 3
    ours = A.Compose([A.RandomScaleCrop(224, (256, 480)), A.HorizontalFlip()])
    generator = torch.Generator().manual_seed(0)
    index = np.arange(64) % 2
    from_numpy = torch.from_numpy(photos[index]).permute(0, 3, 1, 2)  # channels-last memory, as numpy gives
    channels_first = from_numpy.contiguous()
    runners = {
        "augkit": ("batch from numpy", lambda n: ours(from_numpy[:n], generator=generator)),
        "augkit, channels-first batch": ("batched", lambda n: ours(channels_first[:n], generator=generator)),
        "augkit, one image at a time": ("per sample", lambda n: [ours(photos[i % 2], generator=generator)
                                                                 for i in range(n)]),
    }
    try:
        from torchvision.transforms import v2

        tv = v2.Compose([v2.RandomShortestSize(list(range(256, 481)), antialias=True), v2.RandomCrop(224),
                         v2.RandomHorizontalFlip()])
        runners["torchvision.v2"] = ("per sample", lambda n: [tv(t) for t in channels_first[:n]])
    except ImportError:
        pass
    try:
        import albumentations as alb

        al = alb.Compose([alb.SmallestMaxSize(max_size=list(range(256, 481))), alb.RandomCrop(224, 224),
                          alb.HorizontalFlip()])
        runners["albumentations"] = ("per sample", lambda n: [al(image=photos[i % 2])["image"] for i in range(n)])
    except ImportError:
        pass
    return runners


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} x {cpu}, Python {platform.python_version()}, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cifar10", default=os.environ.get("AUGKIT_CIFAR10"),
                        help="CIFAR-10 ImageFolder for case (a) (default $AUGKIT_CIFAR10; random images without it)")
    parser.add_argument("--cases", default="a,b,c,d", help="comma-separated cases to run (default: all)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="small batches and folders (smoke test)")
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    torch.set_num_threads(1)
    rows = []  # (case, library, style, batch, images/s)

    def measure(case, runners, n, sync=lambda: None):
        seconds = median_seconds({name: (lambda fn=fn: fn(n)) for name, (_, fn) in runners.items()},
                                 args.repeats, sync)
        rows.extend((case, name, style, n, n / seconds[name]) for name, (style, _) in runners.items())

    images, source = cifar_images(256 if args.quick else 2048, args.cifar10)
    print(f"{machine()}; threads {torch.get_num_threads()}; data (a): {source}")
    if "a" in cases:
        runners = case_a_runners(images, args.device)
        sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
        for n in ((64,) if args.quick else (256, 1024)):
            measure("a", runners, n, sync)
    if "b" in cases:
        measure("b", case_b_runners(), 8 if args.quick else 32)
    if "c" in cases:
        from aug_e2e_case import case_c_runners
        from photo_folder import write_photo_folder

        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as tmp:
            root = write_photo_folder(Path(tmp) / "photos", 64 if args.quick else 512, 0)
            runners, n = case_c_runners(root, num_workers=0 if args.quick else 2)
            measure("c", runners, n)
    if "d" in cases:
        try:
            from aug_policy_case import case_d_runners
        except ImportError:
            case_d_runners = None
        if case_d_runners is not None:
            for n in ((64,) if args.quick else (256,)):
                measure("d", case_d_runners(images), n)
    print_table(rows)
    return rows


def print_table(rows: list[tuple]) -> None:
    """One markdown table: each row's rate and augkit's ratio to it, with the goals."""
    ours = {(case, n): rate for case, name, _, n, rate in rows if name == "augkit"}
    print("\n| case | library | style | batch | images/s | augkit / this | goal |")
    print("|---|---|---|---:|---:|---:|---|")
    for case, name, style, n, rate in rows:
        ratio = ours[(case, n)] / rate
        goal = GOALS.get(case, {}).get(name)
        verdict = "" if goal is None else f">= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}"
        print(f"| ({case}) | {name} | {style} | {n} | {rate:,.0f} | {ratio:.2f}x | {verdict} |")
    peers_c = [rate for case, name, _, _, rate in rows if case == "c" and name != "augkit"]
    if peers_c:
        ratio = ours[next((c, n) for c, _, _, n, _ in rows if c == "c")] / max(peers_c)
        print(f"\n(c) augkit / the faster peer: {ratio:.2f}x (goal >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'})")
    print()
    for name in sorted({r[1] for r in rows} & set(FOOTNOTES)):
        print(f"* {name}: {FOOTNOTES[name]}")


if __name__ == "__main__":
    main()
