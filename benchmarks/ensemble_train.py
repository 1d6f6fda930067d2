"""Ensemble training throughput on CIFAR-10: BaggedNetClassifier beside torchensemble's BaggingClassifier.

Every row trains ``--members`` bootstrap-bagged ``nets.SmallCNN`` members for ``--epochs`` epochs
on the same ``--images`` CIFAR-10 training images (a seeded random subset of
``augkit.data.load_cifar10()``), batch 128, SGD lr 0.05, momentum 0.9 (Nesterov), no weight
decay, no augmentation, no early stopping. Rows, all in one run:

* ours, ``engine="joblib"``, ``n_jobs`` = 1 and 2 (one member per worker process);
* ours, ``engine="vectorized"`` (all members in one vmapped model) on the CPU;
* torchensemble ``BaggingClassifier(nets.SmallCNN, n_jobs=1 and 2)`` with the same optimiser,
  fed a ``TensorDataset`` of the same images already converted to normalised float32 (the
  conversion is not timed), when ``torchensemble`` is importable (run this script with the
  comparison venv ``.venv-compare/bin/python``); otherwise those rows are skipped with a note.

Measured: wall seconds of the whole ``fit`` call (ours includes its out-of-bag prediction,
worker start-up and data hand-off; torchensemble's includes its per-epoch process round trips)
and member-images/second = members x images x epochs / seconds. A short joblib warm-up starts
the two worker processes first so neither library pays for the other's start-up. Ratios:
ours / torchensemble at the same n_jobs, and n_jobs=2 / n_jobs=1 within a library.
Accuracy on 1,000 held-out validation images (last 100 per class) is printed as a sanity check.
Writes ``ensemble_train.md`` and ``.json`` and ``ensemble_train.png`` to ``--out``.

    .venv-compare/bin/python benchmarks/ensemble_train.py                   # full size
    .venv-compare/bin/python benchmarks/ensemble_train.py --images 2000 --epochs 1
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import time
from pathlib import Path

import joblib
import numpy as np
import torch

import nets
from augkit.data import last_per_class_split, load_cifar10, to_batch
from ensemble import BaggedNetClassifier

LR, MOMENTUM, BATCH = 0.05, 0.9, 128


def load_subset(n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n_images`` random training images (NHWC uint8) and labels, plus 1,000 validation images
    (the last 100 per class), disjoint from the training pool."""
    images, labels, _ = load_cifar10()
    train_idx, val_idx = last_per_class_split(labels, 100)
    if n_images > len(train_idx):
        raise ValueError(f"--images must be at most {len(train_idx)}, got {n_images}")
    chosen = np.sort(np.random.default_rng(seed).choice(train_idx, n_images, replace=False))
    return images[chosen], labels[chosen], images[val_idx], labels[val_idx]


def time_ours(X, y, X_val, y_val, members: int, epochs: int, engine: str, n_jobs: int, seed: int) -> dict:
    """Fit our BaggedNetClassifier once; seconds of ``fit`` and validation accuracy."""
    clf = BaggedNetClassifier(nets.SmallCNN, n_members=members, epochs=epochs, batch_size=BATCH, lr=LR,
                              momentum=MOMENTUM, weight_decay=0.0, early_stopping=False, engine=engine,
                              n_jobs=n_jobs, random_state=seed, verbose=0)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "val_acc": float(clf.score(X_val, y_val))}


