"""augkit's main job: train a single member and a bagged ensemble, evaluate with and without TTA.

By default it runs on scikit-learn's digits (8 x 8 grayscale images, shipped with
scikit-learn: nothing is downloaded) and finishes in about a minute on 2 CPU cores.
``--data PATH`` points it at an ImageFolder tree (one sub-folder per class) of photos of any
size instead: the photos are streamed from disk, decoded and scale-cropped on DataLoader
workers (ResNet's scale augmentation: shorter side L ~ U[round(256 s / 224),
round(480 s / 224)], a random s x s crop, s = ``--size``), and evaluated on the centre crop
after resizing the shorter side to the lower bound of L; the test set is every image whose
sorted index within its class is a multiple of 5.

    python -m ensemble.demo                      # digits
    python -m ensemble.demo --data ../shared/data/flowers/train --epochs 4
    augkit-demo --members 8 --tta ten_crop --out my-run

It prints a table (accuracy, NLL and ECE, accuracy with test-time augmentation, out-of-bag score,
training seconds) and writes ``results.md``, ``results.json`` and plots to ``--out``. A mistake
on the command line (an option's value, a missing folder, a folder without images) gets a
one-line message and exit status 2.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import augkit as A
import nets
from augkit.data import ImageFolderStream, ScaleCropLoader, load_digits_images
from augkit.data.folder import every_kth_per_class, scan_image_folder
from augkit.tta import TTA_MODE_NAMES, mode_from_name

from . import metrics
from .bagging import BaggedNetClassifier
from .diagnostics import error_decomposition

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``augkit-demo: error: ...`` on stderr, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="augkit-demo", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help="ImageFolder tree of photos of any size (class = sub-folder), streamed from disk, "
                             "instead of scikit-learn's digits")
    parser.add_argument("--limit", type=int, default=None,
                        help="with --data: train on at most this many images (a random subset)")
    parser.add_argument("--size", type=int, default=64,
                        help="with --data: the side s of the square crops the networks see; photos keep their "
                             "aspect (shorter side scaled to L in [256 s / 224, 480 s / 224], then cropped)")
    parser.add_argument("--members", type=int, default=5, help="members of the bagged ensemble")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs per member (early stopping may end sooner)")
    parser.add_argument("--tta", choices=TTA_MODE_NAMES, default=None,
                        help="test-time views to compare with no TTA; default: shift for digits "
                             "(flips change a digit's class), flip for --data")
    parser.add_argument("--bootstrap", action=argparse.BooleanOptionalAction, default=True,
                        help="bootstrap-sample each member's rows (bagging); --no-bootstrap trains every "
                             "member on all rows (deep-ensemble style)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="worker processes training members in parallel (digits), or decoding photos (--data)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--seed", type=int, default=0, help="random_state of everything")
    parser.add_argument("--out", type=Path, default=Path("augkit-out"), help="folder for the table and plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _digits(args):
    """(train images, labels, test images, labels, class names, augment, member) of the digits."""
    images, labels = load_digits_images()
    classes = [str(c) for c in range(10)]
    # Digits keep their class under small shifts and rotations, never under flips.
    augment = A.Compose([A.Translate(x=1, y=1, unit="pixels"), A.Rotate(degrees=10)])
    member = functools.partial(nets.SmallCNN, widths=(16, 32), p_keep=0.8)
    order = np.random.default_rng(args.seed).permutation(len(images))
    n_test = max(len(classes), len(images) // 5)
    test, train = order[:n_test], order[n_test:]
    if args.limit is not None:
        train = train[: args.limit]
    return images[train], labels[train], images[test], labels[test], classes, augment, member


def _photos(args):
    """(train paths, labels, test paths, labels, class names, augment, member) of a photo folder:
    the test set is every image whose sorted index within its class is a multiple of 5."""
    classes, paths, labels = scan_image_folder(args.data)
    paths = np.asarray(paths)
    train, test = every_kth_per_class(labels, 5)
    if args.limit is not None:
        train = np.sort(np.random.default_rng(args.seed).permutation(train)[: args.limit])
    crop = A.RandomScaleCrop(args.size, (round(256 * args.size / 224), round(480 * args.size / 224)))
    # AlexNet's lighting, its eigenpairs from a few batches of training crops (decoded on the workers).
    stream = ImageFolderStream(args.data, loader=ScaleCropLoader(crop.size, crop.scale), seed=args.seed)
    sample = torch.utils.data.Subset(stream, train[np.linspace(0, len(train) - 1, min(256, len(train))).astype(int)])
    batches = torch.utils.data.DataLoader(sample, batch_size=64, num_workers=args.jobs)
    lighting = A.PCALighting.fit((images for images, _ in itertools.islice(batches, 4)), sigma=0.1)
    augment = A.Compose([crop, A.HorizontalFlip(p=0.5), lighting])
    member = functools.partial(nets.SmallCNN, widths=(16, 32, 64), p_keep=0.8)
    return (list(paths[train]), labels[train], list(paths[test]), labels[test], classes, augment, member)


def _check(parser: argparse.ArgumentParser, args) -> None:
    """Values argparse's types do not check."""
    for name in ("members", "epochs", "size", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {str(args.data)!r} is not a folder (pass an ImageFolder tree: one sub-folder per class)")


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
    Photos are bagged by the Poisson bootstrap: a row weighs w ~ Poisson(1), and is out of bag
    with probability P(w = 0) = e^-1, the limit of the same formula.
    Returns {"rows": n, "draws": m, "expected": ..., "formula": ..., "members": [float share per member]}.
    """
    m = len(clf.bootstrap_indices_[0])
    if clf.input_spec_.photos:
        expected, formula = math.exp(-1), "P(w = 0) = e^-1"
    else:  # P(a row is never drawn) = (1 - 1/n)^m
        expected, formula = (1 - 1 / n) ** m, "(1 - 1/n)^n"
    return {"rows": n, "draws": m, "expected": expected, "formula": formula,
            "members": [len(oob) / n for oob in clf.oob_indices_]}


def _shown(X, photos: bool) -> list[torch.Tensor]:
    """Four test images as uint8 1 x C x H x W tensors (photos decoded at their own size)."""
    if photos:
        from augkit.data import decode_image

        return [torch.from_numpy(decode_image(path)).permute(2, 0, 1)[None] for path in X[:4]]
    return list(A.data.to_batch(X[:4]).split(1))


def _plots(out: Path, decomposition, histories, augment, shown: list[torch.Tensor]) -> list[str]:
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
    fig, axes = plt.subplots(len(shown), 7, figsize=(7, len(shown)), dpi=80)
    for row, image in enumerate(shown):
        views = [augment(image, generator=torch.Generator().manual_seed(s)) for s in range(6)]
        for col, img in enumerate([image] + views):
            axes[row, col].imshow(img[0].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray")
            axes[row, col].axis("off")
    axes[0, 0].set_title("clean", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "augment.png")
    written.append("augment.png")
    plt.close("all")
    return written


def main(argv: list[str] | None = None) -> dict:
    """Run the demo; returns the results dict that is also written to ``--out/results.json``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:  # the data's fault (BadImageError is a ValueError): say so
        parser.error(str(e).splitlines()[0])


def _run(args) -> dict:
    photos = args.data is not None
    tta = args.tta or ("shift" if not photos else "flip")
    args.out.mkdir(parents=True, exist_ok=True)
    X, y, X_test, y_test, classes, augment, member = _photos(args) if photos else _digits(args)
    shape = f"photos of any size, cropped to {args.size} x {args.size}" if photos else f"images of shape {X.shape[1:]}"
    print(f"{len(X)} training and {len(X_test)} test {shape}, {len(classes)} classes; TTA compared: {tta}")
    common = dict(member=member, epochs=args.epochs, augment=augment, lr=0.05, batch_size=64, patience=4,
                  device=args.device, random_state=args.seed, verbose=0 if args.quiet else 1)
    if photos:  # one process trains every member from each decoded batch; --jobs processes decode
        common["num_workers"] = args.jobs
    tta_mode = mode_from_name(tta)
    rows = {}
    jobs = 1 if photos else args.jobs
    runs = {
        "single member": BaggedNetClassifier(n_members=1, bootstrap=False, n_jobs=1, **common),
        f"{args.members}-member {'bagged' if args.bootstrap else 'full-data'} ensemble":
            BaggedNetClassifier(n_members=args.members, bootstrap=args.bootstrap, n_jobs=jobs, **common),
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
                      f"(the bootstrap predicts {oob_share['formula']} = {oob_share['expected']:.1%} "
                      f"for n = {oob_share['rows']})"]
    table = "\n".join(lines)
    print("\n" + table + "\n")
    print(f"error decomposition of the ensemble (test set): v = {decomposition.variance:.4f}, "
          f"c = {decomposition.covariance:.4f}, predicted = {decomposition.predicted:.4f}, "
          f"measured = {decomposition.measured:.4f}")
    plots = _plots(args.out, decomposition, ensemble.histories_, augment, _shown(X_test, photos))
    results = {"data": str(args.data) if photos else "sklearn digits", "tta": tta, "rows": rows,
               "decomposition": decomposition.to_dict(), "plots": plots}
    if ensemble.bootstrap:
        results["oob_share"] = oob_share
    (args.out / "results.md").write_text(table + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out / 'results.md'}, results.json and {', '.join(plots) or 'no plots'}")
    return results


if __name__ == "__main__":
    main()
