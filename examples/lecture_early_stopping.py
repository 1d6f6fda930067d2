"""Early stopping as regularisation: loss curves, the restored snapshot, and the weights' distance from their start.

An MLP with two hidden ReLU layers of ``--width`` units and no other regularisation overfits
``--train-size`` digits, of which a ``--label-noise`` share carry a random label (the network
first learns the digits, then memorises the noise, and the validation loss turns back up: a
clear case for stopping early); ``nets.EarlyStopping`` watches the validation loss (the 540 held-out
digits) with ``--patience`` epochs of patience and restores the best epoch's snapshot at the end.
Recorded after every epoch: training and validation loss and the Euclidean distance
||w_t - w_0|| of all weights and biases from their initialisation. With SGD at learning rate
alpha, tau steps move the weights at most tau * alpha * max ||gradient|| away, so stopping after
tau steps keeps them within a radius that grows with tau * alpha: the lecture's reading of early
stopping as a constraint like L2 decay (Goodfellow et al. 2016, section 7.8).

Writes ``early_stopping.png`` (loss curves with the restored epoch marked; distance from the
start against steps), ``early_stopping.md`` and ``.json``.

    python examples/lecture_early_stopping.py --out docs/results/lecture/early_stopping
"""
from __future__ import annotations

import math

import _report
import numpy as np
import torch
from torch import nn

import nets


def noisy_labels(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of int labels ``y`` (10 classes) where each label, with probability ``share``, is
    replaced by a uniformly drawn class (possibly the same one)."""
    rng = np.random.default_rng(seed)
    y = y.copy()
    replace = rng.random(len(y)) < share
    y[replace] = rng.integers(0, 10, int(replace.sum()))
    return y


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` as one float64 vector (a copy)."""
    return torch.cat([p.detach().double().flatten() for p in model.parameters()])


def train(data: tuple, val: tuple, width: int, epochs: int, lr: float, batch_size: int, patience: int,
          seed: int) -> tuple[nets.MLP, nets.History, list[float]]:
    """Train the MLP with early stopping on ``val``; returns the model (the restored snapshot), its
    History and the distance ||w - w_0|| after every epoch."""
    X, _ = data
    torch.manual_seed(seed)
    model = nets.MLP(tuple(X.shape[1:]), 10, widths=(width, width))
    start = flat_parameters(model)
    distance = []
    history = nets.fit(model, data, val, epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9,
                       normalize=_report.channel_stats(X), early_stopping=nets.EarlyStopping("val_loss", patience),
                       generator=seed, verbose=0,
                       on_epoch_end=lambda epoch, h: distance.append(float((flat_parameters(model) - start).norm())))
    return model, history, distance


def plot(history: nets.History, distance: list[float], steps_per_epoch: int, lr: float, path, dpi: int,
         title: str) -> None:
    """Left: training and validation loss per step, the restored epoch marked. Right: ||w - w_0||."""
    plt = _report.pyplot()
    if plt is None:
        return
    steps = [(e + 1) * steps_per_epoch for e in range(len(history.loss))]
    best = steps[history.best_epoch]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(steps, history.loss, label="training loss")
    ax1.plot(steps, history.val_loss, label="validation loss")
    ax1.axvline(best, color="k", linestyle="--", label=f"restored snapshot (epoch {history.best_epoch + 1})")
    ax1.set(xlabel="training steps", ylabel="cross-entropy", title="early stopping")
    ax1.legend(fontsize=8)
    ax2.plot(steps, distance, color="tab:green")
    ax2.axvline(best, color="k", linestyle="--")
    ax2.axhline(distance[history.best_epoch], color="k", linestyle=":",
                label=f"radius at the snapshot: {distance[history.best_epoch]:.3g}")
    ax2.set(xlabel=f"training steps tau (tau * alpha, alpha = {lr:g})", ylabel="||w_tau - w_0||",
            title="distance of the weights from their initialisation")
    ax2.legend(fontsize=8)
    _report.save_figure(fig, path, dpi, title)


def main(argv: list[str] | None = None) -> dict:
    """Train with early stopping; returns what ``early_stopping.json`` holds."""
    parser = _report.parser(__doc__)
    parser.add_argument("--train-size", type=int, default=200, help="training images (default: %(default)s)")
    parser.add_argument("--label-noise", type=float, default=0.2,
                        help="share of training labels replaced by a random class (default: %(default)s)")
    parser.add_argument("--width", type=int, default=512, help="hidden units per layer (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=150, help="most epochs (default: %(default)s)")
    parser.add_argument("--patience", type=int, default=50,
                        help="epochs without a better validation loss before stopping (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.005, help="SGD learning rate, momentum 0.9 (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    _report.add_out_argument(parser, "early_stopping")
    args = parser.parse_args(argv)
    if not 0 <= args.label_noise <= 1:
        parser.error(f"--label-noise must lie in [0, 1], got {args.label_noise}")
    torch.set_num_threads(args.threads)
    (X_tr, y_tr), val = _report.digits_split(args.seed)
    data = (X_tr[:args.train_size], noisy_labels(y_tr[:args.train_size], args.label_noise, args.seed))
    steps_per_epoch = math.ceil(len(data[1]) / args.batch_size)

    model, history, distance = train(data, val, args.width, args.epochs, args.lr, args.batch_size,
                                     args.patience, args.seed)
    best, last = history.best_epoch, len(history.loss) - 1
    restored_loss, restored_acc = nets.evaluate(model, *val, normalize=_report.channel_stats(data[0]))
    rows = [[f"restored snapshot (epoch {best + 1})", (best + 1) * steps_per_epoch, history.loss[best],
             history.val_loss[best], history.val_acc[best], distance[best]],
            [f"last epoch trained ({last + 1})", (last + 1) * steps_per_epoch, history.loss[last],
             history.val_loss[last], history.val_acc[last], distance[last]]]
    stopped = (f"stopped after epoch {last + 1} ({args.patience} epochs without a better validation loss)"
               if history.stopped_epoch is not None else f"ran all {args.epochs} epochs")
    print(f"validation loss is lowest at epoch {best + 1} ({history.val_loss[best]:.4f}); {stopped}; "
          f"the restored snapshot lies {distance[best]:.3g} from the initial weights, the last epoch "
          f"{distance[last]:.3g}; its validation loss {history.val_loss[last]:.4f}")

    caption = (f"MLP 64-{args.width}-{args.width}-10 on {len(data[1])} digits, {args.label_noise:.0%} of them with a "
               f"random label (validation: {len(val[1])} held-out digits, true labels), "
               f"SGD lr {args.lr:g}, momentum 0.9, batch {args.batch_size}, EarlyStopping(val_loss, patience "
               f"{args.patience}); {stopped}")
    table = _report.markdown_table(["weights", "steps", "training loss", "validation loss", "validation accuracy",
                                    "||w - w_0||"], rows, floats=".4f")
    results = {"args": args, "history": history.to_dict(), "distance": distance,
               "restored": {"epoch": best, "val_loss": restored_loss, "val_acc": restored_acc}}
    _report.write_report(args.out, "early_stopping", caption + "\n\n" + table, results)
    plot(history, distance, steps_per_epoch, args.lr, args.out / "early_stopping.png", args.dpi, caption)
    return results


if __name__ == "__main__":
    main()
