"""How far augkit's colour chains and policies are from torchvision's, value by value.

For each case, augkit draws its parameters on a batch (textured 32 x 32 crops of scikit-learn's
two sample photos, plus uniform noise images), then every sample is replayed into torchvision
with the same parameters: ColorJitter through ``v2.ColorJitter.transform`` (the same factors
and order), the policies op by op through torchvision's own op kernels. Printed per case and
dtype: the largest difference and the share of values more than one level apart, on the 0..255
scale (float batches: 255 x the difference). Needs torchvision (run it in the comparison environment, built by
``../shared/tools/comparison-venv.sh``)::

    python benchmarks/torchvision_fidelity.py [--images 1024] [--seed 0]

The docstrings of :mod:`augkit.transforms.color` and :mod:`augkit.transforms.policy` quote its
output; the tests under ``tests/augkit`` assert the bounds on smaller batches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import augkit as A
from tests._references import (
    levels_apart,
    photo_patches,
    random_batch,
    torchvision_color_jitter,
    torchvision_policy,
)

NAMES = list(A.TrivialAugmentWide().ops)


def _policy_reference(t: A.Transform, x: torch.Tensor, params: dict, interpolation: str) -> torch.Tensor:
    """torchvision's images for a policy, or a Compose of policies, with augkit's parameters."""
    parts = params["transforms"] if "transforms" in params else [params]
    op = torch.cat([p["op"].view(len(x), -1) for p in parts], 1)
    magnitude = torch.cat([p["magnitude"].view(len(x), -1) for p in parts], 1)
    return torchvision_policy(x, NAMES, op, magnitude, interpolation)


CASES: dict[str, tuple[Callable[[], A.Transform], str]] = {
    "ColorJitter(0.4, 0.4, 0.4, 0.1)": (lambda: A.ColorJitter(0.4, 0.4, 0.4, 0.1), "jitter"),
    "ColorJitter(0.9, 0.9, 0.9, 0.5)": (lambda: A.ColorJitter(0.9, 0.9, 0.9, 0.5), "jitter"),
    "ColorJitter at 0.7 / 0.7 / 0.7 / -0.05": (
        lambda: A.ColorJitter((0.7, 0.7), (0.7, 0.7), (0.7, 0.7), (-0.05, -0.05)), "jitter"),
    "TrivialAugmentWide()": (lambda: A.TrivialAugmentWide(), "nearest"),
    "TrivialAugmentWide() twice": (lambda: A.Compose([A.TrivialAugmentWide(), A.TrivialAugmentWide()]), "nearest"),
    "RandAugment(2, 9)": (lambda: A.RandAugment(2, 9), "nearest"),
    "RandAugment(3, 17)": (lambda: A.RandAugment(3, 17), "nearest"),
    "RandAugment(2, 20): shear ties": (lambda: A.RandAugment(2, 20), "nearest"),
    "RandAugment(2, 9, bilinear)": (lambda: A.RandAugment(2, 9, interpolation="bilinear"), "bilinear"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1024, help="images per case (a quarter of them noise)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    noise = args.images // 4
    x8 = torch.cat([photo_patches(args.images - noise, seed=args.seed),
                    random_batch(noise, 3, 32, 32, seed=args.seed)])
    import torchvision

    print(f"torchvision {torchvision.__version__}, torch {torch.__version__}; {len(x8)} images 3 x 32 x 32, "
          f"seed {args.seed}\n")
    print("| case | dtype | max abs diff (levels) | share > 1 level | share != 0 |\n|---|---|---:|---:|---:|")
    for name, (make, kind) in CASES.items():
        for x in (x8, x8 / 255):
            if kind == "bilinear" and x.is_floating_point():
                continue
            t = make()
            out, params = t(x, generator=args.seed, return_params=True)
            want = (torchvision_color_jitter(x, t, params) if kind == "jitter"
                    else _policy_reference(t, x, params, kind))
            largest, share = levels_apart(out, want)
            differ = (out != want).double().mean().item()
            print(f"| {name} | {str(x.dtype).removeprefix('torch.')} | {largest:.3g} | {100 * share:.3f}% "
                  f"| {100 * differ:.3f}% |")


if __name__ == "__main__":
    main()
