"""Where BatchNorm goes, and the learning rate it allows: SmallCNN with BN before or after the ReLU, or none.

Two experiments on a CIFAR-10 training subset (validation: the last 100 images of each class,
never trained on), or on scikit-learn's digits with ``--data digits``:

* placement: ``nets.SmallCNN(bn_position="before")`` (conv -> BN -> ReLU, Ioffe & Szegedy's and
  the lecture's recommendation), ``bn_position="after"`` (conv -> ReLU -> BN) and no BatchNorm,
  trained identically (SGD, momentum 0.9, one-cycle schedule);
* learning rate: the same SmallCNN with BN (before) and without, trained on a random
  ``--sweep-size`` of the training images for ``--sweep-epochs`` at each constant learning rate of
  ``--lrs``. A run *trains* when its loss stays finite and it ends at least twice as accurate
  as chance on the validation images (20 % for 10 classes); reported is the largest lr that trains.

Writes ``batchnorm_placement.png`` (validation accuracy per epoch; final validation accuracy
against the learning rate), ``batchnorm_placement.md`` and ``.json``.

    python examples/lecture_batchnorm_placement.py --out docs/results/lecture/batchnorm_placement   # needs $AUGKIT_CIFAR10
"""
from __future__ import annotations

import argparse

import _report
import numpy as np
import torch

import nets

PLACEMENTS = {"BN before ReLU": {"bn_position": "before"}, "BN after ReLU": {"bn_position": "after"},
              "no BN": {"batch_norm": False}}
SWEPT = ("BN before ReLU", "no BN")  # the learning-rate sweep: with BatchNorm and without
TRAINS = 2 / 10  # validation accuracy of a run that trains: twice chance


