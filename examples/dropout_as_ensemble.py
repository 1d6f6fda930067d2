"""Dropout as an implicit ensemble: weight scaling vs Monte-Carlo dropout vs an explicit bagged ensemble.

One network trained with dropout (p_keep = ``--p-keep``) is evaluated two ways on the test set:

* the weight-scaling inference rule (the network in eval mode: inverted dropout's y = x, which
  equals standard dropout's y = p x with the weights rescaled) — one pass;
* Monte-Carlo dropout: the mean of the softmax over T stochastic passes (``nets.mc_dropout_predict``),
  T in ``--ts`` (default 5, 10, 20, 50), repeated with ``--mc-repeats`` seeds (mean and std shown).

Beside it, an explicit ensemble: ``ensemble.BaggedNetClassifier`` of max(T) members of the same
architecture without dropout (``--member-dropout`` keeps it), each on its own bootstrap sample,
trained with the same optimiser, epochs and batch size; the ensemble of size T is its first T
members (soft voting). Every model sees the same train/test split. Reported: test accuracy and
negative log-likelihood (mean -log p(true class)).

Data: ``--data digits`` (default: scikit-learn's 8x8 digits as uint8 1 x 8 x 8 images, normalised
with the training set's mean and std, 70/30 stratified split, an MLP 64-256-256-10) or ``--data cifar`` (a ``--train-size``
subset of the CIFAR-10 training images in ``--cifar10 PATH``, default ``$AUGKIT_CIFAR10``, and the 1,000 validation
images = last 100 per class, ``nets.SmallCNN`` with dropout before its head; slow on a CPU: shrink ``--ts``).
Writes ``dropout_as_ensemble.md``, ``.json`` and ``.png`` (accuracy and NLL vs T) to ``--out``.

    python examples/dropout_as_ensemble.py --out docs/results/dropout_as_ensemble
    python examples/dropout_as_ensemble.py --data cifar --ts 2,4,8 --epochs 4
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

import _report
import numpy as np
import torch
from torch.nn import functional as F

import nets
from ensemble import BaggedNetClassifier, metrics, vote


def load_data(name: str, train_size: int, seed: int, cifar10: Path | None = None) -> dict:
    """Train/test arrays, the member factory and preprocessing for ``name`` ("digits" or "cifar",
    read from the ImageFolder ``cifar10``).

    Images stay uint8 N x C x H x W (digits: N x 1 x 8 x 8, 70/30 stratified split; cifar:
    N x 3 x 32 x 32); ``normalize`` is the training set's per-channel (mean, std) on [0, 1].
    """
    if name == "digits":
        train, test = _report.digits_split(seed)
        model = functools.partial(nets.MLP, widths=(256, 256))
    else:
        train, test = _report.cifar10_split(cifar10, train_size, seed)
        model = nets.SmallCNN
    return {"train": train, "test": test, "normalize": _report.channel_stats(train[0]), "model": model}


def scores(probas: torch.Tensor, y: np.ndarray) -> dict:
    """Accuracy and mean negative log-likelihood of N x K probabilities against labels y."""
    return {"acc": float((probas.argmax(1) == torch.as_tensor(y)).float().mean()), "nll": metrics.nll(probas, y)}


def plot(table: dict, ts: list[int], path: Path, dpi: int, title: str) -> None:
    """Accuracy and NLL vs T: MC-dropout (mean +- std over seeds), the ensemble, the weight-scaling line."""
    plt = _report.pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric, label in zip(axes, ("acc", "nll"), ("test accuracy", "test NLL (lower is better)")):
        mc_mean = [table["mc_dropout"][str(t)][metric]["mean"] for t in ts]
        mc_std = [table["mc_dropout"][str(t)][metric]["std"] for t in ts]
        ax.errorbar(ts, mc_mean, yerr=mc_std, marker="o", capsize=3, label="MC dropout (T passes)")
        ax.plot(ts, [table["ensemble"][str(t)][metric] for t in ts], marker="s", label="bagged ensemble (T members)")
        ax.axhline(table["weight_scaling"][metric], color="k", linestyle="--", label="weight scaling (1 pass)")
        ax.axhline(table["single_member"][metric], color="gray", linestyle=":", label="one ensemble member")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ts)
        ax.set_xticklabels([str(t) for t in ts])
        ax.set_xlabel("T")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    _report.save_figure(fig, path, dpi, title)


def main(argv: list[str] | None = None) -> dict:
    parser = _report.parser(__doc__)
    parser.add_argument("--data", choices=("digits", "cifar"), default="digits", help="data set (default: %(default)s)")
    parser.add_argument("--ts", default="5,10,20,50",
                        help="comma-separated T: MC passes and ensemble sizes (default: %(default)s)")
    parser.add_argument("--p-keep", type=float, default=0.5,
                        help="dropout's probability of KEEPING a unit (default: %(default)s)")
    parser.add_argument("--member-dropout", action="store_true",
                        help="give the ensemble members the same dropout too (default: members without dropout)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: 30 digits, 5 cifar)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: 64 digits, 128 cifar)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate, momentum 0.9 (default: %(default)s)")
    parser.add_argument("--train-size", type=int, default=5000, help="CIFAR-10 training images (default: %(default)s)")
    parser.add_argument("--mc-repeats", type=int, default=5,
                        help="seeds of the MC-dropout evaluation, for its mean and std (default: %(default)s)")
    parser.add_argument("--engine", choices=("vmap", "grouped", "loop", "joblib"), default="vmap",
                        help="BaggedNetClassifier engine (default: %(default)s)")
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes for --engine joblib (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the network and the ensemble (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; small models run fastest on one (default: %(default)s)")
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "dropout_as_ensemble")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        ts = sorted({int(t) for t in args.ts.split(",")})
    except ValueError:
        parser.error(f"--ts must be comma-separated positive ints, got {args.ts!r}")
    if ts[0] < 1:
        parser.error(f"--ts must be positive, got {args.ts!r}")
    if not 0 < args.p_keep <= 1:
        parser.error(f"--p-keep must lie in (0, 1], got {args.p_keep}")
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (30 if args.data == "digits" else 5)
    batch_size = args.batch_size or (64 if args.data == "digits" else 128)
    cifar10 = _report.cifar10_folder(parser, args) if args.data == "cifar" else None
    start = time.perf_counter()

    data = load_data(args.data, args.train_size, args.seed, cifar10)
    (X_tr, y_tr), (X_te, y_te), normalize = data["train"], data["test"], data["normalize"]
    shape = tuple(X_tr.shape[1:])
    torch.manual_seed(args.seed)
    net = data["model"](input_shape=shape, n_classes=10, p_keep=args.p_keep)
    nets.fit(net, (X_tr, y_tr), epochs=epochs, batch_size=batch_size, lr=args.lr, momentum=0.9,
             normalize=normalize, generator=args.seed, verbose=0)
    x_te = nets.to_float_batch(torch.as_tensor(X_te), normalize=normalize)
    table: dict = {"weight_scaling": scores(F.softmax(nets.predict_logits(net, x_te), dim=1), y_te),
                   "mc_dropout": {}, "ensemble": {}}
    for t in ts:
        runs = []
        for r in range(args.mc_repeats):
            torch.manual_seed(args.seed * 1000 + r)
            runs.append(scores(nets.mc_dropout_predict(net, x_te, T=t), y_te))
        table["mc_dropout"][str(t)] = {m: {"mean": float(np.mean([s[m] for s in runs])),
                                           "std": float(np.std([s[m] for s in runs]))} for m in ("acc", "nll")}
    net_seconds = time.perf_counter() - start

    member = functools.partial(data["model"], p_keep=args.p_keep if args.member_dropout else None)
    clf = BaggedNetClassifier(member, n_members=max(ts), epochs=epochs, batch_size=batch_size, lr=args.lr,
                              momentum=0.9, weight_decay=0.0, early_stopping=False, engine=args.engine,
                              n_jobs=args.n_jobs, random_state=args.seed, verbose=0)
    clf.fit(X_tr, y_tr)
    probas = clf.member_probas(X_te)  # M x N x K
    table["single_member"] = scores(probas[0], y_te)
    for t in ts:
        table["ensemble"][str(t)] = scores(vote(probas[:t]), y_te)
    seconds = time.perf_counter() - start

    kind = "MLP 64-256-256-10" if args.data == "digits" else "SmallCNN"
    title = (f"{args.data}: {kind}, dropout p_keep={args.p_keep}, {epochs} epochs; "
             f"{len(y_tr)} train / {len(y_te)} test")
    rows = [["weight scaling (eval mode)", 1, table["weight_scaling"]["acc"], table["weight_scaling"]["nll"]],
            ["one ensemble member", 1, table["single_member"]["acc"], table["single_member"]["nll"]]]
    for t in ts:
        mc = table["mc_dropout"][str(t)]
        rows.append([f"MC dropout (mean +- std, {args.mc_repeats} seeds)", t,
                     f"{mc['acc']['mean']:.4f} +- {mc['acc']['std']:.4f}", f"{mc['nll']['mean']:.4f} +- {mc['nll']['std']:.4f}"])
    rows += [["bagged ensemble", t, table["ensemble"][str(t)]["acc"], table["ensemble"][str(t)]["nll"]] for t in ts]
    markdown = "\n\n".join([
        title + f"; ensemble members {'with' if args.member_dropout else 'without'} dropout, bootstrap bags",
        _report.markdown_table(["method", "T", "test accuracy", "test NLL"], rows),
        f"Training + evaluation: dropout network {net_seconds:.0f} s, total {seconds:.0f} s "
        f"({torch.get_num_threads()} torch threads, engine={args.engine})."])
    _report.write_report(args.out, "dropout_as_ensemble", markdown,
                         {"args": args, "epochs": epochs, "batch_size": batch_size, "seconds": seconds, "table": table})
    plot(table, ts, args.out / "dropout_as_ensemble.png", args.dpi, title)
    return table


if __name__ == "__main__":
    main()
