"""Ensembles at equal compute on CIFAR-10: one network, independent members, and ensembles from one run.

Every row is ``ensemble.recipes.cifar10(time_budget=--budget, ...)``, trained on the 40,000 images that
are not the validation split (the last 1,000 images of each class, in file order) and scored on that
split; every row gets the same wall-time budget on this machine:

* one member: one network trained for the whole budget;
* k independent members: k networks sharing the budget (``n_members=k``);
* snapshot, FGE: k members taken from one run of the whole budget (``method="snapshot"``, ``"fge"``);
* SWA: k networks of one run averaged into one member (``method="swa"``).

Columns: accuracy with the test-time views ``tta="auto"`` chose, NLL and ECE of ``predict_proba``
(calibrated by the temperature fitted on the held-out rows) and before calibration, the difference
to the one-member row, and the seconds ``fit`` took of its budget.

    python examples/cifar10_equal_compute.py --cifar10 PATH --budget 300 --out docs/results/cifar10_equal_compute
    python examples/cifar10_equal_compute.py --cifar10 PATH --budget 900 --out docs/results/cifar10_equal_compute_900
    python examples/cifar10_equal_compute.py --cifar10 PATH --quick   # a smoke run: small data, seconds per row
"""
from __future__ import annotations

import time

import _report
import cifar10_recipe as recipe

from ensemble.recipes import WIDTHS, cifar10

ROWS = ("one member", "k independent", "snapshot", "FGE", "SWA")
# --quick: what a smoke run sets, unless given
QUICK = dict(budget=30.0, members=2, train_subset=1000, val_per_class=20, widths=[8, 32, 32], batch_size=64,
             validation_fraction=0.1)


def row_settings(name: str, members: int) -> dict:
    """The recipe's arguments of row ``name`` with ``members`` as k."""
    return {"one member": dict(n_members=1), "k independent": dict(n_members=members),
            "snapshot": dict(method="snapshot", n_members=members), "FGE": dict(method="fge", n_members=members),
            "SWA": dict(method="swa", n_members=members)}[name]


def overrides(args) -> dict:
    """The recipe parameters the command line changes: a batch size (with the recipe's lr scaled
    linearly with it), the held-out share, the cap on epochs."""
    out = {}
    if args.batch_size is not None:
        recipe_lr, recipe_batch = (cifar10(1, widths=WIDTHS[-1]).get_params()[k] for k in ("lr", "batch_size"))
        out.update(batch_size=args.batch_size, lr=recipe_lr * args.batch_size / recipe_batch)
    if args.validation_fraction is not None:
        out["validation_fraction"] = args.validation_fraction
    if args.max_epochs is not None:
        out["epochs"] = args.max_epochs
    return out


def run(name: str, args, data) -> dict:
    (X, y), (X_val, y_val) = data
    settings = {**row_settings(name, args.members), **overrides(args)}
    widths = tuple(args.widths) if args.widths else None
    start = time.perf_counter()
    try:
        clf = cifar10(time_budget=args.budget, random_state=args.seed, widths=widths, **settings)
        clf.fit(X, y)
    except Exception as e:  # a row that cannot train at this budget is a result too
        print(f"{name}: training failed: {type(e).__name__}: {e}", flush=True)
        return {"failed": f"{type(e).__name__}: {str(e).splitlines()[0]}", "fit_seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    result = {**recipe.evaluate(clf, X_val, y_val), "fit_seconds": seconds, "settings": settings,
              "width": list(clf.member.keywords["widths"]), "snapshot_steps": clf.histories_[0]["snapshot_steps"]}
    print(f"{name}: accuracy {result['with_tta']['accuracy']:.4f}, NLL {result['calibrated']['nll']:.4f}, "
          f"fit {seconds:.0f} s of {args.budget:g} s", flush=True)
    return result


def table(results: dict, budget: float) -> str:
    base = results.get("one member")
    base = None if base is None or "failed" in base else base
    rows = []
    for name, r in results.items():
        if "failed" in r:
            rows.append([name, None, None, None, None, None, None, None, round(r["fit_seconds"]), None, r["failed"]])
            continue
        accuracy, nll = r["with_tta"]["accuracy"], r["calibrated"]["nll"]
        rows.append([name, r["members"], accuracy, nll, r["calibrated"]["ece"], r["with_tta"]["nll"],
                     None if base is None else round(100 * (accuracy - base["with_tta"]["accuracy"]), 2),
                     None if base is None else round(100 * (nll / base["calibrated"]["nll"] - 1), 1),
                     round(r["fit_seconds"]), round(100 * r["fit_seconds"] / budget, 1), ""])
    header = ["row", "members", "accuracy", "NLL", "ECE", "NLL, uncalibrated", "accuracy vs one member (points)",
              "NLL vs one member (%)", "fit seconds", "% of budget", "failed"]
    caption = (f"Validation split (last 1,000 images of each class), every row with time_budget={budget:g} s; "
               "accuracy with the TTA chosen on the held-out rows; NLL and ECE after the temperature.")
    floats = [".4f"] * 6 + [".2f", ".1f", ".0f", ".1f", ""]
    return caption + "\n\n" + _report.markdown_table(header, rows, floats)


def main(argv: list[str] | None = None) -> dict:
    parser = _report.parser(__doc__)
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "cifar10_equal_compute")
    parser.add_argument("--budget", type=float, default=None, help="time_budget of every row, seconds (default 300)")
    parser.add_argument("--members", type=int, default=None, help="k, the members of the ensemble rows (default 4)")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), metavar="ROW",
                        help=f"the rows to train (default all: {', '.join(ROWS)})")
    parser.add_argument("--widths", type=int, nargs=3, default=None,
                        help="the network's widths in every row (default: the recipe chooses per row)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the recipe's batch size instead of 512, its lr scaled with it")
    parser.add_argument("--validation-fraction", type=float, default=None,
                        help="the recipe's held-out share instead of 0.02 (TTA choice and temperature)")
    parser.add_argument("--max-epochs", type=float, default=None,
                        help="at most this many epochs per run (default: the recipe's cap of 200; the budget decides)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                             + " unless given")
    recipe.add_subset_arguments(parser)
    parser.set_defaults(val_per_class=None)  # 1000, the validation split, unless --quick
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    defaults = dict(QUICK) if args.quick else dict(budget=300.0, members=4, val_per_class=1000)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    data = recipe.load(parser, args)
    results = {name: run(name, args, data) for name in args.rows}
    _report.write_report(args.out, "cifar10_equal_compute", table(results, args.budget),
                         {"args": vars(args), "rows": results})
    return results


if __name__ == "__main__":
    main()
