"""BatchNorm's inference statistics: last-epoch running average vs recomputed with the final weights.

Ioffe & Szegedy's Algorithm 2 computes the population mean and variance with the *trained*
network. An average collected during training mixes statistics of weights that kept moving;
with a large constant learning rate those no longer match the final weights. ``nets.fit`` now
recomputes them after training (``nets.recompute_population_statistics``); this script shows
what that is worth: SmallCNN on 10,000 CIFAR-10 training images (validation = the last 1,000
images of each class), constant and one-cycle learning rates, 2 and 8 epochs. Writes
``bn_population_statistics.md`` and ``.json`` to ``--out``.

    python examples/bn_population_statistics.py --cifar10 PATH   # PATH: default $AUGKIT_CIFAR10
"""
from __future__ import annotations

import argparse
import copy

import _report
import torch

from nets import SmallCNN, evaluate, fit


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_cifar10_argument(parser)
    parser.add_argument("--train-subset", type=int, default=10000, help="training images (default: %(default)s)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 8], help="schedule lengths (default: %(default)s)")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128], help="SmallCNN widths (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    _report.add_out_argument(parser, "bn_population_statistics")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train, val = _report.cifar10_split(_report.cifar10_folder(parser, args), args.train_subset, 0, val_per_class=1000)
    normalize = _report.channel_stats(train[0])
    rows = []
    for schedule in ("constant", "onecycle"):
        for epochs in args.epochs:
            torch.manual_seed(0)
            model = SmallCNN(widths=tuple(args.widths))
            snapshots = []  # the state at each epoch's end, before fit recomputes the statistics
            fit(model, train, epochs=epochs, batch_size=128, lr=0.05, momentum=0.9, lr_schedule=schedule,
                normalize=normalize, generator=0, verbose=0,
                on_epoch_end=lambda epoch, history, m=model, s=snapshots: s.append(copy.deepcopy(m.state_dict())))
            _, recomputed = evaluate(model, *val, normalize=normalize)
            running = copy.deepcopy(model)
            running.load_state_dict(snapshots[-1])
            _, averaged = evaluate(running, *val, normalize=normalize)
            rows.append([schedule, epochs, averaged, recomputed])
            print(f"{schedule}, {epochs} epochs: last-epoch running average {averaged:.4f}, recomputed {recomputed:.4f}",
                  flush=True)
    table = _report.markdown_table(["lr schedule", "epochs", "last-epoch running average", "recomputed (Algorithm 2)"],
                                   rows)
    results = {"args": args, "rows": [dict(zip(("schedule", "epochs", "running_average", "recomputed"), r)) for r in rows]}
    _report.write_report(args.out, "bn_population_statistics", table, results)
    return results


if __name__ == "__main__":
    main()
