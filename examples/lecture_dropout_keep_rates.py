"""Dropout keep rates on an MLP that overfits: the lecture's input 0.8 / hidden 0.5 against none and one rate everywhere.

An MLP with two hidden ReLU layers of ``--width`` units, built from ``nets.Dropout`` (p_keep =
the probability of KEEPING a unit, inverted mode) and torch Linear layers, He-initialised, is
trained on a small training set (``--train-size`` digits, or CIFAR-10 flattened with
``--data cifar10``) with no dropout, with the lecture's keep rates (0.8 on the inputs, 0.5 on the
hidden units) and with one keep rate everywhere. Train and test accuracy show the overfitting
and what each setting does to it.

Then, on the network trained with the lecture's rates: weight scaling (standard dropout:
train y = m x, test y = p x) and inverted dropout (train y = m x / p, test y = x) are the same
network once p is folded into the next layer's weights (``nets.convert_dropout``): their test
outputs agree, and each equals the expectation of its training-mode output over the masks.
Measured at the first layer, where the output is linear in the mask: the mean over T masks
approaches the test output with the Monte-Carlo error sigma / sqrt(T) the variance predicts.
Across the whole network (ReLUs between the masks) weight scaling is an approximation of the
masks' average, compared by test accuracy.

Writes ``dropout_keep_rates.png``, ``dropout_keep_rates.md`` and ``.json``.

    python examples/lecture_dropout_keep_rates.py --out docs/results/lecture/dropout_keep_rates
"""
from __future__ import annotations

import copy
import math

import _report
import torch
from torch import nn

import nets

SETTINGS = {"no dropout": (None, None), "input 0.8, hidden 0.5 (lecture)": (0.8, 0.5),
            "0.5 everywhere": (0.5, 0.5), "0.8 everywhere": (0.8, 0.8)}
LECTURE = "input 0.8, hidden 0.5 (lecture)"


def dropout_mlp(n_inputs: int, width: int, p_input: float | None, p_hidden: float | None, mode: str = "inverted",
                seed: int = 0) -> nn.Sequential:
    """Flatten -> [Dropout(p_input)] -> Linear -> ReLU -> [Dropout(p_hidden)] -> Linear -> ReLU ->
    [Dropout(p_hidden)] -> Linear (10 logits); He-initialised from ``seed``. Input: float N x ...
    with ``n_inputs`` values per row; output: float32 logits N x 10."""
    def drop(p):
        return [nets.Dropout(p, mode=mode)] if p is not None else []

    model = nn.Sequential(nn.Flatten(), *drop(p_input), nn.Linear(n_inputs, width), nn.ReLU(), *drop(p_hidden),
                          nn.Linear(width, width), nn.ReLU(), *drop(p_hidden), nn.Linear(width, 10))
    return nets.init_weights(model, "he", generator=torch.Generator().manual_seed(seed))


def first_layer(model: nn.Sequential) -> nn.Sequential:
    """The model up to and including its first Linear layer (the input Dropout before it, if any)."""
    end = next(i for i, m in enumerate(model) if isinstance(m, nn.Linear))
    return model[:end + 1]