def load(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[tuple, tuple]:
    """(X_train, y_train), (X_val, y_val) as uint8 N x C x H x W and int64 labels."""
    if args.data == "digits":
        return _report.digits_split(args.seed)
    return _report.cifar10_split(_report.cifar10_folder(parser, args), args.train_size, args.seed)


def train(config: dict, train_data: tuple, val_data: tuple | None, widths: tuple[int, ...], epochs: int, lr: float,
          schedule: str, seed: int) -> tuple[nets.History, bool]:
    """Train ``nets.SmallCNN(widths=widths, **config)``; returns its History (the epochs before a
    divergence, if any) and whether the loss became NaN/Inf."""
    X, _ = train_data
    torch.manual_seed(seed)
    model = nets.SmallCNN(tuple(X.shape[1:]), 10, widths=widths, **config)
    return _report.fit_or_diverge(model, train_data, val_data, epochs=epochs, batch_size=128, lr=lr, momentum=0.9,
                                  lr_schedule=schedule, normalize=_report.channel_stats(X), generator=seed, verbose=0)


def trains(history: nets.History, diverged: bool) -> bool:
    """Finite loss, and a last-epoch validation accuracy at least twice chance."""
    return not diverged and bool(history.val_acc) and history.val_acc[-1] >= TRAINS


def plot(placement: dict, sweep: dict, path, dpi: int, title: str) -> None:
    """Left: validation accuracy per epoch per placement. Right: final validation accuracy against lr."""
    plt = _report.pyplot()
    if plt is None:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, run in placement.items():
        ax1.plot(range(1, len(run["val_acc"]) + 1), run["val_acc"], "o-", label=name)
    ax1.set(xlabel="epoch", ylabel="validation accuracy", title="placement")
    ax1.legend(fontsize=8)
    for name, runs in sweep.items():
        lrs = [r["lr"] for r in runs]
        line, = ax2.plot(lrs, [0.0 if r["diverged"] else r["val_acc"] for r in runs], "o-", label=name)
        diverged = [r["lr"] for r in runs if r["diverged"]]
        ax2.plot(diverged, [0.0] * len(diverged), "x", color=line.get_color(), markersize=10)
    ax2.axhline(TRAINS, color="gray", linestyle=":", label="twice chance (trains above)")
    ax2.set(xscale="log", xlabel="learning rate (constant)", ylabel="final validation accuracy (x: diverged)",
            title="largest learning rate that trains")
    ax2.legend(fontsize=8)
    _report.save_figure(fig, path, dpi, title)


def main(argv: list[str] | None = None) -> dict:
    """Run the placements and the learning-rate sweep; returns what ``batchnorm_placement.json`` holds."""
    parser = _report.parser(__doc__)
    parser.add_argument("--data", choices=("cifar10", "digits"), default="cifar10", help="(default: %(default)s)")
    _report.add_cifar10_argument(parser)
    parser.add_argument("--train-size", type=int, default=3000, help="CIFAR-10 training images (default: %(default)s)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64], help="SmallCNN widths (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the placement runs (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.05, help="peak lr of the placement runs (default: %(default)s)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
                        help="constant learning rates of the sweep (default: %(default)s)")
    parser.add_argument("--sweep-size", type=int, default=1500, help="training images per sweep run (default: %(default)s)")
    parser.add_argument("--sweep-epochs", type=int, default=3, help="epochs per sweep run (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    _report.add_out_argument(parser, "batchnorm_placement")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_data, val_data = load(parser, args)
    widths = tuple(args.widths)

    placement, rows = {}, []
    for name, config in PLACEMENTS.items():
        history, diverged = train(config, train_data, val_data, widths, args.epochs, args.lr, "onecycle", args.seed)
        placement[name] = {**history.to_dict(), "diverged": diverged}
        rows.append([name, history.loss[-1], history.val_acc[-1], max(history.val_acc), sum(history.seconds)])
        print(f"{name}: validation accuracy {history.val_acc[-1]:.4f} after {len(history.loss)} epochs", flush=True)

    # a random subset: the CIFAR-10 training rows come in class order
    pick = np.sort(np.random.default_rng(args.seed).permutation(len(train_data[1]))[:args.sweep_size])
    sweep_data = (train_data[0][pick], train_data[1][pick])
    sweep: dict[str, list] = {}
    for name in SWEPT:
        sweep[name] = []
        for lr in sorted(args.lrs):
            history, diverged = train(PLACEMENTS[name], sweep_data, val_data, widths, args.sweep_epochs, lr, "constant",
                                      args.seed)
            sweep[name].append({"lr": lr, "loss": None if diverged else history.loss[-1],
                                "val_acc": None if diverged else history.val_acc[-1], "diverged": diverged,
                                "trains": trains(history, diverged)})
            print(f"{name}, lr {lr:g}: " + ("diverged" if diverged else
                                            f"training loss {history.loss[-1]:.3f}, val acc {history.val_acc[-1]:.3f}"),
                  flush=True)
    largest = {name: max((r["lr"] for r in runs if r["trains"]), default=None) for name, runs in sweep.items()}
    for name, lr in largest.items():
        print(f"{name}: largest learning rate that trains = {lr if lr is not None else 'none of ' + str(args.lrs)}")

    data = f"CIFAR-10 ({len(train_data[1])} training images)" if args.data == "cifar10" else "digits"
    caption = (f"SmallCNN{widths} on {data}, validation = {len(val_data[1])} held-out images; placement: "
               f"{args.epochs} epochs, one-cycle SGD to lr {args.lr:g}, momentum 0.9, batch 128")
    cells = lambda run: ("diverged", "diverged") if run["diverged"] else (run["loss"], run["val_acc"])
    sweep_rows = [[lr, *(cell for runs in sweep.values() for cell in cells(runs[k]))]
                  for k, lr in enumerate(sorted(args.lrs))]
    markdown = "\n\n".join([
        caption,
        _report.markdown_table(["placement", "final training loss", "val acc (final)", "val acc (best epoch)", "seconds"],
                               rows, floats=[".4f", ".4f", ".4f", ".4f", ".0f"]),
        f"Constant learning rate, {args.sweep_epochs} epochs on {len(sweep_data[1])} images: last epoch's training "
        f"loss and validation accuracy (trains: finite, and validation accuracy >= {TRAINS:g})",
        _report.markdown_table(["lr", *(f"{name}: {what}" for name in sweep for what in ("loss", "val acc"))], sweep_rows,
                               floats=["g"] + [".4f"] * 2 * len(sweep)),
        _report.markdown_table(["", *sweep], [["largest lr that trains", *(lr or "none" for lr in largest.values())]],
                               floats="g"),
    ])
    results = {"args": args, "placement": placement, "sweep": sweep, "largest_lr_that_trains": largest}
    _report.write_report(args.out, "batchnorm_placement", markdown, results)
    plot(placement, sweep, args.out / "batchnorm_placement.png", args.dpi, caption)
    return results


if __name__ == "__main__":
    main()
