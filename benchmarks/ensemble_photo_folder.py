"""Training a bagged ensemble straight from a folder of photos: BaggedNetClassifier beside torchensemble.

Every row trains ``--members`` members of the same network (``--member``: ``small`` is
nets.SmallCNN 16/32/64, the example's member; ``large`` is SmallCNN 32/64/128) for
``--epochs`` epochs on the training images of ``--data`` (an ImageFolder tree; the validation
split is every image whose sorted index within its class is a multiple of 5), with the same
pipeline: shorter side L ~ U[round(256 s / 224), round(480 s / 224)], a random s x s crop
(``--size`` s, ResNet's scale augmentation), a horizontal flip; batch 64, SGD lr 0.05,
momentum 0.9, weight decay 5e-4; ``--workers`` DataLoader workers; torch on every core.

* ``ours``: ``BaggedNetClassifier`` fed the file paths: each image decoded and scale-cropped
  once per epoch on the workers (:func:`augkit.data.decode_scale_crop`), each batch training
  every member in turn; ``bagging`` (the Poisson bootstrap: each member forwards only the rows
  of its bag, weighted) and ``full`` (``bootstrap=False``: every member trains on every
  image, as torchensemble's VotingClassifier does); float32 and bfloat16 (native bf16 on
  AVX512-BF16/AMX CPUs, else float32 with a warning: the header says which). No early
  stopping; the fit includes the pre-scan of the files, the normalisation statistics,
  BatchNorm's statistics and the out-of-bag scoring.
* ``torchensemble``: its ``VotingClassifier`` and ``BaggingClassifier`` of the same network
  class, fed torchvision's ``ImageFolder`` (Pillow decode) with the v2 transforms
  ``RandomShortestSize(range(lo, hi + 1))``, ``RandomCrop(s)``, ``RandomHorizontalFlip``,
  ``ToImage``, ``ToDtype(float32, scale=True)``, ``Normalize``: its members iterate the
  DataLoader one after another, so every image is decoded once per member and epoch.

Measured per row, each in a fresh process, the rows run ``--repeats`` times (in reverse order
the second time) and the fastest run kept: wall seconds of ``fit``; member-images/s =
members x training images x epochs / seconds; ours / torchensemble (bagging against
BaggingClassifier, full against VotingClassifier, each in float32); the same over the epochs
alone (ours without its one-off passes: the normalisation statistics, BatchNorm's population
statistics, the out-of-bag scoring; torchensemble's fit is all epochs); the process's peak RSS
(its DataLoader workers' peak beside it); validation accuracy (centre crop after resizing
the shorter side to L's lower bound). ``--rss`` adds the peak RSS of one of our fits on the
folder against the same folder linked ``--copies`` times (symbolic links in a temporary
folder: as many files, no more disk), training on the same number of images (a fraction of
an epoch of the larger folder) and scoring all its out-of-bag rows.

``--engines`` adds why a stream's members train in a loop: member-images/s of training steps on
random uint8 batches (no decoding) of the members trained one after another (the loop) and
stacked into one model (``vmap``, grouped convolutions), float32 and bfloat16.

Run it with ``python`` in the comparison environment (built by
``../shared/tools/comparison-venv.sh``, which has torchensemble and torchvision); it prints one
table with its command and machine, and writes ``ensemble_photo_folder.md`` and ``.json`` to ``--out``:

    PYTHONPATH=$PWD python benchmarks/ensemble_photo_folder.py \\
        --data ../shared/data/flowers/train --out docs/ensemble_photo_folder
    ... --member large --rss          # the larger member, and the peak-RSS comparison
    ... --images 600 --epochs 1       # a quick run
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ensemble_train import cpu_name  # this folder is on sys.path when a script here runs

import augkit as A
import nets
from augkit.data.folder import every_kth_per_class, scan_image_folder
from ensemble import BaggedNetClassifier

MEMBERS = {"small": (16, 32, 64), "large": (32, 64, 128)}
ROWS = ("ours bagging float32", "ours full float32", "ours bagging bfloat16", "ours full bfloat16",
        "torchensemble BaggingClassifier float32", "torchensemble VotingClassifier float32")
BATCH, LR, MOMENTUM, DECAY = 64, 0.05, 0.9, 5e-4


def split(data: Path, images: int | None, seed: int = 0) -> tuple[list[str], np.ndarray, list[str], np.ndarray, list]:
    """(training paths, labels, validation paths, labels, classes): validation = every image whose
    sorted index within its class is a multiple of 5; ``images`` keeps a seeded random subset of
    the training images."""
    classes, paths, labels = scan_image_folder(data)
    train, val = every_kth_per_class(labels, 5)
    if images is not None and images < len(train):
        train = np.sort(np.random.default_rng(seed).choice(train, images, replace=False))
    paths = np.asarray(paths)
    return list(paths[train]), labels[train], list(paths[val]), labels[val], classes


def scale(size: int) -> tuple[int, int]:
    """ResNet's training range of shorter sides, [256, 480] for a 224 crop, scaled to ``size``."""
    return round(256 * size / 224), round(480 * size / 224)


