"""How far below the L-scaled size a streamed JPEG may be DCT-decoded: quality against speed.

For each gap g, :func:`augkit.data.decode_scale_crop` decodes a JPEG at the lowest power-of-two
DCT scale that keeps it at least g times the L-scaled size (``dct_reduction(size, g x
scaled_size)``; g = 0 never reduces). Per gap, over ``--images`` files (every 5th in sorted
order) and ``--draws`` draws each: CPU milliseconds per item (median of ``--repeats`` passes,
gaps interleaved), the share of items decoded at reduced scale, and the distance of the windows
to the definition (the full decode resized with ``interpolate(antialias=True)``, then cropped):
pooled mean absolute difference, worst per-window mean, pooled and worst per-window PSNR.

    python benchmarks/decode_gap.py --photos ../shared/data/flowers/train --size 112 --scale 128 240
        [--images 200] [--draws 2] [--gaps 0,1,2] [--out docs/results/decode_gap.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from aug_throughput import machine, publish

import augkit.data as D
from augkit.data import streaming


def definition(path: Path, params: dict, size: int) -> np.ndarray:
    """RandomScaleCrop's window on the full decode: antialiased bilinear resize, then crop."""
    full = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(full, size=params["scaled_size"], mode="bilinear", antialias=True)
    top, left = params["top"], params["left"]
    return resized[0, :, top:top + size, left:left + size].permute(1, 2, 0).numpy()


def psnr(mse: float) -> float:
    return float(10 * np.log10(255**2 / mse)) if mse else float("inf")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--scale", type=int, nargs=2, default=(128, 240))
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gaps", default="0,1,2")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    files = sorted(args.photos.rglob("*.jpg"))[::5][: args.images]
    gaps = [float(g) for g in args.gaps.split(",")]
    seeds = [(path, 1000 * i + d) for i, path in enumerate(files) for d in range(args.draws)]
    times = {g: [] for g in gaps}
    for _ in range(args.repeats):
        for g in gaps:
            streaming._WINDOW_GAP = g if g else 1e9
            start = time.process_time()
            for path, seed in seeds:
                D.decode_scale_crop(path, args.size, tuple(args.scale), seed)
            times[g].append((time.process_time() - start) / len(seeds) * 1e3)
    command = "python benchmarks/decode_gap.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"Streamed scale-crop {args.size}, L in {tuple(args.scale)}, {len(seeds)} draws on {len(files)} files "
             f"of {args.photos}", "", f"`{command}`", "", f"Machine: {machine()}", "",
             "| gap | CPU ms / item | reduced | mean abs. | worst window mean abs. | PSNR (dB) | worst window PSNR |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for g in gaps:
        streaming._WINDOW_GAP = g if g else 1e9
        total_abs = total_sq = count = reduced = 0
        worst_mean, worst_psnr = 0.0, float("inf")
        for path, seed in seeds:
            out, params = D.decode_scale_crop(path, args.size, tuple(args.scale), seed, return_params=True)
            diff = out.astype(np.float64) - definition(path, params, args.size)
            reduced += params["decoded_size"] != Image.open(path).size[::-1]
            total_abs, total_sq, count = total_abs + np.abs(diff).sum(), total_sq + (diff**2).sum(), count + diff.size
            worst_mean = max(worst_mean, float(np.abs(diff).mean()))
            worst_psnr = min(worst_psnr, psnr(float((diff**2).mean())))
        label = "never" if not g else f"{g:g}"
        lines.append(f"| {label} | {statistics.median(times[g]):.2f} | {reduced / len(seeds):.0%} | "
                     f"{total_abs / count:.3f} | {worst_mean:.2f} | {psnr(total_sq / count):.1f} | {worst_psnr:.1f} |")
    streaming._WINDOW_GAP = 2
    text = "\n".join(lines)
    publish(text, args.out)
    return text


if __name__ == "__main__":
    main()