def time_torchensemble(X, y, X_val, y_val, members: int, epochs: int, n_jobs: int, seed: int) -> dict:
    """Fit torchensemble's BaggingClassifier of nets.SmallCNN on normalised float tensors."""
    from torchensemble import BaggingClassifier

    x = torch.from_numpy(X).permute(0, 3, 1, 2).float() / 255
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
    train = torch.utils.data.TensorDataset((x - mean) / std, torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    torch.manual_seed(seed)
    model = BaggingClassifier(nets.SmallCNN, n_estimators=members, cuda=False, n_jobs=n_jobs,
                              estimator_args={"input_shape": (3, 32, 32), "n_classes": 10})
    model.set_optimizer("SGD", lr=LR, momentum=MOMENTUM, nesterov=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # one progress line per member and epoch
        model.fit(loader, epochs=epochs, log_interval=10**9, save_model=False)
    seconds = time.perf_counter() - start
    xv = (to_batch(X_val).float() / 255 - mean) / std
    model.eval()  # torchensemble's fit leaves its estimators in training mode (BatchNorm on batch statistics)
    with torch.no_grad():
        acc = (model(xv).argmax(1).numpy() == y_val).mean()
    return {"seconds": seconds, "val_acc": float(acc)}


def warm_up_workers(n_jobs: int) -> None:
    """Start joblib's reusable worker processes (and import torch there) before any timing."""
    joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(torch.zeros)(1) for _ in range(n_jobs))


def ratio(a: dict | None, b: dict | None) -> float | None:
    """Throughput of row ``a`` divided by that of row ``b`` (None when either is missing)."""
    if a is None or b is None:
        return None
    return a["member_images_per_s"] / b["member_images_per_s"]


def cpu_name() -> str:
    """The CPU model line of lscpu (Linux) or platform.processor()."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def plot(rows: list[dict], path: Path, dpi: int) -> None:
    """Horizontal bars of member-images/s per row."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(rows) + 1))
    names = [r["row"] for r in rows]
    values = [r["member_images_per_s"] for r in rows]
    colors = ["tab:blue" if r["library"] == "ours" else "tab:gray" for r in rows]
    ax.barh(names, values, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("member-images / second (higher is better)")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--images", type=int, default=10_000, help="CIFAR-10 training images (default: %(default)s)")
    parser.add_argument("--members", type=int, default=4, help="ensemble members (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per member (default: %(default)s)")
    parser.add_argument("--rows", default="ours,vectorized,torchensemble",
                        help="comma-separated row groups to run: ours (joblib n_jobs 1 and 2), vectorized, "
                             "torchensemble (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset and the members (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("augkit-out/ensemble_train"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    args = parser.parse_args(argv)
    groups = set(args.rows.split(","))
    if not groups <= {"ours", "vectorized", "torchensemble"}:
        parser.error(f"--rows must name ours, vectorized and/or torchensemble, got {args.rows!r}")
    for name in ("images", "members", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    args.out.mkdir(parents=True, exist_ok=True)

    X, y, X_val, y_val = load_subset(args.images, args.seed)
    try:
        import torchensemble  # noqa: F401
        have_te = True
    except ImportError:
        have_te = False
        if "torchensemble" in groups:
            print("torchensemble is not importable here: its rows are skipped "
                  "(run with the comparison venv, .venv-compare/bin/python)")
    work = args.members * args.images * args.epochs
    plan = []
    if "ours" in groups:
        plan += [("ours", "joblib", 1), ("ours", "joblib", 2)]
    if "vectorized" in groups:
        plan.append(("ours", "vectorized", 1))
    if "torchensemble" in groups and have_te:
        plan += [("torchensemble", "joblib", 1), ("torchensemble", "joblib", 2)]
    if any(n_jobs > 1 for _, _, n_jobs in plan):
        warm_up_workers(2)
    rows, by_key = [], {}
    for library, engine, n_jobs in plan:
        if library == "ours":
            result = time_ours(X, y, X_val, y_val, args.members, args.epochs, engine, n_jobs, args.seed)
            name = f"ours engine={engine}" + (f" n_jobs={n_jobs}" if engine == "joblib" else " (CPU)")
        else:
            result = time_torchensemble(X, y, X_val, y_val, args.members, args.epochs, n_jobs, args.seed)
            name = f"torchensemble n_jobs={n_jobs}"
        row = {"row": name, "library": library, "engine": engine, "n_jobs": n_jobs,
               "member_images_per_s": work / result["seconds"], **result}
        rows.append(row)
        by_key[(library, engine, n_jobs)] = row
        print(f"{name}: {row['seconds']:.1f} s, {row['member_images_per_s']:,.0f} member-images/s, "
              f"val acc {row['val_acc']:.3f}", flush=True)
    te_best = max((r for r in rows if r["library"] == "torchensemble"),
                  key=lambda r: r["member_images_per_s"], default=None)
    for row in rows:
        if row["library"] == "ours":
            te = by_key.get(("torchensemble", "joblib", row["n_jobs"])) if row["engine"] == "joblib" else te_best
            row["vs_torchensemble"] = ratio(row, te)
        else:
            row["vs_torchensemble"] = None
        row["vs_n_jobs_1"] = (ratio(row, by_key.get((row["library"], "joblib", 1)))
                              if row["engine"] == "joblib" and row["n_jobs"] == 2 else None)

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    header = (f"{args.members} SmallCNN members x {args.images:,} CIFAR-10 images x {args.epochs} epochs, batch {BATCH}, "
              f"SGD lr {LR} momentum {MOMENTUM}; torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_name()})")
    lines = [header, "",
             "| row | seconds | member-images/s | ours / torchensemble | n_jobs=2 / n_jobs=1 | val acc |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['row']} | {r['seconds']:.1f} | {r['member_images_per_s']:,.0f} | {fmt(r['vs_torchensemble'])} "
              f"| {fmt(r['vs_n_jobs_1'])} | {r['val_acc']:.3f} |" for r in rows]
    lines += ["", "ours / torchensemble: same n_jobs (the vectorized row: against the faster torchensemble row)."]
    markdown = "\n".join(lines) + "\n"
    (args.out / "ensemble_train.md").write_text(markdown)
    (args.out / "ensemble_train.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "torch": torch.__version__, "cpu": cpu_name(),
         "cpus": os.cpu_count(), "rows": rows}, indent=1))
    if rows:
        plot(rows, args.out / "ensemble_train.png", args.dpi)
    print(markdown)
    return rows


if __name__ == "__main__":
    main()
