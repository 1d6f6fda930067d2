"""Per-layer activation histograms of a 10-layer, 500-unit network under five initialisations.

Reproduces the lecture's experiment: unit-Gaussian inputs through 10 bias-free Linear layers
with tanh or ReLU. Writes one PNG per setting (a row of per-layer histograms titled with
mean and std) plus ``activation_stats.md`` and ``activation_stats.json`` (per-layer std)
to ``--out``.

    python examples/activation_stats.py --out augkit-out/activation_stats
"""
from __future__ import annotations

import argparse
from pathlib import Path

import _report

from nets import activation_stats

SETTINGS = {
    "normal0.01_tanh": ("tanh", ("normal", {"std": 0.01})),
    "normal1_tanh": ("tanh", ("normal", {"std": 1.0})),
    "xavier_tanh": ("tanh", "xavier"),
    "xavier_relu": ("relu", "xavier"),
    "he_relu": ("relu", "he"),
}


def plot_setting(name: str, stats: dict, path: Path, dpi: int) -> None:
    """One row of per-layer histograms, each titled with the layer's mean and std."""
    plt = _report.pyplot()
    if plt is None:
        return
    depth = len(stats["std"])
    fig, axes = plt.subplots(1, depth, figsize=(1.9 * depth, 2.2), sharex=True)
    for layer, ax in enumerate(axes):
        counts, edges = stats["counts"][layer], stats["edges"][layer]
        ax.bar(edges[:-1], counts, width=edges[1:] - edges[:-1], align="edge", color="tab:blue")
        ax.set_title(f"layer {layer + 1}\nmean {stats['mean'][layer]:.2g}\nstd {stats['std'][layer]:.2g}",
                     fontsize=7)
        ax.tick_params(labelsize=6)
    _report.save_figure(fig, path, dpi, name)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_out_argument(parser, "activation_stats")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args(argv)

    table = {}
    for name, (activation, init) in SETTINGS.items():
        stats = activation_stats(depth=args.depth, width=args.width, activation=activation, init=init, n=args.n)
        plot_setting(name, stats, args.out / f"{name}.png", args.dpi)
        table[name] = {"std": stats["std"], "mean": stats["mean"], "saturated": stats["saturated"]}

    caption = f"Per-layer std of activations ({args.depth} layers x {args.width} units, n = {args.n})"
    markdown = _report.markdown_table(["setting", *(f"L{k + 1}" for k in range(args.depth))],
                                      [[name, *row["std"]] for name, row in table.items()], floats=".3g")
    _report.write_report(args.out, "activation_stats", caption + "\n\n" + markdown, table)
    return table


if __name__ == "__main__":
    main()
