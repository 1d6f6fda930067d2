"""The CIFAR-10 recipe, ``ensemble.recipes.cifar10(time_budget, n_members)``, trained and scored.

Trains on the 40,000 training images that are not the validation split (the last 1,000 images of
each class, in file order) and reports accuracy, NLL and ECE on that split: with the TTA that
``tta="auto"`` chose, without TTA, and before and after the temperature.

* One run: ``--budget S --members K``: ``cifar10(time_budget=S, n_members=K)``; the table gives the
  seconds used (the recipe's width probe and ``fit``) over the budget.
* ``--curve S``: validation accuracy against training seconds for 1, 2 and 4 members of S seconds
  each (the first k members of one ``cifar10(4 S, n_members=4)``) and for one member trained for
  the same total time (``cifar10(2 S)``, ``cifar10(4 S)``): ensembles against a single model at
  equal compute. Writes the table and ``accuracy_vs_seconds.png``.

    python examples/cifar10_recipe.py --cifar10 PATH --budget 900 --members 1 [--save DIR]
    python examples/cifar10_recipe.py --cifar10 PATH --curve 900
    python examples/cifar10_recipe.py --cifar10 PATH --budget 60 --train-subset 2000   # smoke test
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import _report
import numpy as np

from ensemble import metrics, vote
from ensemble.calibration import apply_temperature, ensemble_logits
from ensemble.recipes import cifar10


def load(parser, args) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """uint8 N x 3 x 32 x 32 training and validation images with their labels."""
    return _report.cifar10_split(_report.cifar10_folder(parser, args), args.train_subset, args.seed,
                                 val_per_class=args.val_per_class)


def add_subset_arguments(parser: argparse.ArgumentParser) -> None:
    """--train-subset and --val-per-class: smaller runs (smoke tests) of the recipe's split."""
    parser.add_argument("--train-subset", type=int, default=None, help="train on this many random images (default all)")
    parser.add_argument("--val-per-class", type=int, default=1000,
                        help="score on the last N images of each class (default 1000: the validation split)")


def scores(proba: np.ndarray, y: np.ndarray) -> dict:
    return {"accuracy": float((proba.argmax(1) == y).mean()), "nll": metrics.nll(proba, y),
            "ece": metrics.ece(proba, y)}


def evaluate(clf, X: np.ndarray, y: np.ndarray, members: int | None = None) -> dict:
    """The scores of the first ``members`` members (all by default) on (X, y): with the chosen TTA,
    calibrated (the whole ensemble's temperature) and not, and without TTA."""
    labels = np.searchsorted(clf.classes_, y)
    k = members or len(clf.estimators_)
    views = clf.member_probas(X)[:k]
    plain = vote(views).numpy()
    none = vote(clf.member_probas(X, tta=None)[:k]).numpy()
    out = {"members": k, "tta": str(clf.tta_), "temperature": clf.temperature_, "epochs": clf.epochs_,
           "with_tta": scores(plain, labels), "no_tta": scores(none, labels)}
    out["calibrated"] = scores(apply_temperature(ensemble_logits(plain), clf.temperature_), labels)
    return out


def train(budget: float, members: int, data, seed: int, save: Path | None = None) -> tuple[object, float]:
    """The fitted recipe and the seconds it used of its budget: the recipe's width probe and ``fit``."""
    (X, y), _ = data
    start = time.perf_counter()
    clf = cifar10(time_budget=budget, n_members=members, random_state=seed)
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    if save is not None:
        clf.save(save)
    print(f"cifar10(time_budget={budget:g}, n_members={members}): {seconds:.1f} s used of {budget:g} s "
          f"({seconds / budget:.3f}), {clf.epochs_} epochs per member planned first, tta_={clf.tta_}, "
          f"temperature_={clf.temperature_:.3f}", flush=True)
    return clf, seconds


def row(label: str, result: dict, seconds: float, budget: float | None = None) -> list:
    used = round(seconds / budget, 3) if budget else ""
    return [label, round(seconds), used, result["epochs"], result["tta"], result["with_tta"]["accuracy"],
            result["no_tta"]["accuracy"], result["with_tta"]["nll"], result["calibrated"]["nll"],
            result["with_tta"]["ece"], result["calibrated"]["ece"]]


HEADER = ["model", "seconds used", "used / budget", "first plan, epochs per member", "TTA chosen", "accuracy",
          "accuracy, no TTA", "NLL", "NLL, calibrated", "ECE", "ECE, calibrated"]


def one_run(args, data) -> dict:
    clf, seconds = train(args.budget, args.members, data, args.seed, args.save)
    result = {**evaluate(clf, *data[1]), "fit_seconds": seconds, "budget": args.budget, "used": seconds / args.budget,
              "tta_scores": clf.tta_scores_}
    table = _report.markdown_table(HEADER, [row(f"cifar10({args.budget:g}, n_members={args.members})", result, seconds,
                                                args.budget)])
    _report.write_report(args.out, "cifar10_recipe", table, {"args": vars(args), "result": result})
    return result


def curve(args, data) -> dict:
    per_member = args.curve
    ensemble, seconds = train(4 * per_member, 4, data, args.seed, args.save)
    points = {"ensemble": [], "single": []}
    for k in (1, 2, 4):
        points["ensemble"].append({**evaluate(ensemble, *data[1], members=k), "seconds": seconds * k / 4})
    first = dict(points["ensemble"][0])
    points["single"].append(first)  # one member of S seconds is the 1-member point
    for factor in (2, 4):
        single, single_seconds = train(factor * per_member, 1, data, args.seed + factor)
        points["single"].append({**evaluate(single, *data[1]), "seconds": single_seconds,
                                 "budget": factor * per_member})
    rows = [row(f"{p['members']} member(s) x {per_member:g} s", p, p["seconds"]) for p in points["ensemble"]]
    rows[-1][2] = round(seconds / (4 * per_member), 3)  # the whole run of four members
    rows += [row(f"1 member x {p['seconds']:.0f} s", p, p["seconds"], p["budget"]) for p in points["single"][1:]]
    _report.write_report(args.out, "cifar10_recipe_curve", _report.markdown_table(HEADER, rows),
                         {"args": vars(args), "points": points})
    plt = _report.pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, label in (("ensemble", "k members, each trained for S seconds"), ("single", "one member, same total time")):
            xs = [p["seconds"] for p in points[name]]
            ax.plot(xs, [100 * p["with_tta"]["accuracy"] for p in points[name]], "o-", label=label)
        for p in points["ensemble"]:
            ax.annotate(f"k={p['members']}", (p["seconds"], 100 * p["with_tta"]["accuracy"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=8)
        ax.set_xlabel("training seconds (fit wall time, 2 CPU cores)")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        _report.save_figure(fig, args.out / "accuracy_vs_seconds.png",
                            title=f"CIFAR-10 recipe: ensembles vs one member at equal compute (S = {per_member:g} s)")
    return points


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "cifar10_recipe")
    parser.add_argument("--budget", type=float, default=900.0, help="time_budget of one run, seconds")
    parser.add_argument("--members", type=int, default=1, help="n_members of one run")
    parser.add_argument("--curve", type=float, default=None, metavar="S",
                        help="instead: the accuracy-vs-seconds curve for members of S seconds (runs 4 S + 2 S + 4 S)")
    add_subset_arguments(parser)
    parser.add_argument("--save", type=Path, default=None, help="save the fitted ensemble to this folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = load(parser, args)
    return curve(args, data) if args.curve else one_run(args, data)


if __name__ == "__main__":
    main()
