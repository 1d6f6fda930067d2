"""Robustness under shift on CIFAR-10: one member vs a bagged ensemble, calibrated and not, on corrupted images.

Validation = the last ``--val-per-class`` (1,000) images of each class of the CIFAR-10 training
folder (never trained on); ``--val-images`` of them (0 = all 10,000) are scored clean and under
the six corruptions of ``ensemble.corruptions`` at severities 1..5 (CIFAR-10-C's parameters:
Gaussian noise, Gaussian blur, contrast, brightness, JPEG; and a small rotation). Rows: a single
member (all training rows minus 10 % held out for early stopping) and a ``--members``-member
bagged ensemble, each as trained and temperature-scaled. Each temperature is fitted on the
training rows its model did not train on: the ensemble's out-of-bag rows, the single member's
held-out rows. Output: a table of accuracy, NLL and ECE (clean, mean over corruptions, by
severity, by corruption), a plot of accuracy and ECE against severity, and a reliability
diagram of the clean validation images.

    python examples/cifar10_robustness.py --cifar10 PATH                     # a few minutes on 2 CPU cores
    python examples/cifar10_robustness.py --cifar10 PATH --save models/      # keep the two models
    python examples/cifar10_robustness.py --cifar10 PATH --load models/ --train-subset 0 --val-images 0
        # score saved models (DIR/single, DIR/ensemble, written by BaggedNetClassifier.save) on all
        # 10,000 validation images; --train-subset and --seed must name the rows they trained on
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

import augkit as A
import nets
from augkit.data import last_per_class_split, load_cifar10
from augkit.tta import TTA_MODE_NAMES, mode_from_name
from ensemble import BaggedNetClassifier, apply_temperature, ensemble_logits, fit_temperature_law, metrics
from ensemble.corruptions import CORRUPTIONS, SEVERITIES
from ensemble.robustness import SCORES, mean_over_corruptions, robustness_scores

TTAS = ("model", *TTA_MODE_NAMES)  # "model": the estimator's own; else a mode of augkit.tta.TTA_MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cifar10", type=Path, default=os.environ.get("AUGKIT_CIFAR10"),
                        help="CIFAR-10 training ImageFolder (default: $AUGKIT_CIFAR10)")
    parser.add_argument("--train-subset", type=int, default=4000,
                        help="training images drawn from those not held out (0 = all 40,000)")
    parser.add_argument("--val-per-class", type=int, default=1000, help="validation images held out per class")
    parser.add_argument("--val-images", type=int, default=1000,
                        help="validation images scored, a seeded subset of the held-out ones (0 = all)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per member (one-cycle schedule)")
    parser.add_argument("--members", type=int, default=3, help="members of the bagged ensemble")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64], help="SmallCNN block widths")
    parser.add_argument("--tta", default="model", choices=TTAS,
                        help="test-time views for calibration and scoring; 'model': the estimator's own (none "
                             "when trained here)")
    parser.add_argument("--corruptions", nargs="+", default=list(CORRUPTIONS), choices=list(CORRUPTIONS))
    parser.add_argument("--severities", type=int, nargs="+", default=list(SEVERITIES), choices=list(SEVERITIES))
    parser.add_argument("--load", type=Path, default=None,
                        help="score saved models DIR/single and DIR/ensemble instead of training")
    parser.add_argument("--save", type=Path, default=None, help="save the trained models to DIR/single, DIR/ensemble")
    parser.add_argument("--jobs", type=int, default=2, help="joblib worker processes")
    parser.add_argument("--engine", default="auto", choices=("auto", "loop", "joblib", "vmap", "grouped"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in all (split between --jobs workers); default: torch's")
    parser.add_argument("--seed", type=int, default=0, help="training subset, validation subset, members, corruptions")
    parser.add_argument("--out", type=Path, default=Path("augkit-out/cifar10_robustness"))
    return parser


def _split(labels: np.ndarray, args) -> tuple[np.ndarray, np.ndarray]:
    """Training and scored validation rows; the same arguments always give the same rows."""
    train_idx, val_idx = last_per_class_split(labels, args.val_per_class)
    rng = np.random.default_rng(args.seed)
    if args.train_subset and args.train_subset < len(train_idx):
        train_idx = np.sort(rng.choice(train_idx, args.train_subset, replace=False))
    if args.val_images and args.val_images < len(val_idx):
        val_idx = np.sort(rng.choice(val_idx, args.val_images, replace=False))
    return train_idx, val_idx


def _train(X: np.ndarray, y: np.ndarray, args) -> dict[str, BaggedNetClassifier]:
    augment = A.Compose([A.RandomScaleCrop(size=32, scale=(32, 40)), A.HorizontalFlip(p=0.5)])
    member = functools.partial(nets.SmallCNN, widths=tuple(args.widths))
    common = dict(member=member, epochs=args.epochs, batch_size=128, lr=0.05, lr_schedule="onecycle",
                  weight_decay=5e-4, augment=augment, patience=3, n_jobs=args.jobs, engine=args.engine,
                  device=args.device, random_state=args.seed)
    models = {"single": BaggedNetClassifier(n_members=1, bootstrap=False, **common),
              "ensemble": BaggedNetClassifier(n_members=args.members, bootstrap=True, **common)}
    for name, clf in models.items():
        start = time.perf_counter()
        clf.fit(X, y)
        print(f"trained {name} ({len(clf.estimators_)} members) in {time.perf_counter() - start:.0f} s")
    return models


def held_out_logits(clf: BaggedNetClassifier, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Averaged logits, encoded labels and members averaged of the training rows that some member did not train on.

    Row n's probabilities are the mean over the members that held it out (out-of-bag rows when
    bagging, the early-stopping rows otherwise), with the estimator's test views, as the
    estimator's ``oob_decision_function_``; the third array counts those members. For models
    fitted without ``calibration="temperature"``: the rows its temperature law is fitted on.
    """
    if max(int(rows.max(initial=-1)) for rows in clf.oob_indices_) >= len(X):
        raise SystemExit(f"the model's held-out rows index past the {len(X)} training rows given: pass the "
                         "--train-subset and --seed it was trained with")
    probas = clf.member_probas(_in_layout(clf, X)).double()  # M x N x K
    held = torch.zeros(probas.shape[:2], dtype=torch.bool)
    for m, rows in enumerate(clf.oob_indices_):
        held[m, torch.as_tensor(rows, dtype=torch.long)] = True
    counts = held.sum(0)
    seen = counts > 0
    proba = (probas * held[..., None]).sum(0)[seen] / counts[seen, None]
    return ensemble_logits(proba.numpy()), np.searchsorted(clf.classes_, y)[seen.numpy()], counts[seen].numpy()


