"""A bagged ensemble trained straight from a folder of photos: one member against k members, centre crop and ten-crop.

``--data`` is an ImageFolder tree of photos of any size (one sub-folder per class). The
validation set is every image whose sorted index within its class is a multiple of 5; the
networks never train on it. Both models stream the photos from disk: DataLoader workers
decode each photo and take ResNet's scale augmentation on it (shorter side L ~ U[round(256 s
/ 224), round(480 s / 224)], a random s x s crop), then each batch is flipped and lit (AlexNet's
PCA lighting, its eigenpairs from training crops) and trains every member: the ensemble decodes
each photo once per epoch for all its members, which are bagged by the Poisson bootstrap.

Rows: one member trained on every training photo, and a ``--members``-member bagged ensemble,
each evaluated on the centre crop (shorter side resized to the lower bound of L) and with
ten-crop views, by accuracy, NLL and ECE; the plot shows the ensemble's accuracy against its
number of members (the first k of them). Writes ``photo_folder_ensemble.md``, ``.json`` and
``.png`` to ``--out``.

The defaults train SmallCNN 16/32/64 on 64 x 64 crops (shorter sides 73..137), bf16 where the
CPU runs it natively, 30 epochs, 4 members: a 2-core user gets the ensemble in well under 20
minutes. Why that size: one member trained 12 epochs on the flowers folder reached the same
validation accuracy at 64 px as at 112 px (71.6% and 69.8%, centre crop) and as a wider
SmallCNN 32/64/128 at 64 px (71.6%), in 0.63x and 0.67x of their times; at 64 px the
decoding is a large share of the cost, which the ensemble pays once for all its members.

    python examples/photo_folder_ensemble.py --data ../shared/data/flowers/train
    python examples/photo_folder_ensemble.py --data PATH --epochs 2 --members 2 --limit 300   # quick look
"""
from __future__ import annotations

import argparse
import functools
import itertools
import time
from pathlib import Path

import _report
import numpy as np
import torch

import augkit as A
import nets
from augkit.data import ImageFolderStream, ScaleCropLoader
from augkit.data.folder import every_kth_per_class, scan_image_folder
from ensemble import BaggedNetClassifier, metrics, vote

VIEWS = {"centre crop": None, "ten-crop": "ten_crop"}  # the evaluations, by their augkit.tta modes


