"""augkit's main job: train a single member and a bagged ensemble, evaluate with and without TTA.

By default it runs on scikit-learn's digits (8 x 8 grayscale images, shipped with
scikit-learn: nothing is downloaded) and finishes in about a minute on 2 CPU cores.
``--data PATH`` points it at an ImageFolder tree (one sub-folder per class) instead.

    python -m ensemble.demo                      # digits
    python -m ensemble.demo --data ../shared/data/cifar10/train --limit 5000 --epochs 5
    augkit-demo --members 8 --tta ten_crop --out my-run

It prints a table (accuracy, NLL and ECE, accuracy with test-time augmentation, out-of-bag score,
training seconds) and writes ``results.md``, ``results.json`` and plots to ``--out``.
"""
from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

import augkit as A
import nets
from augkit.data import load_digits_images, load_image_folder
from augkit.tta import TTA_MODE_NAMES, mode_from_name

from . import metrics
from .bagging import BaggedNetClassifier
from .diagnostics import error_decomposition

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augkit-demo", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help="ImageFolder tree (class = sub-folder) to use instead of scikit-learn's digits")
    parser.add_argument("--limit", type=int, default=None,
                        help="with --data: train on at most this many images (a random subset)")
    parser.add_argument("--size", type=int, default=None,
                        help="with --data: resize every image to SIZE x SIZE (needed for mixed sizes)")
    parser.add_argument("--members", type=int, default=5, help="members of the bagged ensemble")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs per member (early stopping may end sooner)")
    parser.add_argument("--tta", choices=TTA_MODE_NAMES, default=None,
                        help="test-time views to compare with no TTA; default: shift for digits "
                             "(flips change a digit's class), flip for --data")
    parser.add_argument("--bootstrap", action=argparse.BooleanOptionalAction, default=True,
                        help="bootstrap-sample each member's rows (bagging); --no-bootstrap trains every "
                             "member on all rows (deep-ensemble style)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes training members in parallel")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--seed", type=int, default=0, help="random_state of everything")
    parser.add_argument("--out", type=Path, default=Path("augkit-out"), help="folder for the table and plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _load(args):
    """(train images, train labels, test images, test labels, class names, augment pipeline, member)."""
    rng = np.random.default_rng(args.seed)
    if args.data is None:
        images, labels = load_digits_images()
        classes = [str(c) for c in range(10)]
        # Digits keep their class under small shifts and rotations, never under flips.
        augment = A.Compose([A.Translate(x=1, y=1, unit="pixels"), A.Rotate(degrees=10)])
        member = functools.partial(nets.SmallCNN, widths=(16, 32), p_keep=0.8)
    else:
        size = (args.size, args.size) if args.size else None
        images, labels, classes = load_image_folder(args.data, size=size, progress=not args.quiet)
        side = min(images.shape[1:3])
        augment = A.Compose([A.RandomScaleCrop(size=side, scale=(side, round(side * 1.25))),
                             A.HorizontalFlip(p=0.5),
                             A.PCALighting.fit(images[: min(len(images), 5000)], sigma=0.1)])
        member = functools.partial(nets.SmallCNN, p_keep=0.8)
    order = rng.permutation(len(images))
    n_test = max(len(classes), len(images) // 5)
    test, train = order[:n_test], order[n_test:]
    if args.limit is not None:
        train = train[: args.limit]
    return images[train], labels[train], images[test], labels[test], classes, augment, member


def _evaluate(clf, X, y, tta) -> dict:
    """Accuracy, NLL and ECE (15 bins) without TTA, and accuracy with it."""
    start = time.perf_counter()
    labels = np.searchsorted(clf.classes_, y)
    proba = clf.predict_proba(X, tta=None)
    with_tta = float((clf.predict(X, tta=tta) == y).mean())
    return {"accuracy": float((proba.argmax(1) == labels).mean()), "nll": metrics.nll(proba, labels),
            "ece": metrics.ece(proba, labels), "accuracy_tta": with_tta, "predict_seconds": time.perf_counter() - start}


def oob_shares(clf: BaggedNetClassifier, n: int) -> dict:
    """Each member's out-of-bag share of the ``n`` training rows of a bootstrap-fitted ``clf``,
    beside what the bootstrap predicts.

    A bag of m draws with replacement from n rows misses a given row with probability
    (1 - 1/n)^m; for m = n that is about 1/e = 36.8 % (the lecture's "~30 % not reused").
    Returns {"rows": n, "draws": m, "expected": (1 - 1/n)^m, "members": [float share per member]}.
    """
    m = len(clf.bootstrap_indices_[0])
    return {"rows": n, "draws": m, "expected": (1 - 1 / n) ** m,  # P(a row is never drawn) = (1 - 1/n)^m
            "members": [len(oob) / n for oob in clf.oob_indices_]}


def _plots(out: Path, decomposition, histories, augment, X_show) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping plots (pip install 'augkit[plot]')")
        return []
    written = []
    sizes = [r["members"] for r in decomposition.by_size]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
    ax1.plot(sizes, [r["accuracy"] for r in decomposition.by_size], "o-")
    ax1.set(xlabel="members", ylabel="test accuracy", title="accuracy vs ensemble size")
    ax2.plot(sizes, [r["measured"] for r in decomposition.by_size], "o-", label="measured")
    ax2.plot(sizes, [r["predicted"] for r in decomposition.by_size], "x--", label="v/k + (k-1)/k c")
    ax2.set(xlabel="members", ylabel="squared error", title="error decomposition")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out / "members.png")
    written.append("members.png")
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=80)
    for i, h in enumerate(histories):
        ax.plot(h["loss"], label=f"member {i} train")
        if h.get("val_loss"):
            ax.plot(h["val_loss"], "--", color=ax.lines[-1].get_color())
    ax.set(xlabel="epoch", ylabel="cross-entropy", title="training (solid) and out-of-bag (dashed) loss")
    fig.tight_layout()
    fig.savefig(out / "training.png")
    written.append("training.png")
    import torch

    batch = A.data.to_batch(X_show)
    views = [augment(batch, generator=torch.Generator().manual_seed(s)) for s in range(6)]
    fig, axes = plt.subplots(len(batch), 7, figsize=(7, len(batch)), dpi=80)
    for row in range(len(batch)):
        for col, img in enumerate([batch] + views):
            axes[row, col].imshow(img[row].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray")
            axes[row, col].axis("off")
    axes[0, 0].set_title("clean", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "augment.png")
    written.append("augment.png")
    plt.close("all")
    return written


def main(argv: list[str] | None = None) -> dict:
    """Run the demo; returns the results dict that is also written to ``--out/results.json``."""
    args = build_parser().parse_args(argv)
    tta = args.tta or ("shift" if args.data is None else "flip")
    args.out.mkdir(parents=True, exist_ok=True)
    X, y, X_test, y_test, classes, augment, member = _load(args)
    print(f"{len(X)} training and {len(X_test)} test images of shape {X.shape[1:]}, {len(classes)} classes; "
          f"TTA compared: {tta}")
    common = dict(member=member, epochs=args.epochs, augment=augment, lr=0.05, batch_size=64, patience=4,
                  device=args.device, random_state=args.seed, verbose=0 if args.quiet else 1)
    tta_mode = mode_from_name(tta)
    rows = {}
    runs = {
        "single member": BaggedNetClassifier(n_members=1, bootstrap=False, n_jobs=1, **common),
        f"{args.members}-member {'bagged' if args.bootstrap else 'full-data'} ensemble":
            BaggedNetClassifier(n_members=args.members, bootstrap=args.bootstrap, n_jobs=args.jobs, **common),
    }
    for name, clf in runs.items():
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        rows[name] = {"train_seconds": seconds, "oob_score": getattr(clf, "oob_score_", None),
                      **_evaluate(clf, X_test, y_test, tta_mode)}
    ensemble = list(runs.values())[-1]
    decomposition = error_decomposition(ensemble.member_probas(X_test, tta=None), np.searchsorted(ensemble.classes_, y_test))
    header = f"| model | accuracy | NLL | ECE | accuracy, TTA={tta} | OOB score | train s |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        oob = f"{r['oob_score']:.4f}" if r["oob_score"] is not None else "n/a"
        lines.append(f"| {name} | {r['accuracy']:.4f} | {r['nll']:.4f} | {r['ece']:.4f} | {r['accuracy_tta']:.4f} "
                     f"| {oob} | {r['train_seconds']:.1f} |")
    if ensemble.bootstrap:
        oob_share = oob_shares(ensemble, len(X))
        lines += ["", f"Out-of-bag share per member: {', '.join(f'{s:.1%}' for s in oob_share['members'])} "
                      f"(the bootstrap predicts (1 - 1/n)^n = {oob_share['expected']:.1%} for n = {oob_share['rows']})"]
    table = "\n".join(lines)
    print("\n" + table + "\n")
    print(f"error decomposition of the ensemble (test set): v = {decomposition.variance:.4f}, "
          f"c = {decomposition.covariance:.4f}, predicted = {decomposition.predicted:.4f}, "
          f"measured = {decomposition.measured:.4f}")
    plots = _plots(args.out, decomposition, ensemble.histories_, augment, X_test[:4])
    results = {"data": str(args.data) if args.data else "sklearn digits", "tta": tta, "rows": rows,
               "decomposition": decomposition.to_dict(), "plots": plots}
    if ensemble.bootstrap:
        results["oob_share"] = oob_share
    (args.out / "results.md").write_text(table + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out / 'results.md'}, results.json and {', '.join(plots) or 'no plots'}")
    return results


if __name__ == "__main__":
    main()