def member(widths, size: int, n_classes: int) -> torch.nn.Module:
    return nets.SmallCNN(input_shape=(3, size, size), n_classes=n_classes, widths=widths)


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child (MiB, Linux KiB units)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


# ----------------------------------------------------------------------------- one row, in its own process
def run_ours(cfg: dict, train, y, val, y_val) -> dict:
    size = cfg["size"]
    clf = BaggedNetClassifier(
        member=lambda input_shape, n_classes: nets.SmallCNN(input_shape=input_shape, n_classes=n_classes,
                                                            widths=tuple(cfg["widths"])),
        n_members=cfg["members"], epochs=cfg["epochs"], batch_size=BATCH, lr=LR, momentum=MOMENTUM,
        weight_decay=DECAY, augment=A.Compose([A.RandomScaleCrop(size, scale(size)), A.HorizontalFlip()]),
        bootstrap=cfg["bootstrap"], precision=cfg["precision"], early_stopping=False, num_workers=cfg["workers"],
        random_state=0, verbose=0)
    start = time.perf_counter()
    clf.fit(train, y)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "train_seconds": sum(clf.histories_[0]["seconds"]),  # the epochs, all members
            "val_acc": float(clf.score(val, y_val)) if val else None}


def run_torchensemble(cfg: dict, train, y, val, y_val) -> dict:
    from torchensemble import BaggingClassifier, VotingClassifier
    from torchvision.datasets.folder import default_loader
    from torchvision.transforms import v2

    size, (lo, hi) = cfg["size"], scale(cfg["size"])
    normalize = v2.Normalize((0.46, 0.42, 0.30), (0.29, 0.26, 0.28))  # about the flowers' channel statistics
    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), normalize]
    train_tf = v2.Compose([v2.RandomShortestSize(min_size=list(range(lo, hi + 1))), v2.RandomCrop(size),
                           v2.RandomHorizontalFlip(), *tail])
    val_tf = v2.Compose([v2.Resize(lo), v2.CenterCrop(size), *tail])

    class Files(torch.utils.data.Dataset):  # ImageFolder's loader and transforms over a list of files
        def __init__(self, paths, labels, transform):
            self.paths, self.labels, self.transform = paths, labels, transform

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            return self.transform(default_loader(self.paths[i])), int(self.labels[i])

    loader = torch.utils.data.DataLoader(Files(train, y, train_tf), batch_size=BATCH, shuffle=True,
                                         num_workers=cfg["workers"])
    kind = BaggingClassifier if cfg["row"].startswith("torchensemble Bagging") else VotingClassifier
    torch.manual_seed(0)
    model = kind(estimator=nets.SmallCNN, n_estimators=cfg["members"], cuda=False, n_jobs=1,
                 estimator_args={"input_shape": (3, size, size), "n_classes": int(y.max()) + 1,
                                 "widths": tuple(cfg["widths"])})
    model.set_optimizer("SGD", lr=LR, momentum=MOMENTUM, weight_decay=DECAY)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # a progress line per member and epoch
        model.fit(loader, epochs=cfg["epochs"], log_interval=10**9, save_model=False)
    seconds = time.perf_counter() - start
    val_acc = None
    if val:
        model.eval()  # its fit leaves the estimators in training mode
        correct = 0
        with torch.no_grad():
            for x, t in torch.utils.data.DataLoader(Files(val, y_val, val_tf), batch_size=128,
                                                    num_workers=cfg["workers"]):
                correct += int((model(x).argmax(1) == t).sum())
        val_acc = correct / len(val)
    return {"seconds": seconds, "train_seconds": seconds, "val_acc": val_acc}


