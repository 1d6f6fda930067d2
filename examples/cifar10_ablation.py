"""Regularisation ablation on CIFAR-10: SmallCNN under a fixed time budget, one switch off per row.

Rows: the full recipe (RandomScaleCrop(32, (32, 40)) + horizontal flip + PCA lighting,
dropout before the head, BatchNorm, weight decay), then the recipe without augmentation,
without dropout, without BatchNorm, without weight decay, and with no regularisation at all.
Validation = the last 1,000 images of each class (in file order). Every run trains on
``--threads`` CPU threads (default 2) for ``--budget`` seconds; the one-cycle schedule is
sized to the number of epochs a short timing run says fit in the budget. Writes
``cifar10_ablation.md`` and ``.json`` to ``--out``.

    python examples/cifar10_ablation.py --cifar10 PATH --budget 600     # PATH: default $AUGKIT_CIFAR10
    python examples/cifar10_ablation.py --budget 10 --train-subset 2000   # smoke test
"""
from __future__ import annotations

import argparse
import math
import time

import _report
import torch

import augkit as A
from nets import SmallCNN, evaluate, fit

RECIPE = {"augment": True, "dropout": 0.7, "batch_norm": True, "weight_decay": 5e-4}
ROWS = {
    "full recipe": {},
    "no augmentation": {"augment": False},
    "no dropout": {"dropout": None},
    "no BatchNorm": {"batch_norm": False},
    "no weight decay": {"weight_decay": 0.0},
    "no regularisation": {"augment": False, "dropout": None, "batch_norm": False, "weight_decay": 0.0},
}


def load_split(folder, train_subset: int | None, seed: int):
    """uint8 N x 3 x 32 x 32 train/val tensors and int64 labels; val = the last 1,000 of each class."""
    train, val = _report.cifar10_split(folder, train_subset, seed, val_per_class=1000)
    return tuple(map(torch.as_tensor, train)), tuple(map(torch.as_tensor, val))


def run(config: dict, train, val, pipeline, normalize, budget: float, seed: int, epochs: int) -> dict:
    torch.manual_seed(seed)
    model = SmallCNN(widths=config["widths"], p_keep=config["dropout"], batch_norm=config["batch_norm"])
    start = time.perf_counter()
    history = fit(model, train, val, epochs=epochs, batch_size=128, lr=0.05, momentum=0.9, nesterov=True,
                  weight_decay=config["weight_decay"], augment=pipeline if config["augment"] else None,
                  normalize=normalize, lr_schedule="onecycle", time_budget=budget, generator=seed, verbose=1)
    return {"val_acc": history.val_acc[-1], "best_val_acc": max(history.val_acc),
            "epochs": len(history.loss), "seconds": time.perf_counter() - start}


def epochs_for_budget(train, val, pipeline, normalize, budget: float, seed: int, widths: tuple[int, ...]) -> int:
    """Epochs of the full recipe that fit in ``budget`` seconds: training and the per-epoch
    validation pass, timed on 1,024 images each and scaled to the split sizes."""
    X, y = train
    probe = (X[:1024], y[:1024])
    torch.manual_seed(seed)
    fit(SmallCNN(widths=widths, p_keep=RECIPE["dropout"]), probe, epochs=1, augment=pipeline, normalize=normalize,
        generator=seed, verbose=0)  # warm-up: first-call imports and allocations
    model = SmallCNN(widths=widths, p_keep=RECIPE["dropout"])
    start = time.perf_counter()
    fit(model, probe, epochs=1, augment=pipeline, normalize=normalize, generator=seed, verbose=0)
    train_seconds = (time.perf_counter() - start) * len(X) / len(probe[0])
    start = time.perf_counter()
    evaluate(model, val[0][:1024], val[1][:1024], normalize=normalize)
    val_seconds = (time.perf_counter() - start) * len(val[0]) / min(len(val[0]), 1024)
    return max(1, math.floor(budget / (train_seconds + val_seconds)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of training per row")
    parser.add_argument("--train-subset", type=int, default=None, help="train on this many random images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None,
                        help="length of the one-cycle schedule; default: what a short timing run says fits the budget")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128], help="SmallCNN block widths")
    parser.add_argument("--seed", type=int, default=0)
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "cifar10_ablation")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train, val = load_split(_report.cifar10_folder(parser, args), args.train_subset, args.seed)
    normalize = _report.channel_stats(train[0])
    pipeline = A.Compose([
        A.RandomScaleCrop(size=32, scale=(32, 40)),
        A.HorizontalFlip(p=0.5),
        A.PCALighting.fit(train[0], sigma=0.1),
    ])
    widths = tuple(args.widths)
    epochs = args.epochs or epochs_for_budget(train, val, pipeline, normalize, args.budget, args.seed, widths)
    print(f"{len(train[1])} training / {len(val[1])} validation images; one-cycle over {epochs} epochs")

    results = {}
    for name, change in ROWS.items():
        results[name] = run({**RECIPE, "widths": widths, **change}, train, val, pipeline, normalize, args.budget,
                            args.seed, epochs)
        print(f"{name}: {results[name]}")

    caption = (f"SmallCNN{widths} on CIFAR-10, {args.budget:g} s per row on {args.threads} threads, "
               f"{len(train[1])} training images, validation = last 1,000 per class")
    table = _report.markdown_table(["setting", "val acc (final)", "val acc (best epoch)", "epochs", "seconds"],
                                   [[name, r["val_acc"], r["best_val_acc"], r["epochs"], r["seconds"]]
                                    for name, r in results.items()], floats=[".4f", ".4f", ".4f", "", ".0f"])
    _report.write_report(args.out, "cifar10_ablation", caption + "\n\n" + table,
                         {"args": args, "epochs": epochs, "results": results})


if __name__ == "__main__":
    main()
