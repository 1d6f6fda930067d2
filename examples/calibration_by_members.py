"""Temperature calibration from out-of-bag rows: one temperature for all rows vs the law in the members averaged.

A bagged ensemble fits its temperature on out-of-bag rows, and such a row averages only the
members that did not train on it (about 37% of them), which are more over-confident than the
whole ensemble. For each data set and seed this trains a bagged ensemble with
``calibration="temperature"`` and scores its held-out rows (never trained on, never used to
fit a temperature):

* uncalibrated: the soft vote of all members;
* one temperature: the minimum-NLL temperature of the out-of-bag decision, every row treated
  alike (``ensemble.fit_temperature``);
* law: the law ``1 / T(m) = a + b / m`` fitted on the out-of-bag rows with each row's number
  of members ``m``, at all members ``M`` (``ensemble.calibration.fit_temperature_law``);
* law, applied: the estimator's own ``temperature_``, the law's ``1 / T(M)`` moved towards 1
  by 1.645 of its standard errors (exactly 1 within them);
* hold-out optimum: the temperature fitted on the scored rows themselves, the best any one
  temperature can do there (a bound for comparison, not a calibration).

Data: scikit-learn's digits (``--digits-train`` rows, the rest held out; a 4-member bagged MLP,
60 epochs at lr 0.1, no early stopping) and, with ``--cifar10``, a CIFAR-10 subset
(``--cifar-train`` images; held out: ``--cifar-val`` of the last 1,000 images of each class; a
4-member bagged SmallCNN).

    python examples/calibration_by_members.py                              # digits, 3 seeds: about a minute
    python examples/calibration_by_members.py --cifar10 PATH               # and the CIFAR-10 subset
"""
from __future__ import annotations

import functools
import time

import _report
import numpy as np
import torch

import nets
from augkit.data import last_per_class_split, load_cifar10
from ensemble import BaggedNetClassifier, apply_temperature, ensemble_logits, fit_temperature, metrics, vote
from ensemble.calibration import TemperatureLaw

CALIBRATIONS = ("uncalibrated", "one temperature", "law", "law, applied", "hold-out optimum")


