"""Bagging on CIFAR-10: one member vs a bagged ensemble vs a full-data ensemble, with TTA.

Validation = the last 1,000 images of each class of the CIFAR-10 training ImageFolder
(``--cifar10 PATH``, default ``$AUGKIT_CIFAR10``; never trained on); training rows are drawn
from the other 40,000 (``--train-subset`` of them, for CPU budgets).
Rows: a single member, an ``--members``-member bagged ensemble (bootstrap samples, early stopping
on each member's out-of-bag rows) and an ``--members``-member full-data ensemble (all rows, own
seeds, 10 % held out per member for early stopping), each evaluated with no TTA, flip TTA and
ten-crop TTA. Also: the error decomposition v, c of each ensemble, the OOB score beside the
validation accuracy, and a plot of accuracy and squared error vs number of members beside the
curve v/k + (k-1)/k c predicted from the measured v and c.

    python examples/cifar10_bagging.py                              # ~15 min on 2 CPU cores
    python examples/cifar10_bagging.py --train-subset 2000 --epochs 2 --members 2   # smoke test
"""
from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import _report
import numpy as np
import torch

import augkit as A
import nets
from augkit.data import last_per_class_split, load_cifar10
from augkit.tta import mode_from_name
from ensemble import BaggedNetClassifier, error_decomposition, metrics

TTAS = ("none", "flip", "ten_crop")  # the test-time views compared, by their augkit.tta.TTA_MODE_NAMES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--train-subset", type=int, default=10000, help="training images (0 = all 40,000)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per member (one-cycle schedule)")
    parser.add_argument("--members", type=int, default=5, help="members of each ensemble")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64], help="SmallCNN block widths")
    parser.add_argument("--jobs", type=int, default=2, help="joblib worker processes")
    parser.add_argument("--engine", default="auto", choices=("auto", "loop", "joblib", "vmap", "grouped"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in all (split between --jobs workers); default: torch's")
    parser.add_argument("--seed", type=int, default=0)
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "cifar10_bagging")
    return parser


def _plot(out: Path, decompositions: dict) -> Path | None:
    plt = _report.pyplot()
    if plt is None:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, d in decompositions.items():
        k = np.array([r["members"] for r in d.by_size])
        line, = ax1.plot(k, [r["accuracy"] for r in d.by_size], "o-", label=name)
        ax2.plot(k, [r["measured"] for r in d.by_size], "o", color=line.get_color(), label=f"{name}: measured")
        ks = np.linspace(1, k.max(), 50)
        ax2.plot(ks, d.variance / ks + (ks - 1) / ks * d.covariance, "--", color=line.get_color(),
                 label=f"{name}: v/k + (k-1)/k c")
    ax1.set(xlabel="members k", ylabel="validation accuracy", title="accuracy vs ensemble size")
    ax2.set(xlabel="members k", ylabel="squared error E|mean eps|^2", title="measured vs predicted error")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=7)
    return _report.save_figure(fig, out / "accuracy_vs_members.png")


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    folder = _report.cifar10_folder(parser, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    images, labels, _classes = load_cifar10(folder)
    train_idx, val_idx = last_per_class_split(labels, 1000)
    rng = np.random.default_rng(args.seed)
    if args.train_subset and args.train_subset < len(train_idx):
        train_idx = np.sort(rng.choice(train_idx, args.train_subset, replace=False))
    X, y = images[train_idx], labels[train_idx]
    X_val, y_val = images[val_idx], labels[val_idx]
    print(f"{len(X)} training images, {len(X_val)} validation images (last 1,000 of each class)")
    augment = A.Compose([A.RandomScaleCrop(size=32, scale=(32, 40)), A.HorizontalFlip(p=0.5)])
    member = functools.partial(nets.SmallCNN, widths=tuple(args.widths), p_keep=0.8)
    common = dict(member=member, epochs=args.epochs, batch_size=128, lr=0.05, lr_schedule="onecycle",
                  weight_decay=5e-4, augment=augment, patience=3, n_jobs=args.jobs, engine=args.engine,
                  device=args.device, random_state=args.seed)
    runs = {
        "single member": BaggedNetClassifier(n_members=1, bootstrap=False, **common),
        f"{args.members}-member bagged": BaggedNetClassifier(n_members=args.members, bootstrap=True, **common),
        f"{args.members}-member full-data": BaggedNetClassifier(n_members=args.members, bootstrap=False, **common),
    }
    rows, decompositions = {}, {}
    for name, clf in runs.items():
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        row = {"train_seconds": seconds, "oob_score": getattr(clf, "oob_score_", None)}
        for tta_name in TTAS:
            row[f"acc_{tta_name}"] = float((clf.predict(X_val, tta=mode_from_name(tta_name)) == y_val).mean())
        proba = clf.predict_proba(X_val, tta=None)
        labels = np.searchsorted(clf.classes_, y_val)
        row["nll"], row["ece"] = metrics.nll(proba, labels), metrics.ece(proba, labels)
        rows[name] = row
        print(name, row)
        if len(clf.estimators_) > 1:
            decompositions[name] = error_decomposition(clf.member_probas(X_val, tta=None), y_val)
    accuracy = _report.markdown_table(
        ["model", "val acc, no TTA", "NLL", "ECE", "flip TTA", "ten-crop TTA", "OOB score", "train s"],
        [[name, r["acc_none"], r["nll"], r["ece"], r["acc_flip"], r["acc_ten_crop"], r["oob_score"], r["train_seconds"]]
         for name, r in rows.items()], floats=[".4f"] * 7 + [".0f"])
    decomposition = _report.markdown_table(
        ["ensemble", "v", "c", "predicted v/k + (k-1)/k c", "measured", "single-member acc", "ensemble acc"],
        [[name, d.variance, d.covariance, d.predicted, d.measured, d.by_size[0]["accuracy"], d.by_size[-1]["accuracy"]]
         for name, d in decompositions.items()])
    results = {"args": args, "rows": rows, "decompositions": {k: d.to_dict() for k, d in decompositions.items()}}
    _report.write_report(args.out, "cifar10_bagging", accuracy + "\n\n" + decomposition, results)
    _plot(args.out, decompositions)
    return results


if __name__ == "__main__":
    main()