@torch.no_grad()
def expectation_check(model: nn.Sequential, x: torch.Tensor, ts: list[int], seed: int = 0) -> list[dict]:
    """Monte-Carlo mean of the first layer's training-mode output against its test output, per T.

    ``model`` is a trained :func:`dropout_mlp` with input dropout; ``x`` float N x ... inputs. For
    each T in ``ts`` (ascending) and each rule (the model's inverted dropout, and the same network
    converted to weight scaling), returns the RMS of (mean over T masks - test output) and the
    RMS Monte-Carlo error the mask variance predicts, sigma / sqrt(T) with
    sigma_j^2 = sum_i W_ji^2 x_i^2 (1 - p) / p (in inverted units). Also the largest difference
    between the two rules' test outputs of the whole network.
    """
    rules = {"inverted": model, "weight scaling": nets.convert_dropout(copy.deepcopy(model), "standard")}
    flat = x.flatten(1)
    linear, dropout = first_layer(model)[-1], first_layer(model)[-2]
    p = dropout.p_keep
    sigma = ((linear.weight ** 2) @ (flat ** 2).T * (1 - p) / p).T.sqrt()  # N x units, per single mask
    test = {name: first_layer(net).eval()(x) for name, net in rules.items()}
    logits = {name: net.eval()(x) for name, net in rules.items()}
    gap = float((logits["inverted"] - logits["weight scaling"]).abs().max())
    rows = []
    for k, (name, net) in enumerate(rules.items()):
        layer = first_layer(net).train()
        torch.manual_seed(seed + k)  # independent masks: two estimates of one expectation
        total, done = torch.zeros_like(test[name]), 0
        for t in ts:
            while done < t:
                total += layer(x)
                done += 1
            error = total / t - test[name]
            rows.append({"rule": name, "T": t, "rms_error": float(error.pow(2).mean().sqrt()),
                         "predicted_rms_error": float((sigma ** 2).mean().sqrt() / math.sqrt(t)),
                         "test_output_gap": gap})
        net.eval()
    return rows


def plot(curves: dict, accuracy: dict, expectation: list[dict], path, dpi: int, title: str) -> None:
    """Test accuracy per epoch per setting; train and test accuracy bars; MC error against T."""
    plt = _report.pyplot()
    if plt is None:
        return
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 3.8))
    for name, val_acc in curves.items():
        ax1.plot(range(1, len(val_acc) + 1), val_acc, label=name)
    ax1.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy during training")
    ax1.legend(fontsize=7)
    names = list(accuracy)
    xs = range(len(names))
    ax2.bar([i - 0.2 for i in xs], [accuracy[n]["train_acc"] for n in names], width=0.4, label="train")
    ax2.bar([i + 0.2 for i in xs], [accuracy[n]["test_acc"] for n in names], width=0.4, label="test")
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels([n.replace(", ", ",\n").replace(" (", "\n(") for n in names], fontsize=7)
    low = min(a["test_acc"] for a in accuracy.values())
    ax2.set(ylim=(max(0.0, low - 0.05), 1.0), ylabel="accuracy", title="train vs test accuracy")
    ax2.legend(fontsize=7)
    for rule, marker in (("inverted", "o"), ("weight scaling", "s")):
        rows = [r for r in expectation if r["rule"] == rule]
        ax3.loglog([r["T"] for r in rows], [r["rms_error"] for r in rows], marker, label=f"{rule}: measured")
    rows = [r for r in expectation if r["rule"] == "inverted"]
    ax3.loglog([r["T"] for r in rows], [r["predicted_rms_error"] for r in rows], "k--", label="sigma / sqrt(T)")
    ax3.set(xlabel="masks T", ylabel="RMS(mean of T passes - test output)", title="first layer: E[train] = test")
    ax3.legend(fontsize=7)
    _report.save_figure(fig, path, dpi, title)


