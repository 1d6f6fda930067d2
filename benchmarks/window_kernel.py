"""The scale-crop window kernels side by side: numba's window-only kernel against torch's.

One thread, the two 427 x 640 scikit-learn photos, ``--windows`` random draws of
``RandomScaleCrop(224, (256, 480))`` (shorter side L uniform in [256, 480], window anywhere),
each kernel run on the same draws:

* numba window: :func:`augkit.functional.window.resample_windows`, the whole batch in one call
  (only the window's output pixels; the input read in place in either layout);
* torch, corner-anchored: ``torch.ops.aten._upsample_bilinear2d_aa`` on the region from the image's
  top-left corner to the window's far corner, then the crop (the window's pixels need the rows and
  columns between the corner and the window);
* torch, window at the corner: the same call for a window at the top-left corner (the best case
  of torch's kernel, whatever the draw).

Microseconds per image: the minimum and the median over ``--repeats`` passes of thread CPU time
(``time.thread_time``, so other processes on shared cores move it less than wall time). Also the
time to import the kernel module (compiling it, or loading numba's on-disk cache) and a check that
the numba windows equal torch's whole-image resize then crop.

    python benchmarks/window_kernel.py [--windows 64] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from augkit.data import load_sample_photos


def draws(n: int, shape: tuple[int, int], size: int, scale: tuple[int, int], seed: int = 0) -> list[tuple]:
    """n draws of (image index, scaled (h, w), window (top, left))."""
    rng = np.random.default_rng(seed)
    h, w = shape
    out = []
    for i in range(n):
        length = int(rng.integers(scale[0], scale[1] + 1))
        sh, sw = round(h * length / min(h, w)), round(w * length / min(h, w))
        out.append((i % 2, (sh, sw), (int(rng.integers(0, sh - size + 1)), int(rng.integers(0, sw - size + 1)))))
    return out


def cpu_us(fn, n_images: int, repeats: int) -> tuple[float, float]:
    """(min, median) thread CPU microseconds per image of ``fn()`` over ``repeats`` runs."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        times.append((time.thread_time() - start) / n_images * 1e6)
    return min(times), statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    from augkit.functional.window import resample_windows
    import_s = time.perf_counter() - start

    photos = load_sample_photos()  # 2 x 427 x 640 x 3
    size, (h, w) = 224, photos.shape[1:3]
    picks = draws(args.windows, (h, w), size, (256, 480))
    n = len(picks)
    channels_last = np.stack([photos[i] for i, _, _ in picks])
    channels_first = np.ascontiguousarray(channels_last.transpose(0, 3, 1, 2))
    ratios = np.array([[h / sh, w / sw] for _, (sh, sw), _ in picks])
    corners = np.array([corner for _, _, corner in picks], dtype=np.int64)
    flips = np.zeros((n, 2), dtype=bool)
    out = np.empty((n, 3, size, size), dtype=np.uint8)
    tensors = torch.from_numpy(channels_last).permute(0, 3, 1, 2)
    op = torch.ops.aten._upsample_bilinear2d_aa

    def torch_corner_anchored():
        for k, (_, (sh, sw), (t, lc)) in enumerate(picks):
            rows, cols = min(h, int((t + size) * h / sh) + 3), min(w, int((lc + size) * w / sw) + 3)
            region = tensors[k:k + 1, :, :rows, :cols].contiguous(memory_format=torch.channels_last)
            op(region, [t + size, lc + size], False, sh / h, sw / w)[..., t:, lc:]

    def torch_at_corner():
        for k, (_, (sh, sw), _) in enumerate(picks):
            rows, cols = min(h, int(size * h / sh) + 3), min(w, int(size * w / sw) + 3)
            region = tensors[k:k + 1, :, :rows, :cols].contiguous(memory_format=torch.channels_last)
            op(region, [size, size], False, sh / h, sw / w)

    rows = {
        "numba window, channels-last input": lambda: resample_windows(channels_last, ratios, corners, flips, out),
        "numba window, channels-first input": lambda: resample_windows(channels_first.transpose(0, 2, 3, 1), ratios,
                                                                       corners, flips, out),
        "torch, corner-anchored region": torch_corner_anchored,
        "torch, window at the corner (its best case)": torch_at_corner,
    }
    results = {name: cpu_us(fn, n, args.repeats) for name, fn in rows.items()}
    resample_windows(channels_last, ratios, corners, flips, out)
    exact = all(
        torch.equal(torch.from_numpy(out[k]), torch.nn.functional.interpolate(
            tensors[k:k + 1], size=sh_sw, mode="bilinear", antialias=True)[0, :, t:t + size, lc:lc + size])
        for k, (_, sh_sw, (t, lc)) in enumerate(picks[:8]))
    print(f"{n} windows: crop {size} of L in [256, 480] on 427 x 640 photos; one thread; CPU us per image "
          f"(min, median of {args.repeats})\n")
    print("| kernel | min us | median us | numba (channels-last) / this, median |\n|---|---:|---:|---:|")
    ours = results["numba window, channels-last input"][1]
    for name, (low, mid) in results.items():
        print(f"| {name} | {low:.0f} | {mid:.0f} | {ours / mid:.2f} |")
    print(f"\nimport of augkit.functional.window (compile or cache load): {import_s:.2f} s; "
          f"numba windows equal torch's whole-image resize then crop: {exact}")


if __name__ == "__main__":
    main()
