"""Ensemble training throughput on CIFAR-10: BaggedNetClassifier beside torchensemble's BaggingClassifier.

Every row trains ``--members`` bootstrap-bagged ``nets.SmallCNN`` members (3 blocks, 32/64/128,
BatchNorm) for ``--epochs`` epochs on the same ``--images`` CIFAR-10 training images (a seeded
random subset of ``augkit.data.load_cifar10()``), batch 128, SGD lr 0.05, momentum 0.9
(Nesterov), no weight decay, no augmentation, no early stopping, library defaults otherwise
(ours: channels-last). Rows, all in one run (``--rows`` picks groups):

* ``torchensemble``: ``BaggingClassifier(nets.SmallCNN, n_jobs=1)`` with the same optimiser, fed
  a ``TensorDataset`` of the same images already normalised to float32 (not timed); timed
  twice, once before our rows and once after, and the faster run is the reference (a
  library's first run in a process pays one-time costs). Needs ``torchensemble`` (run this
  script with ``python`` in the comparison environment, built by
  ``../shared/tools/comparison-venv.sh``); skipped with a note otherwise.
* ``ours``: ``engine="joblib"`` float32 with ``n_jobs`` = 1 and 2 (one member per worker
  process; a short warm-up starts the two worker processes first);
* ``bf16``: ours, ``precision="bfloat16"``, ``n_jobs=1`` (float32 with a warning on a CPU
  without native bf16; the header says which);
* ``predict``: ``predict_proba`` of the float32 ``n_jobs=1`` ensemble on the validation images,
  without views and with ten-crop TTA, as member-images/s = members x images / seconds;
* ``vectorized``: ours, ``engine="vmap"`` (all members stacked) on the CPU (not in the default set).

Measured: wall seconds of the whole ``fit`` call (ours includes its out-of-bag prediction,
worker start-up and data hand-off; torchensemble's includes its per-epoch process round trips)
and member-images/second = members x images x epochs / seconds; ours / torchensemble; n_jobs=2
/ n_jobs=1; validation accuracy on 1,000 held-out images (the last 100 per class), the same
split for every row. Writes ``ensemble_train.md`` and ``.json`` to ``--out``.

The script uses only parameters the estimator had before channels-last and bf16 on the CPU
existed, so the ten-crop "before" figure comes from running it on an older checkout of the
package: ``git worktree add /tmp/base <commit>`` then
``PYTHONPATH=/tmp/base python benchmarks/ensemble_train.py --rows predict``, and pass the
printed rate back with ``--ten-crop-before`` to put the ratio in the table.

    python benchmarks/ensemble_train.py                   # full size
    python benchmarks/ensemble_train.py --images 2000 --epochs 1
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch

import nets
from augkit.data import last_per_class_split, load_cifar10, to_batch
from ensemble import BaggedNetClassifier

LR, MOMENTUM, BATCH = 0.05, 0.9, 128
GROUPS = ("torchensemble", "ours", "bf16", "predict", "vectorized")


def load_subset(n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n_images`` random training images (NHWC uint8) and labels, plus 1,000 validation images
    (the last 100 per class), disjoint from the training pool."""
    images, labels, _ = load_cifar10()
    train_idx, val_idx = last_per_class_split(labels, 100)
    if n_images > len(train_idx):
        raise ValueError(f"--images must be at most {len(train_idx)}, got {n_images}")
    chosen = np.sort(np.random.default_rng(seed).choice(train_idx, n_images, replace=False))
    return images[chosen], labels[chosen], images[val_idx], labels[val_idx]


def fit_ours(X, y, members: int, epochs: int, seed: int, **settings) -> tuple[BaggedNetClassifier, float]:
    """Fit our BaggedNetClassifier once; (classifier, seconds of ``fit``)."""
    clf = BaggedNetClassifier(nets.SmallCNN, n_members=members, epochs=epochs, batch_size=BATCH, lr=LR,
                              momentum=MOMENTUM, weight_decay=0.0, early_stopping=False, random_state=seed,
                              verbose=0, **settings)
    start = time.perf_counter()
    clf.fit(X, y)
    return clf, time.perf_counter() - start


