"""Augmentation throughput (images/second), augkit beside torchvision.v2, albumentations and kornia.

Cases, one table from one run:

(a) the 32 px mission pipeline on uint8 CIFAR-10 batches (256 and 1024): RandomScaleCrop(32,
    (32, 40)), HorizontalFlip, PCALighting (fit on the data), Rotate(15), GaussianNoise(0.03) —
    one resampling per batch. Goals: >= 10x torchvision.v2, >= 3x kornia.
(b) large photos with default settings: RandomScaleCrop(224, (256, 480)) + HorizontalFlip on the
    two scikit-learn photos (427 x 640), as a batch from numpy (channels-last in memory), as a
    channels-first batch, and one image at a time (numpy H x W x 3). Goal: >= 2x albumentations.
(c) end to end from JPEG files through a DataLoader with 2 workers (benchmarks/aug_e2e_case.py):
    decode + scale-crop + flip + collate, on two folders of real photos: the 300-800 px folder
    benchmarks/photo_folder.py writes (crop 224, L in [256, 480]; row "c synthetic") and, with
    ``--flowers DIR``, the flower photos (crop 112, L in [128, 240]; row "c flowers").
    Goal: >= 1.5x the faster of torchvision.v2 and albumentations (+ cv2 decode), on each folder.
(d) TrivialAugmentWide + RandomErasing + MixUp on 32 px batches (benchmarks/aug_policy_case.py,
    when present). Goals: >= 5x torchvision.v2, >= 2x kornia.

Cases (a), (b), (d) run on one thread (torch.set_num_threads(1), cv2.setNumThreads(0)); each
figure is the median of ``--repeats`` timed runs after a warm-up, the libraries' runs interleaved
round by round (so load on shared cores hits all alike). Peer rows appear when the library is
importable (run it in the comparison environment, built by
``../shared/tools/comparison-venv.sh``). The table, with the command and the machine (CPU model,
core count, AVX2 / AVX-512 / AVX512-BF16 flags), is printed and, with ``--out``, written as
markdown.

    python benchmarks/aug_throughput.py --cifar10 ../shared/data/cifar10/train
        --flowers ../shared/data/flowers/train [--repeats 7] [--cases a,b,c,d] [--quick]
        [--device cpu|cuda] [--cpu-time] [--out docs/results/aug_throughput.md]
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
         "d": {"torchvision.v2": 5.0, "kornia": 2.0}}
C_GOAL = 1.5  # augkit / the faster of torchvision.v2 and albumentations, per folder of case (c)
# Case (c) folders: (row label, crop size, range of L).
C_SYNTHETIC = ("c synthetic", 224, (256, 480))
C_FLOWERS = ("c flowers", 112, (128, 240))
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


def publish(text: str, out: Path | None) -> None:
    """Print a results table and, when ``out`` is given, write it there as markdown."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


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


