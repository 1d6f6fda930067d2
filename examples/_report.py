"""What every example shares: its ``--out`` and ``--cifar10`` options, the digits and CIFAR-10
splits and per-channel statistics its networks are fed with, a fit that survives divergence,
markdown tables, the ``.md`` + ``.json`` pair it writes, and matplotlib figures.

The examples are scripts, not a package: ``python examples/NAME.py`` puts this folder on
``sys.path``, so they ``import _report``.
"""
from __future__ import annotations

import argparse
import json
import numbers
import os
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import nets
from augkit.data import last_per_class_split, load_cifar10, load_digits_images, to_batch


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser for an example whose module docstring is ``doc``: its first line is the
    description and the rest, kept as written, the epilog of ``--help``."""
    return argparse.ArgumentParser(description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="\n".join(doc.splitlines()[1:]))


def add_out_argument(parser: argparse.ArgumentParser, name: str) -> None:
    """``--out DIR``, defaulting to ``augkit-out/<name>``: where the example writes its files."""
    parser.add_argument("--out", type=Path, default=Path("augkit-out") / name,
                        help="folder for the table (.md, .json) and plots (default: %(default)s)")


def add_cifar10_argument(parser: argparse.ArgumentParser) -> None:
    """``--cifar10 PATH``, the CIFAR-10 training ImageFolder; defaults to ``$AUGKIT_CIFAR10``.

    The default is read when the parser is built. Check the value with :func:`cifar10_folder`.
    """
    parser.add_argument("--cifar10", type=Path, default=os.environ.get("AUGKIT_CIFAR10") or None, metavar="PATH",
                        help="CIFAR-10 training ImageFolder <PATH>/<class>/<image> (default: $AUGKIT_CIFAR10)")


def cifar10_folder(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The ``--cifar10`` folder of ``args``; exits through ``parser.error`` (status 2) with a message
    that says what to pass when neither ``--cifar10`` nor ``$AUGKIT_CIFAR10`` names a folder."""
    if args.cifar10 is None:
        parser.error("CIFAR-10 is needed: pass --cifar10 PATH (the training ImageFolder) or set AUGKIT_CIFAR10")
    if not args.cifar10.is_dir():
        parser.error(f"--cifar10 {str(args.cifar10)!r} is not a folder (from --cifar10 or $AUGKIT_CIFAR10)")
    return args.cifar10


def digits_split(seed: int = 0, test_size: float = 0.3) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits as uint8 N x 1 x 8 x 8 images, split stratified into train and test.

    Returns ``(X_train, y_train), (X_test, y_test)``: uint8 images and int64 labels (1,257 / 540
    rows at the default 30 % test share), the same split for the same ``seed``.
    """
    from sklearn.model_selection import train_test_split

    images, labels = load_digits_images()
    X = images.transpose(0, 3, 1, 2).copy()
    X_tr, X_te, y_tr, y_te = train_test_split(X, labels, test_size=test_size, stratify=labels, random_state=seed)
    return (X_tr, y_tr), (X_te, y_te)


def cifar10_split(folder: Path, train_size: int | None, seed: int = 0,
                  val_per_class: int = 100) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A random ``train_size`` subset (None: all) of CIFAR-10's training images and a fixed
    validation set: the last ``val_per_class`` images of each class (in file order), never in the subset.

    Returns ``(X_train, y_train), (X_val, y_val)``: uint8 N x 3 x 32 x 32 images (train rows
    ascending) and int64 labels.
    """
    images, labels, _ = load_cifar10(folder)
    train_idx, val_idx = last_per_class_split(labels, val_per_class)
    if train_size is not None and train_size < len(train_idx):
        train_idx = np.sort(np.random.default_rng(seed).choice(train_idx, train_size, replace=False))
    X = to_batch(images).numpy()
    return (X[train_idx], labels[train_idx]), (X[val_idx], labels[val_idx])


def channel_stats(X: np.ndarray | torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 N x C x H x W images on the [0, 1] scale, as
    ``BaggedNetClassifier`` computes them for its members (population std, at least 1e-6):
    the ``normalize`` argument of :func:`nets.fit` and :func:`nets.evaluate`."""
    x = torch.as_tensor(X).double() / 255
    std = x.std(dim=(0, 2, 3), correction=0).clamp_min(1e-6)
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(std.tolist())


def fit_or_diverge(model: torch.nn.Module, data: tuple, val: tuple | None = None, **kwargs: Any) -> tuple[nets.History, bool]:
    """:func:`nets.fit` for experiments that may diverge: returns the History of the epochs before
    a NaN/Inf loss (all of them when there was none) and whether the loss diverged."""
    latest = {"history": nets.History()}
    try:
        nets.fit(model, data, val, on_epoch_end=lambda epoch, history: latest.update(history=history), **kwargs)
    except nets.DivergenceError:
        return latest["history"], True
    return latest["history"], False


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return format(value, fmt)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], floats: str | Sequence[str] = ".4f") -> str:
    """A markdown table; a column holding a number is right-aligned (its other cells, such as "n/a"
    for None or "never", with it).

    Parameters
    ----------
    header : the column titles.
    rows : one sequence of cells per row, as many as ``header``; ints and strings are shown as
        they are, floats through ``format(value, spec)``.
    floats : the format spec of float cells, one for all columns or one per column.

    Returns
    -------
    str : the table's lines (no newline after the last).
    """
    rows = [list(row) for row in rows]
    specs = [floats] * len(header) if isinstance(floats, str) else list(floats)
    if len(specs) != len(header):
        raise ValueError(f"floats must be one format spec or one per column ({len(header)}), got {floats!r}")
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"every row needs {len(header)} cells (the header's), got {len(row)}: {row!r}")
    rule = ["---:" if any(_is_number(row[j]) for row in rows) else "---" for j in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(_cell(v, s) for v, s in zip(row, specs)) + " |" for row in rows]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    if isinstance(value, argparse.Namespace):
        return vars(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def write_report(out: Path, name: str, markdown: str, data: Any) -> list[Path]:
    """Write ``out/<name>.md`` (the markdown) and ``out/<name>.json`` (``data``, indented) and print
    the markdown. Paths, numpy values, tensors and argparse Namespaces in ``data`` become JSON.

    Returns the two paths.
    """
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    md.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    js.write_text(json.dumps(data, indent=1, default=_jsonable))
    print(markdown)
    print(f"wrote {md} and {js.name}")
    return [md, js]


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, or None (with a printed note) when
    matplotlib is missing: the tables are still written."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plots (pip install 'augkit[plot]')")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 80, title: str | None = None) -> Path:
    """Lay out ``fig`` under ``title`` (wrapped to the figure's width), write it to ``path`` (PNG
    by its suffix) and close it; returns ``path``."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, width=round(fig.get_figwidth() * 15))), fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print(f"wrote {path}")
    return path