def time_torchensemble(X, y, X_val, y_val, members: int, epochs: int, seed: int) -> dict:
    """Fit torchensemble's BaggingClassifier of nets.SmallCNN (n_jobs=1) on normalised float tensors."""
    from torchensemble import BaggingClassifier

    x = torch.from_numpy(X).permute(0, 3, 1, 2).float() / 255
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
    train = torch.utils.data.TensorDataset((x - mean) / std, torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    torch.manual_seed(seed)
    model = BaggingClassifier(nets.SmallCNN, n_estimators=members, cuda=False, n_jobs=1,
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


def time_predict(clf: BaggedNetClassifier, X_val: np.ndarray, tta) -> float:
    """Member-images per second of ``predict_proba`` (members x images / seconds), best of 2."""
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        clf.predict_proba(X_val, tta=tta)
        best = min(best, time.perf_counter() - start)
    return len(clf.estimators_) * len(X_val) / best


def warm_up_workers(n_jobs: int) -> None:
    """Start joblib's reusable worker processes (and import torch there) before any timing."""
    joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(torch.zeros)(1) for _ in range(n_jobs))


def cpu_name() -> str:
    """The CPU model line of /proc/cpuinfo (Linux) or platform.processor()."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _fmt(v: float | None, digits: int = 2, suffix: str = "x") -> str:
    return "-" if v is None else f"{v:.{digits}f}{suffix}"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--images", type=int, default=10_000, help="CIFAR-10 training images (default: %(default)s)")
    parser.add_argument("--members", type=int, default=4, help="ensemble members (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per member (default: %(default)s)")
    parser.add_argument("--rows", default="torchensemble,ours,bf16,predict",
                        help=f"comma-separated row groups, of {', '.join(GROUPS)} (default: %(default)s)")
    parser.add_argument("--ten-crop-before", type=float, default=None,
                        help="ten-crop predict_proba member-images/s measured at the base commit, for the ratio")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset and the members (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("augkit-out/ensemble_train"),
                        help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    groups = [g for g in args.rows.split(",") if g]
    if not set(groups) <= set(GROUPS):
        parser.error(f"--rows must name groups among {', '.join(GROUPS)}, got {args.rows!r}")
    for name in ("images", "members", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    args.out.mkdir(parents=True, exist_ok=True)

    X, y, X_val, y_val = load_subset(args.images, args.seed)
    have_te = True
    try:
        import torchensemble  # noqa: F401
    except ImportError:
        have_te = False
        if "torchensemble" in groups:
            print("torchensemble is not importable here: its rows are skipped "
                  "(run it in the comparison environment, built by ../shared/tools/comparison-venv.sh)")
    work = args.members * args.images * args.epochs
    size = (X, y, args.members, args.epochs, args.seed)
    rows: list[dict] = []
    fitted: dict[str, BaggedNetClassifier] = {}

    def add(name: str, library: str, seconds: float, val_acc: float, **extra) -> dict:
        row = {"row": name, "library": library, "seconds": seconds, "member_images_per_s": work / seconds,
               "val_acc": val_acc, "vs_torchensemble": None, "vs_n_jobs_1": None, **extra}
        rows.append(row)
        print(f"{name}: {seconds:.1f} s, {row['member_images_per_s']:,.0f} member-images/s, val acc {val_acc:.3f}",
              flush=True)
        return row

    def ours(name: str, key: str, **settings) -> dict:
        clf, seconds = fit_ours(*size, **settings)
        fitted[key] = clf
        return add(name, "ours", seconds, float(clf.score(X_val, y_val)), **settings)

    te_runs = []
    if "torchensemble" in groups and have_te:
        te_runs.append(time_torchensemble(X, y, X_val, y_val, args.members, args.epochs, args.seed))
        print(f"torchensemble run 1: {te_runs[0]['seconds']:.1f} s", flush=True)
    if "ours" in groups:
        warm_up_workers(2)
        ours("ours float32 n_jobs=1", "f32", engine="joblib", n_jobs=1)
        ours("ours float32 n_jobs=2", "f32_2", engine="joblib", n_jobs=2)
    if "bf16" in groups:
        ours("ours bfloat16 n_jobs=1", "bf16", engine="joblib", n_jobs=1, precision="bfloat16")
    if "vectorized" in groups:
        ours("ours engine=vmap (CPU)", "vectorized", engine="vmap")
    if te_runs:
        te_runs.append(time_torchensemble(X, y, X_val, y_val, args.members, args.epochs, args.seed))
        print(f"torchensemble run 2: {te_runs[1]['seconds']:.1f} s", flush=True)
        best = min(te_runs, key=lambda r: r["seconds"])
        runs = ", ".join(f"{r['seconds']:.1f}" for r in te_runs)
        reference = add(f"torchensemble n_jobs=1 (best of {len(te_runs)}: {runs} s)", "torchensemble",
                        best["seconds"], best["val_acc"])
        for row in rows:
            if row["library"] == "ours":
                row["vs_torchensemble"] = row["member_images_per_s"] / reference["member_images_per_s"]
    by_name = {r["row"]: r for r in rows}
    if "ours float32 n_jobs=2" in by_name:
        by_name["ours float32 n_jobs=2"]["vs_n_jobs_1"] = (by_name["ours float32 n_jobs=2"]["member_images_per_s"]
                                                           / by_name["ours float32 n_jobs=1"]["member_images_per_s"])
    predict = {}
    if "predict" in groups:
        clf = fitted.get("f32") or fit_ours(*size, engine="joblib", n_jobs=1)[0]
        predict = {"plain": time_predict(clf, X_val, None), "ten_crop": time_predict(clf, X_val, "ten_crop")}
        print(f"predict_proba: {predict['plain']:,.0f} member-images/s without views, "
              f"{predict['ten_crop']:,.0f} with ten-crop TTA", flush=True)

    # an older checkout (for the "before" figures) may lack nets.bfloat16_supported
    bf16 = getattr(nets, "bfloat16_supported", None)
    bf16_native = "unknown" if bf16 is None else "yes" if bf16("cpu") else "no (a bf16 row trains in float32)"
    header = [f"command: {shlex.join([sys.executable, *sys.argv])}",
              f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
              f"native bf16 on this CPU: {bf16_native}",
              f"setting: {args.members} SmallCNN members x {args.images:,} CIFAR-10 images x {args.epochs} epochs, "
              f"batch {BATCH}, SGD lr {LR} momentum {MOMENTUM}; validation: 1,000 held-out images"]
    lines = [*header, "",
             "| row | seconds | member-images/s | ours / torchensemble | n_jobs=2 / n_jobs=1 | val acc |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['row']} | {r['seconds']:.1f} | {r['member_images_per_s']:,.0f} | {_fmt(r['vs_torchensemble'])} "
              f"| {_fmt(r['vs_n_jobs_1'])} | {r['val_acc']:.3f} |" for r in rows]
    if "ours bfloat16 n_jobs=1" in by_name and "ours float32 n_jobs=1" in by_name:
        gap = by_name["ours bfloat16 n_jobs=1"]["val_acc"] - by_name["ours float32 n_jobs=1"]["val_acc"]
        lines += ["", f"bf16 - float32 validation accuracy: {100 * gap:+.1f} points"]
    if predict:
        ratio = None if args.ten_crop_before is None else predict["ten_crop"] / args.ten_crop_before
        lines += ["", "| predict_proba (float32 n_jobs=1 ensemble, 1,000 images) | member-images/s | vs before |",
                  "|---|---:|---:|",
                  f"| no views | {predict['plain']:,.0f} | - |",
                  f"| ten-crop TTA | {predict['ten_crop']:,.0f} | {_fmt(ratio)} |"]
    markdown = "\n".join(lines) + "\n"
    (args.out / "ensemble_train.md").write_text(markdown)
    (args.out / "ensemble_train.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "header": header, "rows": rows, "predict": predict},
        indent=1))
    print(markdown)
    return rows


if __name__ == "__main__":
    main()