def cpu_time_table(runners: dict, n: int, repeats: int) -> str:
    """Case (b) as this thread's CPU microseconds per image (``time.thread_time``): the minimum and
    the median of ``repeats`` runs per row, rows interleaved, and each augkit row's speed-up over
    albumentations (its median over ours)."""
    times = {name: [] for name in runners}
    for _, fn in runners.values():
        fn(n)
    for _ in range(repeats):
        for name, (_, fn) in runners.items():
            start = time.thread_time()
            fn(n)
            times[name].append((time.thread_time() - start) / n * 1e6)
    peer = statistics.median(times["albumentations"]) if "albumentations" in times else None
    lines = ["", "| (b) CPU time | min us per image | median us per image | albumentations / this |", "|---|---:|---:|---:|"]
    for name, t in times.items():
        ratio = f"{peer / statistics.median(t):.2f}x" if peer else ""
        lines.append(f"| {name} | {min(t):.0f} | {statistics.median(t):.0f} | {ratio} |")
    return "\n".join(lines)


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
        "augkit": ("channels-last view of a numpy batch", lambda n: ours(from_numpy[:n], generator=generator)),
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
    """CPU model, cores, SIMD flags (from /proc/cpuinfo), Python, torch and the decoders' versions."""
    cpu, flags = platform.processor() or "unknown CPU", set()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = set(next(line.split(":", 1)[1].split() for line in lines if line.startswith("flags")))
    except (OSError, StopIteration):
        pass
    simd = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16") if f in flags) or "no AVX2"
    versions = [f"Python {platform.python_version()}", f"torch {torch.__version__}"]
    for module in ("simplejpeg", "PIL", "cv2"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    return f"{os.cpu_count()} x {cpu} ({simd}); " + ", ".join(versions)


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cifar10", default=os.environ.get("AUGKIT_CIFAR10"),
                        help="CIFAR-10 ImageFolder for case (a) (default $AUGKIT_CIFAR10; random images without it)")
    parser.add_argument("--cases", default="a,b,c,d", help="comma-separated cases to run (default: all)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--flowers", default=os.environ.get("AUGKIT_FLOWERS"),
                        help="a folder of real photos for case (c) (default $AUGKIT_FLOWERS; skipped without it)")
    parser.add_argument("--quick", action="store_true", help="small batches and folders (smoke test)")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    parser.add_argument("--cpu-time", action="store_true",
                        help="also print case (b) as CPU microseconds per image of this thread (less moved by "
                             "other processes on shared cores than images/s)")
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    torch.set_num_threads(1)
    rows = []  # (case, library, style, batch, images/s)

    def measure(case, runners, n, sync=lambda: None):
        seconds = median_seconds({name: (lambda fn=fn: fn(n)) for name, (_, fn) in runners.items()},
                                 args.repeats, sync)
        rows.extend((case, name, style, n, n / seconds[name]) for name, (style, _) in runners.items())

    images, source = cifar_images(256 if args.quick else 2048, args.cifar10)
    command = "python benchmarks/aug_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [f"`{command}`", "", f"Machine: {machine()}; torch threads {torch.get_num_threads()}", "",
              f"Data (a): {source}. Median of {args.repeats} timed runs per row, rows of a case interleaved."]
    print("\n".join(header))
    if "a" in cases:
        runners = case_a_runners(images, args.device)
        sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
        for n in ((64,) if args.quick else (256, 1024)):
            measure("a", runners, n, sync)
    if "b" in cases:
        measure("b", case_b_runners(), 8 if args.quick else 32)
        if args.cpu_time:
            print(cpu_time_table(case_b_runners(), 8 if args.quick else 32, args.repeats))
    if "c" in cases:
        from aug_e2e_case import case_c_runners
        from photo_folder import write_photo_folder

        torch.set_num_threads(1)
        workers = 0 if args.quick else 2
        with tempfile.TemporaryDirectory() as tmp:
            folders = [(C_SYNTHETIC, write_photo_folder(Path(tmp) / "photos", 64 if args.quick else 512, 0))]
            if args.flowers:
                folders.append((C_FLOWERS, Path(args.flowers)))
            for (label, size, scale), root in folders:
                runners, n = case_c_runners(root, num_workers=workers, size=size, scale=scale)
                measure(label, runners, n)
    if "d" in cases:
        try:
            from aug_policy_case import case_d_runners
        except ImportError:
            case_d_runners = None
        if case_d_runners is not None:
            for n in ((64,) if args.quick else (256,)):
                measure("d", case_d_runners(images), n)
    print()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join([*header, "", *table(rows)]) + "\n")
    print("\n".join(table(rows)))
    return rows


def table(rows: list[tuple]) -> list[str]:
    """One markdown table: each row's rate and the ratio of augkit's row(s) to it, beside the target ratio.

    In case (b) every augkit layout (channels-last view, channels-first batch, one image at a
    time) is compared with the peers; elsewhere the ratio column is the "augkit" row's."""
    lines = ["| case | library | style | batch | images/s | augkit / this | target |", "|---|---|---|---:|---:|---:|---|"]
    ours = {(case, n): rate for case, name, _, n, rate in rows if name == "augkit"}
    for case, name, style, n, rate in rows:
        ratio = ours[(case, n)] / rate
        goal = GOALS.get(case, {}).get(name)
        verdict = "" if goal is None else f">= {goal:g}x"
        if case == "b" and goal is not None:  # each augkit layout against this peer
            layouts = [(other, r) for c, other, _, m, r in rows if c == "b" and m == n and other.startswith("augkit")]
            ratio_text = ", ".join(f"{r / rate:.2f}x" for _, r in layouts)
            verdict = f">= {goal:g}x for each augkit row"
            lines.append(f"| ({case}) | {name} | {style} | {n} | {rate:,.0f} | {ratio_text} | {verdict} |")
            continue
        lines.append(f"| ({case}) | {name} | {style} | {n} | {rate:,.0f} | {ratio:.2f}x | {verdict} |")
    for label in dict.fromkeys(case for case, *_ in rows if case.startswith("c")):
        peers = [rate for case, name, _, _, rate in rows if case == label and name != "augkit"]
        if peers:
            ratio = next(r for c, name, _, _, r in rows if c == label and name == "augkit") / max(peers)
            lines.append(f"\n({label}) augkit / the faster peer: {ratio:.2f}x (target >= {C_GOAL:g}x)")
    lines.append("")
    lines += [f"* {name}: {FOOTNOTES[name]}" for name in sorted({r[1] for r in rows} & set(FOOTNOTES))]
    return lines


if __name__ == "__main__":
    main()
