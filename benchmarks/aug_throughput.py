"""Augmentation throughput (images/second), augkit batched vs per-sample and batched libraries.

Cases
  (a) CIFAR-size train pipeline on uint8 32x32 batches: RandomScaleCrop(32, (32, 40)),
      HorizontalFlip, PCALighting (fit on the data), Rotate(15), GaussianNoise(0.03).
  (b) ImageNet-style RandomScaleCrop(224, (256, 480)) + HorizontalFlip on the two sklearn sample
      photos (427 x 640), batched; also with RandomScaleCrop(..., interpolation="antialias")
      (resize-then-crop with the SIMD uint8 antialiased kernel, the filter torchvision uses).

Single thread (torch.set_num_threads(1), cv2.setNumThreads(0)); each number is the median of
``--repeats`` timed runs after a warm-up, the libraries' runs interleaved round by round (so
load on shared cores hits all alike). torchvision / albumentations / kornia rows appear when
importable (use the comparison venv). ``--device cuda`` also times (a) at batch 8192.

    python benchmarks/aug_throughput.py [--repeats 5] [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import augkit as A

try:
    import cv2

    cv2.setNumThreads(0)
except ImportError:
    cv2 = None

FOOTNOTES = {
    "torchvision.v2": "torchvision.transforms.v2 per sample: RandomShortestSize(32..40) + RandomCrop(32) "
                      "+ RandomHorizontalFlip + PCA lighting as a Lambda (same formula as ours) "
                      "+ RandomRotation(15) + GaussianNoise(0.03); (b): RandomShortestSize(256..480) "
                      "+ RandomCrop(224) + RandomHorizontalFlip, uint8 tensors.",
    "albumentations": "albumentations per sample (numpy HWC uint8): SmallestMaxSize([32..40]) + "
                      "RandomCrop(32) + HorizontalFlip + FancyPCA(0.1) (their AlexNet lighting, "
                      "which also runs a PCA per image) + Rotate(15) + GaussNoise(std 0.03); (b): "
                      "SmallestMaxSize([256..480]) + RandomCrop(224) + HorizontalFlip.",
    "kornia": "kornia.augmentation batched on float [0, 1] (uint8->float included): RandomResizedCrop(32, "
              "scale=(0.64, 1), ratio=(1, 1)) (same zoom range as L in [32, 40] with a uniform crop "
              "position; kornia has no shorter-side scale op) + RandomHorizontalFlip + PCA "
              "lighting as one tensor op (kornia has none) + RandomRotation(15) + RandomGaussianNoise(0.03).",
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


def cifar_images(n: int) -> tuple[np.ndarray, str]:
    """n uint8 32x32x3 CIFAR-10 images decoded with PIL, or random ones if the data is absent."""
    root = Path(os.environ.get("AUGKIT_CIFAR10", Path(__file__).resolve().parents[2] / "shared/data/cifar10/train"))
    if root.is_dir():
        from PIL import Image

        classes = sorted(p for p in root.iterdir() if p.is_dir())
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
    """name -> function(batch_numpy_index) for case (a); each returns nothing."""
    eigval, eigvec = A.fit_pca(images)
    ours = A.Compose([A.RandomScaleCrop(32, (32, 40)), A.HorizontalFlip(), A.PCALighting(eigval, eigvec),
                      A.Rotate(15), A.GaussianNoise(0.03)])
    runners = {}
    tensors = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    generator = torch.Generator().manual_seed(0)
    runners["augkit"] = ("batched", lambda n: ours(tensors[:n], generator=generator))
    if device != "cpu":
        return runners, tensors
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
    return runners, tensors


def case_b_runners():
    from sklearn.datasets import load_sample_images

    photos = np.stack(load_sample_images().images)  # 2 x 427 x 640 x 3
    ours = A.Compose([A.RandomScaleCrop(224, (256, 480)), A.HorizontalFlip()])
    ours_aa = A.Compose([A.RandomScaleCrop(224, (256, 480), interpolation="antialias"), A.HorizontalFlip()])
    generator = torch.Generator().manual_seed(0)
    runners = {}

    def batch_of(n):
        return torch.from_numpy(photos[np.arange(n) % 2]).permute(0, 3, 1, 2).contiguous()
    cache = {}
    runners["augkit"] = ("batched", lambda n: ours(cache.setdefault(n, batch_of(n)), generator=generator))
    runners["augkit antialias"] = ("batched", lambda n: ours_aa(cache.setdefault(n, batch_of(n)),
                                                                generator=generator))
    try:
        from torchvision.transforms import v2

        tv = v2.Compose([v2.RandomShortestSize(list(range(256, 481)), antialias=True), v2.RandomCrop(224),
                         v2.RandomHorizontalFlip()])
        runners["torchvision.v2"] = ("per sample", lambda n: [tv(t) for t in cache.setdefault(n, batch_of(n))])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="smaller batches (smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    images, source = cifar_images(256 if args.quick else 2048)
    rows = []
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, data (a): {source}")

    def measure(case, runners, n, device="cpu", sync=lambda: None):
        seconds = median_seconds({name: (lambda fn=fn: fn(n)) for name, (_, fn) in runners.items()},
                                 args.repeats, sync)
        for name, (style, _) in runners.items():
            rows.append((case, name, style, device, n, n / seconds[name]))

    runners, _tensors = case_a_runners(images, "cpu")
    for n in ((64,) if args.quick else (256, 1024)):
        measure("(a) 32px train pipeline", runners, n)
    measure("(b) scale-crop 224 + flip", case_b_runners(), 8 if args.quick else 32)

    if args.device == "cuda":
        n = 8192
        big = np.concatenate([images] * -(-n // len(images)))[:n]
        cuda_runners, _ = case_a_runners(big, "cuda")
        measure("(a) 32px train pipeline", cuda_runners, n, "cuda", torch.cuda.synchronize)

    ours = {(r[0], r[3], r[4]): r[5] for r in rows if r[1] == "augkit"}
    ours_aa = {(r[0], r[3], r[4]): r[5] for r in rows if r[1] == "augkit antialias"}
    print("\n| case | library | style | device | batch | images/s | augkit / this | augkit antialias / this |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for case, name, style, device, n, rate in rows:
        ratio = ours[(case, device, n)] / rate
        aa = ours_aa.get((case, device, n))
        aa_ratio = f"{aa / rate:.2f}x" if aa else ""
        print(f"| {case} | {name} | {style} | {device} | {n} | {rate:,.0f} | {ratio:.2f}x | {aa_ratio} |")
    print()
    for name in sorted({r[1] for r in rows} & set(FOOTNOTES)):
        print(f"* {name}: {FOOTNOTES[name]}")


if __name__ == "__main__":
    main()
