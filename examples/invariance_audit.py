"""Class-invariance audit: which augmentations keep the label, as judged by a trained model.

Trains a SmallCNN without the audited transforms (digits: small shifts only; CIFAR-10: no
augmentation), then measures its accuracy on each transform's outputs relative to the clean
held-out images with :func:`augkit.audit`. A transform whose relative accuracy falls below
``--threshold`` is flagged as changing labels: on digits, vertical flips and large rotations
are; on CIFAR-10, horizontal flips are not.

    python examples/invariance_audit.py --cifar10 PATH  # digits and CIFAR-10 (PATH: default $AUGKIT_CIFAR10)
    python examples/invariance_audit.py --cifar-subset 0  # digits only
    python examples/invariance_audit.py --cifar-subset 5000 --cifar-epochs 3
"""
from __future__ import annotations

import argparse
import functools

import _report
import numpy as np
import torch

import augkit as A
import nets
from augkit.data import last_per_class_split, load_cifar10, load_digits_images, to_batch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--threshold", type=float, default=0.9, help="flag below this relative accuracy")
    parser.add_argument("--digits-epochs", type=int, default=15)
    parser.add_argument("--cifar-subset", type=int, default=10000, help="CIFAR-10 training images (0: digits only)")
    parser.add_argument("--cifar-epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "invariance_audit")
    return parser


def _normalizer(X: torch.Tensor):
    normalize = _report.channel_stats(X)
    return normalize, functools.partial(nets.to_float_batch, normalize=normalize)


def audit_digits(args) -> A.AuditReport:
    images, labels = load_digits_images()
    order = np.random.default_rng(args.seed).permutation(len(images))
    test, train = order[:400], order[400:]
    X = to_batch(images)
    normalize, preprocess = _normalizer(X[train])
    model = nets.SmallCNN(input_shape=(1, 8, 8), n_classes=10, widths=(32, 64))
    nets.fit(model, (X[train], labels[train]), epochs=args.digits_epochs, batch_size=64, lr=0.05,
             augment=A.Translate(x=1, y=1, unit="pixels"), normalize=normalize, generator=args.seed, verbose=0)
    transforms = {
        "horizontal flip": A.HorizontalFlip(p=1.0),
        "vertical flip": A.VerticalFlip(p=1.0),
        "translate 1 px": A.Translate(x=1, y=1, unit="pixels"),
        "rotate +-10 deg": A.Rotate(degrees=10),
        "rotate 150-180 deg": A.Rotate(degrees=(150, 180)),
        "Gaussian noise 0.05": A.GaussianNoise(sigma=0.05),
    }
    return A.audit(model, X[test], labels[test], transforms, preprocess=preprocess, threshold=args.threshold,
                   generator=args.seed)


def audit_cifar(args) -> A.AuditReport:
    images, labels, _ = load_cifar10(args.cifar10)
    train_idx, val_idx = last_per_class_split(labels, 1000)
    train_idx = np.sort(np.random.default_rng(args.seed).choice(train_idx, args.cifar_subset, replace=False))
    X = to_batch(images)
    normalize, preprocess = _normalizer(X[train_idx])
    model = nets.SmallCNN(widths=(16, 32, 64))
    nets.fit(model, (X[train_idx], labels[train_idx]), epochs=args.cifar_epochs, lr=0.05, lr_schedule="onecycle",
             weight_decay=5e-4, normalize=normalize, generator=args.seed, verbose=1)
    transforms = {
        "horizontal flip": A.HorizontalFlip(p=1.0),
        "vertical flip": A.VerticalFlip(p=1.0),
        "translate 2 px": A.Translate(x=2, y=2, unit="pixels"),
        "rotate +-15 deg": A.Rotate(degrees=15),
        "rotate 180 deg": A.Rotate(degrees=(180, 180)),
    }
    return A.audit(model, X[val_idx], labels[val_idx], transforms, preprocess=preprocess, threshold=args.threshold,
                   generator=args.seed)


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cifar_subset:
        _report.cifar10_folder(parser, args)
    reports = {"digits": audit_digits(args), "CIFAR-10": audit_cifar(args) if args.cifar_subset else None}
    markdown = "\n\n".join(f"### {name} (flagged: {', '.join(report.flagged) or 'none'})\n\n{report.to_markdown()}"
                           for name, report in reports.items() if report is not None)
    results = {k: (r.to_dict() if r is not None else None) for k, r in reports.items()}
    _report.write_report(args.out, "invariance_audit", markdown, results)
    return results


if __name__ == "__main__":
    main()