def _in_layout(clf: BaggedNetClassifier, images: np.ndarray) -> np.ndarray:
    """N x H x W x 3 images (what the corruptions work on) in the layout ``clf`` was fitted on
    (the recipe's models: N x C x H x W)."""
    if clf.input_spec_.layout == "NCHW":
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return images


class _LastCall:
    """Remembers ``fn``'s result for the last images it saw, so that the calibrated variant of
    a model reuses its forward pass on the same corrupted copy."""

    def __init__(self, fn):
        self.fn, self.images, self.result = fn, None, None

    def __call__(self, images):
        if images is not self.images:
            self.images, self.result = images, self.fn(images)
        return self.result


def _models(fitted: dict[str, BaggedNetClassifier], temperatures: dict[str, float]) -> dict:
    models = {}
    for key, label in (("single", "single member"), ("ensemble", "ensemble")):
        proba = _LastCall(lambda images, clf=fitted[key]: clf.predict_proba(_in_layout(clf, images)))
        models[label] = proba
        models[f"{label}, calibrated"] = (
            lambda images, proba=proba, t=temperatures[key]: apply_temperature(ensemble_logits(proba(images)), t))
    return models


def _fmt(row: dict) -> str:
    return f"{row['accuracy']:.4f} | {row['nll']:.3f} | {row['ece']:.4f}"


def _tables(rows: list[dict], by_severity: list[dict], temperatures: dict, n_rows: dict, header: str) -> str:
    models = list(dict.fromkeys(r["model"] for r in rows))
    shifted = {m: {s: float(np.mean([r[s] for r in rows if r["model"] == m and r["severity"] > 0])) for s in SCORES}
               for m in models}
    worst = max(r["severity"] for r in rows)
    lines = [header, "",
             f"Temperatures, fitted on held-out training rows: single member T = {temperatures['single']:.3f} "
             f"({n_rows['single']} rows), ensemble T = {temperatures['ensemble']:.3f} ({n_rows['ensemble']} rows).", "",
             f"| model | clean acc | clean NLL | clean ECE | shifted acc | shifted NLL | shifted ECE | severity {worst} acc "
             f"| severity {worst} NLL | severity {worst} ECE |", "|---|" + "---:|" * 9]
    for m in models:
        clean = next(r for r in rows if r["model"] == m and r["severity"] == 0)
        last = next(r for r in by_severity if r["model"] == m and r["severity"] == worst)
        lines.append(f"| {m} | {_fmt(clean)} | {_fmt(shifted[m])} | {_fmt(last)} |")
    lines += ["", "Mean over corruptions, by severity (0 = clean):", "",
              "| model | severity | accuracy | NLL | ECE |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['severity']} | {_fmt(r)} |" for r in by_severity]
    lines += ["", "Mean over severities, by corruption:", "", "| corruption | model | accuracy | NLL | ECE |",
              "|---|---|---:|---:|---:|"]
    for corruption in dict.fromkeys(r["corruption"] for r in rows if r["severity"] > 0):
        for m in models:
            group = [r for r in rows if r["model"] == m and r["corruption"] == corruption]
            lines.append(f"| {corruption} | {m} | {_fmt({s: np.mean([r[s] for r in group]) for s in SCORES})} |")
    return "\n".join(lines) + "\n"