def engine_steps(widths, size: int, members: int, steps: int = 6) -> list[dict]:
    """Member-images/s of training steps (batch 64, random uint8 images) for the loop over members
    and the stacked strategies, float32 and bfloat16 (the timed steps follow 2 warm-up steps)."""
    from ensemble.engine.vectorized import StackedMembers
    from nets.batches import set_memory_format, to_float_batch
    from nets.loop import SingleModel
    from nets.step import TrainStep

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (BATCH, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 5, (BATCH,), generator=g)
    out = []
    for precision in ("float32", "bfloat16"):
        config = nets.TrainConfig(batch_size=BATCH, lr=LR, momentum=MOMENTUM, verbose=0, precision=precision,
                                  normalize=((0.5,) * 3, (0.25,) * 3))
        for engine in ("loop", "vmap", "grouped"):
            models = [member(widths, size, 5) for _ in range(members)]
            fmt = torch.contiguous_format
            for model in models:
                fmt = set_memory_format(model, True)
                model.train()
            if engine == "loop":
                singles = [SingleModel(m, fmt) for m in models]
                trainers = [TrainStep(config, s.forward, *s.parameter_groups(), 1, 5, 100, precision, fmt)
                            for s in singles]
                run = lambda trainers=trainers: [t(x, y[None], g) for t in trainers]
            else:
                stacked = StackedMembers(models, engine, fmt, to_float_batch(x[:4], memory_format=fmt))
                stacked.train(True)
                trainer = TrainStep(config, stacked.forward, *stacked.parameter_groups(), members, 5, 100, precision,
                                    fmt)
                xs, ys = x.repeat(members, 1, 1, 1), y.repeat(members, 1)
                run = lambda trainer=trainer, xs=xs, ys=ys: trainer(xs, ys, g)
            for _ in range(2):
                run()
            start = time.perf_counter()
            for _ in range(steps):
                run()
            rate = members * BATCH * steps / (time.perf_counter() - start)
            out.append({"engine": engine, "precision": precision, "member_images_per_s": rate})
            print(f"steps, {engine} {precision}: {rate:,.0f} member-images/s", flush=True)
    return out


def linked_copies(data: Path, copies: int, into: Path) -> Path:
    """``data`` linked ``copies`` times: into/<class>/<copy>_<name> symbolic links to its files."""
    classes, paths, labels = scan_image_folder(data)
    for path, label in zip(paths, labels):
        folder = into / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        for c in range(copies):
            (folder / f"{c:02d}_{Path(path).name}").symlink_to(Path(path).resolve())
    return into


def run_rss(cfg: dict) -> dict:
    """One of our fits on ``cfg["folder"]`` training on ``cfg["train_images"]`` images in all (float32)."""
    folder = Path(cfg["folder"])
    n = len(scan_image_folder(folder)[1])
    clf = BaggedNetClassifier(
        member=lambda input_shape, n_classes: nets.SmallCNN(input_shape=input_shape, n_classes=n_classes,
                                                            widths=tuple(cfg["widths"])),
        n_members=cfg["members"], epochs=cfg["train_images"] / n, batch_size=BATCH, lr=LR, momentum=MOMENTUM,
        weight_decay=DECAY, augment=A.Compose([A.RandomScaleCrop(cfg["size"], scale(cfg["size"])), A.HorizontalFlip()]),
        early_stopping=False, num_workers=cfg["workers"], random_state=0, verbose=0)
    start = time.perf_counter()
    clf.fit(folder)
    return {"seconds": time.perf_counter() - start, "files": n}


