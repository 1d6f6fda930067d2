"""Benchmark case: TrivialAugmentWide + RandomErasing + MixUp on 32 px uint8 batches.

:func:`case_d_runners` returns ``name -> (style, fn(n))`` like ``case_a_runners`` in
``benchmarks/aug_throughput.py`` (its case (d)); ``fn(n)`` augments the first ``n`` images and
their labels. ``FOOTNOTES`` describe the peers' pipelines, keyed by library.

* augkit, batched: ``Compose([TrivialAugmentWide(), RandomErasing(p=0.5), MixUp(alpha=1)])`` on
  the uint8 batch with int64 labels (per-sample ops, magnitudes, erasing boxes, mixing weights
  and partners); out: the mixed uint8 batch and float N x 10 targets.
* torchvision.v2, per sample: ``TrivialAugmentWide`` + ``RandomErasing(p=0.5)`` on each uint8
  image, ``ToDtype(float32, scale=True)``, then ``MixUp(alpha=1, num_classes=10)`` once on the
  stacked batch (torchvision's MixUp is a batch transform with one weight per batch).
* kornia, batched (float [0, 1], the uint8 -> float conversion included):
  ``kornia.augmentation.auto.TrivialAugment`` (one op per call for the whole batch, magnitudes
  per sample: kornia's policy), ``RandomErasing(p=0.5)``, ``RandomMixUpV2`` (one weight per
  sample) with the labels.

Run it through ``benchmarks/aug_throughput.py``, or alone for a quick look (busy cores give
only ratios, not figures to publish)::

    python benchmarks/aug_policy_case.py [--batch 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import augkit as A

NUM_CLASSES = 10

FOOTNOTES = {
    "torchvision.v2": "TrivialAugmentWide + RandomErasing(p=0.5) per uint8 image, ToDtype(float32), "
                      "then MixUp(alpha=1) on the stacked batch (one weight per batch).",
    "kornia": "kornia.augmentation.auto.TrivialAugment (one op per batch) + RandomErasing(p=0.5) + "
              "RandomMixUpV2 on float [0, 1] batches, uint8 -> float conversion included.",
}


def case_d_runners(images: np.ndarray, device: str = "cpu") -> dict[str, tuple[str, Callable[[int], Any]]]:
    """name -> (style, fn(n)) for the policy case; ``images``: uint8 N x 32 x 32 x 3."""
    tensors = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    labels = torch.arange(len(images), device=device) % NUM_CLASSES
    ours = A.Compose([A.TrivialAugmentWide(), A.RandomErasing(p=0.5), A.MixUp(alpha=1.0)])
    generator = torch.Generator().manual_seed(0)
    runners = {"augkit": ("batched", lambda n: ours(tensors[:n], labels[:n], generator=generator,
                                                    num_classes=NUM_CLASSES))}
    if device != "cpu":
        return runners
    try:
        from torchvision.transforms import v2

        per_image = v2.Compose([v2.TrivialAugmentWide(), v2.RandomErasing(p=0.5),
                                v2.ToDtype(torch.float32, scale=True)])
        mixup = v2.MixUp(alpha=1.0, num_classes=NUM_CLASSES)
        runners["torchvision.v2"] = ("per sample", lambda n: mixup(torch.stack([per_image(tensors[i])
                                                                                for i in range(n)]), labels[:n]))
    except ImportError:
        pass
    try:
        import kornia.augmentation as K
        from kornia.augmentation.auto import TrivialAugment

        trivial, erasing = TrivialAugment(), K.RandomErasing(p=0.5)
        mixup = K.RandomMixUpV2(data_keys=["input", "class"])

        def kornia_pipe(n: int) -> Any:
            x = tensors[:n].float().div_(255)
            return mixup(erasing(trivial(x)), labels[:n])
        runners["kornia"] = ("batched", kornia_pipe)
    except ImportError:
        pass
    return runners


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    images = np.random.default_rng(0).integers(0, 256, (args.batch, 32, 32, 3), dtype=np.uint8)
    runners = case_d_runners(images)
    times = {name: [] for name in runners}
    for _, fn in runners.values():
        fn(args.batch)  # warm-up
    for _ in range(args.repeats):
        for name, (_, fn) in runners.items():
            start = time.perf_counter()
            fn(args.batch)
            times[name].append(time.perf_counter() - start)
    ours = args.batch / statistics.median(times["augkit"])
    print("| library | style | images/s | augkit / this |\n|---|---|---:|---:|")
    for name, (style, _) in runners.items():
        rate = args.batch / statistics.median(times[name])
        print(f"| {name} | {style} | {rate:,.0f} | {ours / rate:.2f}x |")


if __name__ == "__main__":
    main()
