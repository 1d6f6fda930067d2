"""Zero and constant initialisation against Xavier and He: the symmetry that training never breaks.

An MLP 64-64-64-10 with ReLU on scikit-learn's digits, trained identically (SGD with momentum,
no weight decay) from four initialisations of its Linear weights (biases start at 0):

* zero: every hidden activation is ReLU(0) = 0, so the output weights get no gradient, and the
  output weights (0) pass none back: the hidden weights and their gradients stay exactly 0 and
  only the output bias moves (the network learns the class frequencies, nothing else);
* constant (``--value``): all units of a layer compute the same function and get the same
  gradient, so they stay identical: the pairwise cosine of their weight vectors is 1.0;
* Xavier (the lecture's Var = 1/n) and He (Var = 2/n): random weights break the symmetry.

Writes ``init_symmetry.png`` (training loss per epoch), ``init_symmetry.md`` and ``.json``.

    python examples/lecture_init_symmetry.py --out docs/results/lecture/init_symmetry
"""
from __future__ import annotations

import copy
import itertools

import _report
import torch
from torch import nn
from torch.nn import functional as F

import nets


def schemes(value: float) -> dict[str, nets.init.InitSpec]:
    """The four initialisations by name, as :func:`nets.init_weights` specs."""
    return {"zero": "zero", f"constant {value:g}": ("constant", {"value": value}), "Xavier (1/n)": "xavier",
            "He (2/n)": "he"}


def train(init: nets.init.InitSpec, data: tuple, widths: tuple[int, ...], epochs: int, lr: float,
          batch_size: int, seed: int) -> tuple[nets.MLP, dict[str, torch.Tensor], nets.History]:
    """Train an MLP (ReLU, ``widths`` hidden units) from ``init`` on ``data`` = (uint8 N x 1 x 8 x 8, labels).

    Returns the trained model, a copy of its initial state dict and the fit's History.
    """
    X = data[0]
    torch.manual_seed(seed)
    model = nets.MLP(tuple(X.shape[1:]), 10, widths=widths, init=init)
    start = copy.deepcopy(model.state_dict())
    history = nets.fit(model, data, epochs=epochs, batch_size=batch_size, lr=lr, momentum=0.9,
                       normalize=_report.channel_stats(X), generator=seed, verbose=0)
    return model, start, history


def min_pairwise_cosine(weight: torch.Tensor) -> float | None:
    """Smallest cosine between two rows (units' incoming weight vectors) of ``weight`` (units x inputs);
    None when a row is all zeros (no direction)."""
    w = weight.detach().double()
    norms = w.norm(dim=1)
    if bool((norms == 0).any()):
        return None
    cosine = (w / norms[:, None]) @ (w / norms[:, None]).T
    return float(cosine[~torch.eye(len(w), dtype=torch.bool)].min())


def symmetry(model: nets.MLP, start: dict[str, torch.Tensor], data: tuple) -> dict:
    """What training changed: per hidden layer the largest |weight|, the largest |gradient| of the
    training loss and the smallest pairwise cosine of its units, and the parameters that moved."""
    X, y = data
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    hidden = linears[:-1]
    model.train()
    model.zero_grad()
    x = nets.to_float_batch(torch.as_tensor(X), normalize=_report.channel_stats(X))
    F.cross_entropy(model(x), torch.as_tensor(y)).backward()
    moved = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), start[name])]
    report = {
        "hidden_max_abs_weight": max(float(m.weight.detach().abs().max()) for m in hidden),
        "hidden_max_abs_grad": max(float(m.weight.grad.abs().max()) for m in hidden),
        "output_max_abs_weight": float(linears[-1].weight.detach().abs().max()),
        "min_pairwise_cosine": [min_pairwise_cosine(m.weight) for m in hidden],
        "moved": moved,
        "output_bias": {m: n for n, m in model.named_modules()}[linears[-1]] + ".bias",
    }
    model.zero_grad(set_to_none=True)
    model.eval()
    return report


def plot(curves: dict[str, list[float]], path, dpi: int, title: str) -> None:
    """Training loss per epoch, one line per initialisation."""
    plt = _report.pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for (name, loss), style in zip(curves.items(), itertools.cycle(["-", "--", "-.", ":"])):
        ax.plot(range(1, len(loss) + 1), loss, style, label=name)
    ax.set(xlabel="epoch", ylabel="training cross-entropy", yscale="log")
    ax.legend(fontsize=8)
    _report.save_figure(fig, path, dpi, title)


def main(argv: list[str] | None = None) -> dict:
    """Run the four initialisations; returns per name what ``init_symmetry.json`` holds under "results"."""
    parser = _report.parser(__doc__)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 64], help="hidden widths (default: %(default)s)")
    parser.add_argument("--value", type=float, default=0.01, help="the constant's value (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate, momentum 0.9 (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--train-size", type=int, default=None, help="use this many training images (default: all 1,257)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    _report.add_out_argument(parser, "init_symmetry")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    (X_tr, y_tr), (X_te, y_te) = _report.digits_split(args.seed)
    train_data = (X_tr[:args.train_size], y_tr[:args.train_size])
    widths = tuple(args.widths)

    results, curves, rows = {}, {}, []
    for name, init in schemes(args.value).items():
        model, start, history = train(init, train_data, widths, args.epochs, args.lr, args.batch_size, args.seed)
        report = symmetry(model, start, train_data)
        _, test_acc = nets.evaluate(model, X_te, y_te, normalize=_report.channel_stats(train_data[0]))
        results[name] = {**report, "loss": history.loss, "test_acc": test_acc}
        curves[name] = history.loss
        cosines = [c for c in report["min_pairwise_cosine"] if c is not None]
        rows.append([name, history.loss[-1], test_acc, report["hidden_max_abs_weight"], report["hidden_max_abs_grad"],
                     min(cosines) if cosines else None,
                     ", ".join(report["moved"]) if len(report["moved"]) <= 2 else f"all {len(report['moved'])}"])

    zero, constant = results["zero"], results[f"constant {args.value:g}"]
    print(f"zero init: hidden weights max |w| = {zero['hidden_max_abs_weight']:g}, max |grad| = "
          f"{zero['hidden_max_abs_grad']:g} after {args.epochs} epochs; parameters that moved: "
          f"{', '.join(zero['moved'])}; training loss {zero['loss'][-1]:.3f} (log 10 = 2.303)")
    print(f"constant init: smallest pairwise cosine of a layer's units = "
          f"{min(c for c in constant['min_pairwise_cosine'] if c is not None):.6f}; "
          f"training loss {constant['loss'][-1]:.3f}")
    for name in list(results)[2:]:
        print(f"{name}: training loss {results[name]['loss'][-1]:.4f}, test accuracy {results[name]['test_acc']:.4f}")

    caption = (f"MLP 64-{'-'.join(map(str, widths))}-10 (ReLU) on digits, {len(train_data[1])} training / "
               f"{len(y_te)} test images, {args.epochs} epochs of SGD (lr {args.lr:g}, momentum 0.9, batch "
               f"{args.batch_size})")
    table = _report.markdown_table(
        ["initialisation", "final training loss", "test accuracy", "hidden max abs w", "hidden max abs grad",
         "min pairwise cosine of a layer's units", "parameters that moved"],
        rows, floats=[".4f", ".4f", ".4f", ".3g", ".3g", ".6f", ""])
    _report.write_report(args.out, "init_symmetry", caption + "\n\n" + table,
                         {"args": args, "results": results})
    plot(curves, args.out / "init_symmetry.png", args.dpi, caption)
    return results


if __name__ == "__main__":
    main()
