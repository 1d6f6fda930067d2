"""Ablation of the CIFAR-10 recipe at its budget: what each regulariser earns.

Every row is ``ensemble.recipes.cifar10(time_budget=--budget)`` trained on the 40,000 images that
are not the validation split (the last 1,000 images of each class) and scored on that split,
with one technique removed: augmentation (flip + 2 px translation), BatchNorm, weight decay,
label smoothing, test-time augmentation (the full row's members scored without TTA), and
ensembling (two members sharing the budget, against one: the points ensembling earns at equal
compute). The recipe has no dropout. Points earned = the full recipe's accuracy minus the row's.

    python examples/cifar10_ablation.py --cifar10 PATH --budget 900 [--full DIR]   # DIR: a saved full recipe
    python examples/cifar10_ablation.py --cifar10 PATH --budget 60 --train-subset 2000  # smoke test
    python examples/cifar10_ablation.py --cifar10 PATH --budget 900 --rerun "no BatchNorm"  # one row again
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _report
import cifar10_recipe as recipe

from ensemble import BaggedNetClassifier
from ensemble.recipes import cifar10

# row name -> the recipe's parameters it changes
ROWS = {
    "no augmentation": {"augment": None},
    "no BatchNorm": {"batch_norm": False},  # the width is probed for the network without it
    "no weight decay": {"weight_decay": 0.0},
    "no label smoothing": {"label_smoothing": 0.0},
    "with ensembling (2 members sharing the budget)": {"n_members": 2},
}


def run(budget: float, data, seed: int, **changes) -> tuple[dict, object]:
    (X, y), (X_val, y_val) = data
    start = time.perf_counter()  # the recipe's width probe spends the budget too
    clf = cifar10(time_budget=budget, random_state=seed, **changes)
    try:
        clf.fit(X, y)
    except Exception as e:  # a removal that breaks training (e.g. divergence) is a result too
        print(f"{changes}: training failed: {type(e).__name__}: {e}", flush=True)
        return {"failed": f"{type(e).__name__}: {str(e).splitlines()[0]}", "fit_seconds": time.perf_counter() - start}, None
    result = {**recipe.evaluate(clf, X_val, y_val), "fit_seconds": time.perf_counter() - start}
    print(f"{changes or 'full recipe'}: accuracy {result['with_tta']['accuracy']:.4f}", flush=True)
    return result, clf


def previous_rows(parser: argparse.ArgumentParser, args) -> dict:
    """The rows of the report in ``args.out`` (for ``--rerun``), checked to come from the same budget and seed."""
    path = args.out / "cifar10_ablation.json"
    if not path.is_file():
        parser.error(f"--rerun keeps the other rows of {path}, which does not exist: run the whole ablation first")
    report = json.loads(path.read_text())
    if (report["args"]["budget"], report["args"]["seed"]) != (args.budget, args.seed):
        parser.error(f"{path} comes from --budget {report['args']['budget']} --seed {report['args']['seed']}, "
                     f"not --budget {args.budget} --seed {args.seed}")
    return report["rows"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "cifar10_ablation")
    parser.add_argument("--budget", type=float, default=900.0, help="time_budget of every row, seconds")
    parser.add_argument("--full", type=Path, default=None,
                        help="a saved cifar10(--budget) ensemble (cifar10_recipe.py --save) to score instead of training one")
    recipe.add_subset_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rerun", action="append", default=[], choices=list(ROWS), metavar="ROW",
                        help="train only this row again (repeatable) and keep the other rows of the report "
                             "already in --out, which must come from the same --budget and --seed")
    args = parser.parse_args(argv)
    data = recipe.load(parser, args)
    if args.rerun:
        results = previous_rows(parser, args)
    elif args.full is not None:
        full = BaggedNetClassifier.load(args.full)
        results = {"full recipe": {**recipe.evaluate(full, *data[1]), "fit_seconds": None, "loaded": str(args.full)}}
    else:
        results = {"full recipe": run(args.budget, data, args.seed)[0]}
    full_result = results["full recipe"]
    results["no TTA"] = {**full_result, "with_tta": full_result["no_tta"], "tta": "None"}
    for name, changes in ROWS.items():
        if not args.rerun or name in args.rerun:
            results[name] = run(args.budget, data, args.seed, **changes)[0]
    base = full_result["with_tta"]["accuracy"]
    rows = []
    for name, r in results.items():
        if "failed" in r:
            rows.append([name, "n/a", "n/a", "n/a", r["failed"]])
            continue
        accuracy = r["with_tta"]["accuracy"]
        earned = "" if name == "full recipe" else round(100 * (accuracy - base) if "ensembling" in name
                                                         else 100 * (base - accuracy), 2)
        rows.append([name, accuracy, r["with_tta"]["nll"], r["epochs"], earned])
    table = _report.markdown_table(["row", "val accuracy", "NLL", "epochs per member",
                                    "points the technique earns"], rows)
    _report.write_report(args.out, "cifar10_ablation", table, {"args": vars(args), "rows": results})
    return results


if __name__ == "__main__":
    main()