def main(argv: list[str] | None = None) -> dict:
    """Train the keep-rate settings and check the expectation; returns what ``dropout_keep_rates.json`` holds."""
    parser = _report.parser(__doc__)
    parser.add_argument("--data", choices=("digits", "cifar10"), default="digits", help="(default: %(default)s)")
    _report.add_cifar10_argument(parser)
    parser.add_argument("--train-size", type=int, default=500, help="training images (default: %(default)s)")
    parser.add_argument("--width", type=int, default=512, help="hidden units per layer (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=100, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate, momentum 0.9 (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--ts", type=int, nargs="+", default=[10, 100, 1000, 10000],
                        help="masks averaged in the expectation check (default: %(default)s)")
    parser.add_argument("--mc-passes", type=int, default=100,
                        help="stochastic passes of the whole-network Monte-Carlo average (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    _report.add_out_argument(parser, "dropout_keep_rates")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.data == "digits":
        (X_tr, y_tr), test = _report.digits_split(args.seed)
        X_tr, y_tr = X_tr[:args.train_size], y_tr[:args.train_size]
    else:
        (X_tr, y_tr), test = _report.cifar10_split(_report.cifar10_folder(parser, args), args.train_size, args.seed)
    normalize = _report.channel_stats(X_tr)
    n_inputs = math.prod(X_tr.shape[1:])

    accuracy, curves, models, rows = {}, {}, {}, []
    for name, (p_input, p_hidden) in SETTINGS.items():
        model = dropout_mlp(n_inputs, args.width, p_input, p_hidden, seed=args.seed)
        history = nets.fit(model, (X_tr, y_tr), test, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           momentum=0.9, normalize=normalize, generator=args.seed, verbose=0)
        train_loss, train_acc = nets.evaluate(model, X_tr, y_tr, normalize=normalize)
        test_loss, test_acc = nets.evaluate(model, *test, normalize=normalize)
        accuracy[name] = {"train_acc": train_acc, "test_acc": test_acc, "train_loss": train_loss, "test_loss": test_loss}
        curves[name], models[name] = history.val_acc, model
        rows.append([name, train_acc, test_acc, train_acc - test_acc, test_loss])
        print(f"{name}: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f} "
              f"(gap {train_acc - test_acc:.4f})", flush=True)

    x_test = nets.to_float_batch(torch.as_tensor(test[0]), normalize=normalize)
    expectation = expectation_check(models[LECTURE], x_test[:20], sorted(args.ts), seed=args.seed)
    torch.manual_seed(args.seed)
    mc = nets.mc_dropout_predict(models[LECTURE], x_test, T=args.mc_passes)
    mc_acc = float((mc.argmax(1) == torch.as_tensor(test[1])).float().mean())
    gap = expectation[0]["test_output_gap"]
    print(f"weight scaling vs inverted dropout, whole network: largest test-logit difference {gap:.2g}")
    for r in expectation:
        print(f"first layer, {r['rule']}, T = {r['T']}: RMS(mean - test) = {r['rms_error']:.4g} "
              f"(Monte-Carlo prediction {r['predicted_rms_error']:.4g})")
    print(f"whole network: weight-scaling test accuracy {accuracy[LECTURE]['test_acc']:.4f}, "
          f"mean of {args.mc_passes} masks {mc_acc:.4f}")

    data = (f"digits ({len(y_tr)} training / {len(test[1])} test images)" if args.data == "digits" else
            f"CIFAR-10 flattened ({len(y_tr)} training images / {len(test[1])} validation images)")
    caption = (f"MLP {n_inputs}-{args.width}-{args.width}-10 (ReLU, He init) on {data}, {args.epochs} epochs of SGD "
               f"(lr {args.lr:g}, momentum 0.9, batch {args.batch_size}); keep rates p = probability of keeping a unit")
    markdown = "\n\n".join([
        caption,
        _report.markdown_table(["keep rates", "train accuracy", "test accuracy", "gap", "test loss"], rows),
        f"The lecture's network: weight scaling (standard dropout, p folded into the weights) against inverted "
        f"dropout. Largest difference of their test logits: {gap:.2g}. First layer, mean of T training-mode "
        f"passes against the test output (20 test images):",
        _report.markdown_table(["rule", "T", "RMS(mean - test)", "predicted sigma / sqrt(T)"],
                               [[r["rule"], r["T"], r["rms_error"], r["predicted_rms_error"]] for r in expectation],
                               floats=".4g"),
        _report.markdown_table(["whole network", "test accuracy"],
                               [["weight scaling (one pass)", accuracy[LECTURE]["test_acc"]],
                                [f"mean of {args.mc_passes} masks (Monte-Carlo)", mc_acc]]),
    ])
    results = {"args": args, "accuracy": accuracy, "test_acc_per_epoch": curves, "expectation": expectation,
               "mc_test_acc": mc_acc}
    _report.write_report(args.out, "dropout_keep_rates", markdown, results)
    plot(curves, accuracy, expectation, args.out / "dropout_keep_rates.png", args.dpi, caption)
    return results


if __name__ == "__main__":
    main()