def build_parser() -> argparse.ArgumentParser:
    parser = _report.parser(__doc__)
    parser.add_argument("--data", type=Path, default=None, help="ImageFolder tree of photos (required)")
    parser.add_argument("--members", type=int, default=4, help="members of the ensemble (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each model (default: %(default)s)")
    parser.add_argument("--size", type=int, default=64, help="crop side s in pixels (default: %(default)s)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64],
                        help="SmallCNN block widths (default: %(default)s)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                        help="auto: bfloat16 where the CPU runs it natively (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers decoding photos (default: a quarter of the cores, at least 1)")
    parser.add_argument("--limit", type=int, default=None, help="train on a random subset of this many photos")
    parser.add_argument("--seed", type=int, default=0, help="random_state of everything (default: %(default)s)")
    _report.add_out_argument(parser, "photo_folder_ensemble")
    return parser


def pipeline(data: Path, train: np.ndarray, size: int, workers: int | None, seed: int) -> A.Compose:
    """ResNet's scale-and-crop, a flip, and PCA lighting fitted on 256 training crops."""
    crop = A.RandomScaleCrop(size, (round(256 * size / 224), round(480 * size / 224)))
    stream = ImageFolderStream(data, loader=ScaleCropLoader(crop.size, crop.scale), seed=seed)
    sample = torch.utils.data.Subset(stream, train[np.linspace(0, len(train) - 1, min(256, len(train))).astype(int)])
    batches = torch.utils.data.DataLoader(sample, batch_size=64, num_workers=1 if workers is None else workers)
    lighting = A.PCALighting.fit((images for images, _ in itertools.islice(batches, 4)), sigma=0.1)
    return A.Compose([crop, A.HorizontalFlip(p=0.5), lighting])


def scores(proba: np.ndarray, y: np.ndarray) -> dict:
    return {"accuracy": float((proba.argmax(1) == y).mean()), "nll": metrics.nll(proba, y), "ece": metrics.ece(proba, y)}


def evaluate(clf: BaggedNetClassifier, val: list[str], y: np.ndarray) -> tuple[dict, dict]:
    """Per view: the ensemble's scores, and its accuracy with its first k members, k = 1 .. M."""
    results, curves = {}, {}
    for name, tta in VIEWS.items():
        start = time.perf_counter()
        probas = clf.member_probas(val, tta=tta)  # M x N x K, each photo decoded once for all views and members
        results[name] = {**scores(vote(probas).numpy(), y), "seconds": time.perf_counter() - start}
        curves[name] = [float((vote(probas[:k]).numpy().argmax(1) == y).mean()) for k in range(1, len(probas) + 1)]
    return results, curves


def plot(out: Path, curves: dict, single: dict, title: str) -> Path | None:
    plt = _report.pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for (name, curve), color in zip(curves.items(), ("C0", "C1")):
        ax.plot(range(1, len(curve) + 1), curve, "o-", color=color, label=f"ensemble, {name}")
        ax.axhline(single[name]["accuracy"], color=color, ls=":", label=f"one member (all photos), {name}")
    ax.set(xlabel="members (the first k of the ensemble)", ylabel="validation accuracy")
    ax.legend(fontsize=7)
    return _report.save_figure(fig, out / "photo_folder_ensemble.png", title=title)


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data is None or not args.data.is_dir():
        parser.error(f"--data must name an ImageFolder tree of photos (one sub-folder per class), got {args.data}")
    for name in ("members", "epochs", "size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be at least 0 (0: decode in the main process), got {args.workers}")
    classes, paths, labels = scan_image_folder(args.data)
    train, val = every_kth_per_class(labels, 5)
    if args.limit is not None:
        train = np.sort(np.random.default_rng(args.seed).permutation(train)[: args.limit])
    paths = np.asarray(paths)
    precision = args.precision
    if precision == "auto":
        precision = "bfloat16" if nets.bfloat16_supported("cpu") else "float32"
    augment = pipeline(args.data, train, args.size, args.workers, args.seed)
    member = functools.partial(nets.SmallCNN, widths=tuple(args.widths))
    common = dict(member=member, epochs=args.epochs, batch_size=64, lr=0.1, momentum=0.9, weight_decay=5e-4,
                  lr_schedule="onecycle", augment=augment, precision=precision, early_stopping=False,
                  num_workers=args.workers, random_state=args.seed, verbose=1)
    print(f"{len(train)} training and {len(val)} validation photos in {len(classes)} classes from {args.data}; "
          f"SmallCNN {'/'.join(map(str, args.widths))} on {args.size} x {args.size} crops, {precision}")
    models = {"one member": BaggedNetClassifier(n_members=1, bootstrap=False, **common),
              f"{args.members}-member bagged ensemble": BaggedNetClassifier(n_members=args.members, **common)}
    rows, curves = {}, {}
    val_paths, y_val = list(paths[val]), labels[val]
    for name, clf in models.items():
        start = time.perf_counter()
        clf.fit(list(paths[train]), labels[train])
        seconds = time.perf_counter() - start
        rows[name], curves[name] = evaluate(clf, val_paths, y_val)
        rows[name]["train_seconds"] = seconds
        rows[name]["oob_score"] = getattr(clf, "oob_score_", None)
    ensemble_name = list(models)[-1]
    table = _report.markdown_table(
        ["model", "view", "accuracy", "NLL", "ECE", "train s", "OOB score"],
        [[name, view, r[view]["accuracy"], r[view]["nll"], r[view]["ece"], r["train_seconds"], r["oob_score"]]
         for name, r in rows.items() for view in VIEWS],
        floats=[".4f", ".4f", ".4f", ".4f", ".4f", ".0f", ".4f"])
    curve_table = _report.markdown_table(
        ["members", *(f"accuracy, {view}" for view in VIEWS)],
        [[k + 1, *(curves[ensemble_name][view][k] for view in VIEWS)] for k in range(args.members)])
    setting = (f"{args.data}: {len(train)} training / {len(val)} validation photos, {len(classes)} classes; SmallCNN "
               f"{'/'.join(map(str, args.widths))}, {args.size} px crops from shorter sides "
               f"{augment[0].scale[0]}..{augment[0].scale[1]}, flip, PCA lighting; {args.epochs} epochs one-cycle SGD "
               f"(lr 0.1, batch 64), {precision}, {torch.get_num_threads()} torch threads in all, "
               f"{'the default number of' if args.workers is None else args.workers} loader workers")
    figure = plot(args.out, curves[ensemble_name], rows["one member"], setting)
    markdown = "\n".join(["# Bagged ensemble from a photo folder", "", setting, "", table, "",
                          "Accuracy against the number of members (the ensemble's first k):", "", curve_table, "",
                          f"![accuracy vs members]({figure.name})" if figure else ""])
    data = {"args": args, "setting": setting, "rows": rows, "curves": curves[ensemble_name]}
    _report.write_report(args.out, "photo_folder_ensemble", markdown, data)
    return data


if __name__ == "__main__":
    main()