def one_row(cfg: dict) -> dict:
    torch.set_num_threads(cfg["threads"])
    if cfg["row"].startswith("rss"):
        result = run_rss(cfg)
    else:
        train, y, val, y_val, _ = split(Path(cfg["data"]), cfg["images"])
        val = val if cfg["validate"] else []
        runner = run_torchensemble if cfg["row"].startswith("torchensemble") else run_ours
        result = runner(cfg, train, y, val, y_val)
    result["peak_rss_mib"], result["worker_peak_rss_mib"] = peak_rss_mib()
    return result


def in_fresh_process(cfg: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, __file__, "--one-row", json.dumps(cfg)], capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        raise RuntimeError(f"row {cfg['row']!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the table
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--data", type=Path, help="ImageFolder tree of photos (e.g. ../shared/data/flowers/train)")
    parser.add_argument("--member", choices=tuple(MEMBERS), default="small", help="network (default: %(default)s)")
    parser.add_argument("--size", type=int, default=64, help="crop side s, the example's (default: %(default)s)")
    parser.add_argument("--members", type=int, default=4, help="ensemble members (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default: %(default)s)")
    parser.add_argument("--images", type=int, default=None, help="train on a random subset of this many images")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows (default: all)")
    parser.add_argument("--no-validate", dest="validate", action="store_false", help="skip the validation accuracy")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of every row, alternating the order; the fastest is kept (default: %(default)s)")
    parser.add_argument("--engines", action="store_true", help="also the training steps of the loop and stacked engines")
    parser.add_argument("--rss", action="store_true", help="also the peak RSS on the folder and on its linked copies")
    parser.add_argument("--copies", type=int, default=10, help="copies of the folder for --rss (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("augkit-out/ensemble_photo_folder"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--one-row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_row:
        print(json.dumps(one_row(json.loads(args.one_row))))
        return {}
    if args.data is None or not args.data.is_dir():
        parser.error(f"--data must name an ImageFolder tree of photos, got {args.data}")
    rows = [r for r in args.rows.split(",") if r]
    if not set(rows) <= set(ROWS):
        parser.error(f"--rows must name rows among {', '.join(ROWS)}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    train, *_ = split(args.data, args.images)
    base = {"data": str(args.data), "images": args.images, "size": args.size, "members": args.members,
            "epochs": args.epochs, "workers": args.workers, "widths": MEMBERS[args.member], "validate": args.validate,
            "threads": torch.get_num_threads()}
    work = args.members * len(train) * args.epochs
    best: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for row in rows if repeat % 2 == 0 else rows[::-1]:
            cfg = {**base, "row": row, "bootstrap": " bagging " in f" {row} " or "Bagging" in row,
                   "precision": "bfloat16" if row.endswith("bfloat16") else "float32"}
            result = {"row": row, **in_fresh_process(cfg)}
            result["member_images_per_s"] = work / result["seconds"]
            result["training_member_images_per_s"] = work / result["train_seconds"]
            result["runs_seconds"] = [*best.get(row, {}).get("runs_seconds", []), result["seconds"]]
            if row not in best or result["seconds"] < best[row]["seconds"]:
                best[row] = result
            best[row]["runs_seconds"] = result["runs_seconds"]  # every run's seconds, beside the fastest's figures
            print(f"{row}: {result['seconds']:.1f} s, {result['member_images_per_s']:,.1f} member-images/s, "
                  f"peak RSS {result['peak_rss_mib']:,.0f} MiB", flush=True)
    results = [best[row] for row in rows]
    by_row = {r["row"]: r for r in results}
    for r in results:
        reference = by_row.get("torchensemble BaggingClassifier float32" if " bagging " in f" {r['row']} "
                               else "torchensemble VotingClassifier float32")
        ours = r["row"].startswith("ours") and reference
        r["vs_torchensemble"] = r["member_images_per_s"] / reference["member_images_per_s"] if ours else None
        r["training_vs_torchensemble"] = (r["training_member_images_per_s"] / reference["training_member_images_per_s"]
                                          if ours else None)
    rss = []
    if args.rss:
        with tempfile.TemporaryDirectory() as tmp:
            linked = linked_copies(args.data, args.copies, Path(tmp) / "linked")
            n = len(scan_image_folder(args.data)[1])
            for label, folder in (("the folder", args.data), (f"linked {args.copies}x", linked)):
                cfg = {**base, "row": f"rss {label}", "folder": str(folder), "train_images": n}
                rss.append({"row": label, **in_fresh_process(cfg)})
                print(f"peak RSS, {label} ({rss[-1]['files']:,} files): {rss[-1]['peak_rss_mib']:,.0f} MiB", flush=True)
    engines = engine_steps(MEMBERS[args.member], args.size, args.members) if args.engines else []
    bf16 = "yes" if nets.bfloat16_supported("cpu") else "no (bf16 rows train in float32)"
    header = [f"command: {shlex.join(['python', *sys.argv])}",
              f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({base['threads']} threads), "
              f"native bf16: {bf16}",
              f"setting: {args.members} x SmallCNN {'/'.join(map(str, MEMBERS[args.member]))} at {args.size} px "
              f"(L in {list(scale(args.size))}), {len(train):,} training images x {args.epochs} epochs, batch {BATCH}, "
              f"{args.workers} DataLoader workers"]
    acc = lambda v: "-" if v is None else f"{v:.3f}"
    ratio = lambda v: "-" if v is None else f"{v:.2f}x"
    lines = [*header]
    if results:
        lines += ["", "| row | fit s | member-images/s | ours / torchensemble | epochs only: member-images/s "
                      "| ours / torchensemble | peak RSS MiB (workers) | val acc |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['row']} | {r['seconds']:.1f} (runs: {', '.join(f'{s:.1f}' for s in r['runs_seconds'])}) "
              f"| {r['member_images_per_s']:,.1f} | {ratio(r['vs_torchensemble'])} "
              f"| {r['training_member_images_per_s']:,.1f} | {ratio(r['training_vs_torchensemble'])} "
              f"| {r['peak_rss_mib']:,.0f} ({r['worker_peak_rss_mib']:,.0f}) | {acc(r['val_acc'])} |" for r in results]
    if rss:
        growth = rss[1]["peak_rss_mib"] / rss[0]["peak_rss_mib"] - 1
        lines += ["", "| one fit (float32, same images trained) | files | fit s | peak RSS MiB (workers) |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {r['row']} | {r['files']:,} | {r['seconds']:.1f} | {r['peak_rss_mib']:,.0f} "
                  f"({r['worker_peak_rss_mib']:,.0f}) |" for r in rss]
        lines += ["", f"peak RSS, {args.copies}x the files: {100 * growth:+.1f}%"]
    if engines:
        lines += ["", f"| training steps, {args.members} members, batch {BATCH} | float32 member-images/s "
                      "| bfloat16 member-images/s |", "|---|---:|---:|"]
        rate = {(e["engine"], e["precision"]): e["member_images_per_s"] for e in engines}
        lines += [f"| {engine} | {rate[engine, 'float32']:,.0f} | {rate[engine, 'bfloat16']:,.0f} |"
                  for engine in ("loop", "vmap", "grouped")]
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ensemble_photo_folder.md").write_text(markdown)
    data = {"args": {k: str(v) for k, v in vars(args).items()}, "header": header, "rows": results, "rss": rss,
            "engines": engines}
    (args.out / "ensemble_photo_folder.json").write_text(json.dumps(data, indent=1))
    print(markdown)
    return data


if __name__ == "__main__":
    main()
