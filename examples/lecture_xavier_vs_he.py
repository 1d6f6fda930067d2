"""Xavier against He on deep plain ReLU networks (He et al. 2015, Figures 2 and 3), on digits.

Plain MLPs with ``--depths`` weight layers (default 22 and 30: 21 or 29 hidden ReLU layers of
``--width`` units and the Linear head), no BatchNorm, no residuals, trained on scikit-learn's
digits with the same SGD (momentum 0.9) and learning rate from two initialisations:
Xavier in the lecture's form Var(W) = 1/n and He's Var(W) = 2/n. With 1/n each ReLU layer
halves the signal's second moment, so 29 hidden layers shrink it by 2^-29 and the gradients
with it; 2/n keeps it. A run *converges* when its training loss falls below half of log 10
(the loss of a uniform guess); it *stalls* while the loss stays within 1 % of log 10.

Writes ``xavier_vs_he.png`` (training loss against steps), ``xavier_vs_he.md`` and ``.json``.

    python examples/lecture_xavier_vs_he.py --out docs/results/lecture/xavier_vs_he
"""
from __future__ import annotations

import math

import _report
import torch

import nets

SCHEMES = {"Xavier (1/n)": "xavier", "He (2/n)": "he"}
CHANCE = math.log(10)  # cross-entropy of the uniform guess over 10 classes


def train(depth: int, init: str, data: tuple, width: int, epochs: int, lr: float, batch_size: int,
          seed: int) -> tuple[nets.History, bool]:
    """Train a plain ReLU MLP of ``depth`` weight layers from ``init`` on ``data`` = (uint8 images, labels).

    Returns the History (the epochs before a divergence, if any) and whether the loss diverged.
    """
    X, _ = data
    torch.manual_seed(seed)
    model = nets.MLP(tuple(X.shape[1:]), 10, widths=(width,) * (depth - 1), init=init)
    return _report.fit_or_diverge(model, data, epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9,
                                  normalize=_report.channel_stats(X), generator=seed, verbose=0)


def first_step_below(loss: list[float], threshold: float, steps_per_epoch: int) -> int | None:
    """Training steps until the end of the first epoch whose loss is below ``threshold`` (None: never)."""
    return next(((epoch + 1) * steps_per_epoch for epoch, value in enumerate(loss) if value < threshold), None)


def verdict(loss: list[float], diverged: bool) -> str:
    """"diverges", "converges" (loss < log 10 / 2), "stalls" (loss within 1 % of log 10) or "learns slowly"."""
    if diverged:
        return "diverges"
    if loss[-1] < CHANCE / 2:
        return "converges"
    return "stalls" if loss[-1] > 0.99 * CHANCE else "learns slowly"


def plot(runs: dict, steps_per_epoch: int, path, dpi: int, title: str) -> None:
    """Training loss against steps, one panel per depth, one line per initialisation."""
    plt = _report.pyplot()
    if plt is None:
        return
    depths = sorted({r["depth"] for r in runs.values()})
    fig, axes = plt.subplots(1, len(depths), figsize=(4.6 * len(depths), 3.5), squeeze=False)
    for ax, depth in zip(axes[0], depths):
        for run in runs.values():
            if run["depth"] == depth:
                steps = [(e + 1) * steps_per_epoch for e in range(len(run["loss"]))]
                ax.plot(steps, run["loss"], label=run["init"])
        ax.axhline(CHANCE, color="gray", linestyle=":", label="log 10 (uniform guess)")
        ax.set(xlabel="training steps", ylabel="training cross-entropy", title=f"{depth} layers", yscale="log")
        ax.legend(fontsize=8)
    _report.save_figure(fig, path, dpi, title)


def main(argv: list[str] | None = None) -> dict:
    """Train every depth with both initialisations; returns the runs ``xavier_vs_he.json`` holds."""
    parser = _report.parser(__doc__)
    parser.add_argument("--depths", type=int, nargs="+", default=[22, 30], help="weight layers (default: %(default)s)")
    parser.add_argument("--width", type=int, default=64, help="hidden units per layer (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=60, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.002,
                        help="SGD learning rate, momentum 0.9, the same for both (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--train-size", type=int, default=None, help="use this many training images (default: all 1,257)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    _report.add_out_argument(parser, "xavier_vs_he")
    args = parser.parse_args(argv)
    if min(args.depths) < 2:
        parser.error(f"--depths must be >= 2 (hidden layers + the head), got {args.depths}")
    torch.set_num_threads(args.threads)
    (X_tr, y_tr), _ = _report.digits_split(args.seed)
    data = (X_tr[:args.train_size], y_tr[:args.train_size])
    steps_per_epoch = math.ceil(len(data[1]) / args.batch_size)

    runs, rows = {}, []
    for depth in args.depths:
        for name, init in SCHEMES.items():
            history, diverged = train(depth, init, data, args.width, args.epochs, args.lr, args.batch_size, args.seed)
            run = {"depth": depth, "init": name, "loss": history.loss, "verdict": verdict(history.loss, diverged),
                   "steps": len(history.loss) * steps_per_epoch,
                   "steps_to_leave_plateau": first_step_below(history.loss, 0.99 * CHANCE, steps_per_epoch),
                   "steps_to_converge": first_step_below(history.loss, CHANCE / 2, steps_per_epoch)}
            runs[f"{depth} {name}"] = run
            rows.append([depth, name, history.loss[-1] if history.loss else None,
                         run["steps_to_leave_plateau"] or "never", run["steps_to_converge"] or "never", run["verdict"]])
            print(f"{depth}-layer {name}: {run['verdict']}, training loss {rows[-1][2]:.3f} after {run['steps']} steps"
                  + (f" (below 0.99 log 10 from step {run['steps_to_leave_plateau']})"
                     if run["steps_to_leave_plateau"] else " (never below 0.99 log 10)"), flush=True)

    caption = (f"Plain ReLU MLPs of width {args.width} on digits ({len(data[1])} training images), SGD lr {args.lr:g} "
               f"with momentum 0.9, batch {args.batch_size}, {args.epochs} epochs = {args.epochs * steps_per_epoch} steps; "
               f"log 10 = {CHANCE:.3f}")
    table = _report.markdown_table(["layers", "initialisation", "final training loss", "steps until loss < 0.99 log 10",
                                    "steps until loss < log 10 / 2", "result"], rows)
    _report.write_report(args.out, "xavier_vs_he", caption + "\n\n" + table, {"args": args, "runs": runs})
    plot(runs, steps_per_epoch, args.out / "xavier_vs_he.png", args.dpi, caption)
    return runs


if __name__ == "__main__":
    main()