def _style(model: str) -> dict:
    """One colour per model, dashed when calibrated."""
    return {"color": "C0" if model.startswith("single") else "C1", "ls": "--" if model.endswith("calibrated") else "-"}


def _plots(out: Path, by_severity: list[dict], clean: dict[str, np.ndarray], y_val: np.ndarray) -> list[Path]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots")
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    for m in dict.fromkeys(r["model"] for r in by_severity):
        points = [r for r in by_severity if r["model"] == m]
        for ax, score in zip(axes, ("accuracy", "ece")):
            ax.plot([r["severity"] for r in points], [r[score] for r in points], marker="o", label=m, **_style(m))
    axes[0].set(xlabel="severity (0 = clean)", ylabel="accuracy", title="accuracy, mean over corruptions")
    axes[1].set(xlabel="severity (0 = clean)", ylabel="ECE (15 bins)", title="ECE, mean over corruptions")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    paths = [out / "robustness.png"]
    fig.savefig(paths[0])
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=80)
    for m, proba in clean.items():
        metrics.reliability_diagram(proba, y_val, ax=ax, label=m, **_style(m))
    ax.set_title("clean validation images")
    paths.append(out / "reliability.png")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cifar10 is None:
        raise SystemExit("CIFAR-10 not given: pass --cifar10 PATH or set AUGKIT_CIFAR10")
    args.out.mkdir(parents=True, exist_ok=True)
    images, labels, _classes = load_cifar10(args.cifar10)
    train_idx, val_idx = _split(labels, args)
    X, y = images[train_idx], labels[train_idx]
    X_val, y_val = images[val_idx], labels[val_idx]
    print(f"{len(X)} training images, {len(X_val)} validation images (of the last {args.val_per_class} per class)")
    if args.load is not None:
        fitted = {k: BaggedNetClassifier.load(args.load / k, device=args.device) for k in ("single", "ensemble")}
    else:
        fitted = _train(X, y, args)
    for key, clf in fitted.items():
        if args.tta != "model":
            clf.set_params(tta=mode_from_name(args.tta))
        if args.save is not None:
            clf.save(args.save / key)
    temperatures, n_rows = {}, {}
    for key, clf in fitted.items():
        if getattr(clf, "temperature_", None) is not None:
            # fitted with calibration="temperature": its own temperature, from the rows its members
            # held out; the uncalibrated rows are its probabilities before that temperature
            temperatures[key], n_rows[key] = clf.temperature_, len(np.unique(np.concatenate(clf.oob_indices_)))
            clf.temperature_ = None
            continue
        logits, held_y, members = held_out_logits(clf, X, y)
        law = fit_temperature_law(logits, held_y, members, n_members=len(clf.estimators_))
        temperatures[key], n_rows[key] = law.temperature, len(held_y)
    print("temperatures:", {k: round(t, 4) for k, t in temperatures.items()})
    models = _models(fitted, temperatures)
    y_encoded = np.searchsorted(fitted["ensemble"].classes_, y_val)
    start = time.perf_counter()
    clean = {name: np.asarray(fn(X_val)) for name, fn in models.items()}
    rows = robustness_scores(models, X_val, y_encoded, corruptions=args.corruptions, severities=args.severities,
                             seed=args.seed)
    print(f"scored {len(rows)} (model, image set) pairs in {time.perf_counter() - start:.0f} s")
    by_severity = mean_over_corruptions(rows)
    source = f"--load {args.load}" if args.load else f"{args.members}-member bagged ensemble, {args.epochs} epochs"
    used = "".join(f", {k} TTA used: {getattr(c, 'tta_', c.tta)}" for k, c in fitted.items())
    header = (f"CIFAR-10, {len(X)} training images, {len(X_val)} validation images; {source}; "
              f"tta={fitted['ensemble'].tta}{used}")
    table = _tables(rows, by_severity, temperatures, n_rows, header)
    print("\n" + table)
    plots = _plots(args.out, by_severity, clean, y_encoded)
    results = {"args": {k: str(v) for k, v in vars(args).items()}, "temperatures": temperatures,
               "calibration_rows": n_rows, "rows": rows, "by_severity": by_severity,
               "corruptions": {c.name: {"parameter": c.parameter, "values": list(c.values)}
                               for c in CORRUPTIONS.values()}}
    (args.out / "cifar10_robustness.md").write_text(table)
    (args.out / "cifar10_robustness.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}/cifar10_robustness.md, .json" + "".join(f", {p.name}" for p in plots))
    return results


if __name__ == "__main__":
    main()