def digits_data(n_train: int, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded random ``n_train`` rows of scikit-learn's digits (float32 features) and the rest."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:n_train], order[n_train:]
    return X[train].astype(np.float32), y[train], X[test].astype(np.float32), y[test]


def cifar10_data(images: np.ndarray, labels: np.ndarray, n_train: int, n_val: int, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded ``n_train`` training images (none of the last 1,000 of a class) and ``n_val`` of those last ones."""
    train_idx, val_idx = last_per_class_split(labels, 1000)
    rng = np.random.default_rng(seed)
    train_idx = np.sort(rng.choice(train_idx, min(n_train, len(train_idx)), replace=False))
    val_idx = np.sort(rng.choice(val_idx, min(n_val, len(val_idx)), replace=False))
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


def calibrations(clf: BaggedNetClassifier, y_train: np.ndarray, X_test: np.ndarray,
                 y_test: np.ndarray) -> dict[str, dict[str, float]]:
    """Per calibration of :data:`CALIBRATIONS`: its temperature and the held-out NLL and ECE."""
    train_labels = np.searchsorted(clf.classes_, y_train)
    test_labels = np.searchsorted(clf.classes_, y_test)
    oob = clf.oob_decision_function_
    seen = ~np.isnan(oob).any(1)
    logits = ensemble_logits(vote(clf.member_probas(X_test)).numpy())
    temperatures = {
        "uncalibrated": 1.0,
        "one temperature": fit_temperature(ensemble_logits(oob[seen] / oob[seen].sum(1, keepdims=True)),
                                           train_labels[seen]),
        "law": TemperatureLaw(**clf.temperature_law_).temperature_at(len(clf.estimators_)),
        "law, applied": clf.temperature_,
        "hold-out optimum": fit_temperature(logits, test_labels),
    }
    scores = {}
    for name, t in temperatures.items():
        proba = apply_temperature(logits, t)
        scores[name] = {"temperature": t, "nll": metrics.nll(proba, test_labels), "ece": metrics.ece(proba, test_labels)}
    return scores


def run(name: str, data: tuple[np.ndarray, ...], member, args, seed: int, **settings) -> dict:
    """Train one bagged ensemble with ``calibration="temperature"`` on ``data`` and score its calibrations."""
    X, y, X_test, y_test = data
    start = time.perf_counter()
    clf = BaggedNetClassifier(member=member, n_members=args.members, early_stopping=False, calibration="temperature",
                              random_state=seed, verbose=0, n_jobs=1, **settings).fit(X, y)
    row = {"data": name, "seed": seed, "train": len(X), "test": len(X_test), "law": clf.temperature_law_,
           "scores": calibrations(clf, y, X_test, y_test), "seconds": time.perf_counter() - start}
    nll = {k: round(v["nll"], 4) for k, v in row["scores"].items()}
    print(f"{name} seed {seed}: NLL {nll}, law {clf.temperature_law_} ({row['seconds']:.0f} s)", flush=True)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = _report.parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the split and the ensemble, one run each (default: %(default)s)")
    parser.add_argument("--members", type=int, default=4, help="members of each bagged ensemble (default: %(default)s)")
    parser.add_argument("--digits-train", type=int, default=1000, help="digits training rows (default: %(default)s)")
    parser.add_argument("--digits-epochs", type=int, default=60, help="digits epochs (default: %(default)s)")
    parser.add_argument("--cifar-train", type=int, default=3000, help="CIFAR-10 training images (default: %(default)s)")
    parser.add_argument("--cifar-val", type=int, default=2000, help="CIFAR-10 held-out images (default: %(default)s)")
    parser.add_argument("--cifar-epochs", type=int, default=4, help="CIFAR-10 epochs (default: %(default)s)")
    parser.add_argument("--widths", type=int, nargs=3, default=[8, 16, 32],
                        help="CIFAR-10 SmallCNN block widths (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; small models run fastest on one (default: %(default)s)")
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "calibration_by_members")
    args = parser.parse_args(argv)
    if args.cifar10 is not None:
        _report.cifar10_folder(parser, args)  # exits with a message when it is not a folder
    torch.set_num_threads(args.threads)
    rows = [run("digits", digits_data(args.digits_train, seed), None, args, seed, epochs=args.digits_epochs, lr=0.1)
            for seed in args.seeds]
    if args.cifar10 is not None:
        images, labels, _ = load_cifar10(args.cifar10)
        member = functools.partial(nets.SmallCNN, widths=tuple(args.widths))
        rows += [run("cifar10", cifar10_data(images, labels, args.cifar_train, args.cifar_val, seed), member, args, seed,
                     epochs=args.cifar_epochs, batch_size=64, lr=0.05) for seed in args.seeds]
    header = ["data", "seed", "rows (train / held out)", "calibration", "T", "NLL", "ECE", "NLL vs uncalibrated"]
    table = [[r["data"], r["seed"], f"{r['train']} / {r['test']}", name, r["scores"][name]["temperature"],
              r["scores"][name]["nll"], r["scores"][name]["ece"],
              r["scores"][name]["nll"] - r["scores"]["uncalibrated"]["nll"]]
             for r in rows for name in CALIBRATIONS]
    summary = [[data, name, sum(r["scores"][name]["nll"] > r["scores"]["uncalibrated"]["nll"] for r in runs), len(runs),
                float(np.mean([r["scores"][name]["nll"] - r["scores"]["uncalibrated"]["nll"] for r in runs]))]
               for data in dict.fromkeys(r["data"] for r in rows)
               for runs in [[r for r in rows if r["data"] == data]] for name in CALIBRATIONS[1:4]]
    markdown = (f"{args.members}-member bagged ensembles, `calibration=\"temperature\"`; NLL and ECE on held-out "
                "rows. *one temperature*: fitted on the out-of-bag rows as if every row averaged all members; "
                "*law*: `1 / T(m) = a + b / m` fitted with each row's number of members m, at all M members; "
                "*law, applied*: the estimator's `temperature_`, the law's `1 / T(M)` moved towards 1 by 1.645 "
                "standard errors; *hold-out optimum*: fitted on the scored rows themselves, for comparison.\n\n"
                + _report.markdown_table(header, table, floats=[".4f"] * 7 + ["+.4f"])
                + "\n\nHow often each calibration raised the held-out NLL, and its mean change:\n\n"
                + _report.markdown_table(["data", "calibration", "runs where NLL rose", "runs", "mean NLL change"],
                                         summary, floats=[".4f"] * 4 + ["+.4f"]))
    _report.write_report(args.out, "calibration_by_members", markdown, {"args": args, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
