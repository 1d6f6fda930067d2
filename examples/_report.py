"""What every example shares: its ``--out`` and ``--cifar10`` options, the digits and CIFAR-10
splits and per-channel statistics its networks are fed with, a fit that survives divergence,
markdown tables, the results page (``.md`` with its header, + ``.json``) it writes, and
matplotlib figures linked from that page.

The examples are scripts, not a package: ``python examples/NAME.py`` puts this folder on
``sys.path``, so they ``import _report``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import numbers
import os
import platform
import shlex
import sys
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


def write_report(out: Path, name: str, markdown: str, data: Any, *, title: str | None = None,
                 command: str | None = None, precision: str | None = None) -> list[Path]:
    """Write the results page ``out/<name>.md`` and its data ``out/<name>.json``, and print the page.

    The page is :func:`report_header` (title, command, machine, date) followed by ``markdown``
    and a link to every figure :func:`save_figure` wrote into ``out`` in this process (a figure
    saved after the page is appended to it). The documentation site shows the page as it is.

    Parameters
    ----------
    out : Path
        The folder (created if missing), e.g. ``docs/results/<study>``.
    name : str
        The file stem of both files.
    markdown : str
        The page's body: captions and tables (see :func:`markdown_table`), without a title.
    data : object
        What the ``.json`` holds; paths, numpy values, tensors and argparse Namespaces are converted.
    title : str, optional
        The page's title; default: the first line of the calling script's docstring up to a colon,
        else ``name``. A script that writes two pages names the second.
    command : str, optional
        The command shown; default: :func:`command_line` of this process.
    precision : str, optional
        The training precision, when the study has one; default: ``data["args"].precision`` if present.

    Returns
    -------
    list of Path
        The ``.md`` and ``.json`` paths.
    """
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    precision = precision if precision is not None else _recorded_precision(data)
    header = report_header(title or _script_title(sys._getframe(1).f_globals) or name, command=command, precision=precision)
    figures = [_figure_link(path, alt) for path, alt in _FIGURES.get(out.resolve(), [])]
    page = "\n\n".join([header, markdown.strip("\n"), *figures]) + "\n"
    md.write_text(page)
    js.write_text(json.dumps(data, indent=1, default=_jsonable))
    _PAGES[out.resolve()] = md
    print(page)
    print(f"wrote {md} and {js.name}")
    return [md, js]


# The pages and figures this process wrote, by folder: each figure is linked from its folder's page.
_PAGES: dict[Path, Path] = {}
_FIGURES: dict[Path, list[tuple[Path, str]]] = {}

REPO_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("augkit", "nets", "ensemble", "conventions")


def report_header(title: str, *, command: str | None = None, precision: str | None = None,
                  date: str | None = None) -> str:
    """The header of a results page: its title, the command that made it, the machine and the date.

    Benchmarks share it: ``sys.path.insert(0, str(<repo>/"examples")); import _report`` and call
    :func:`write_report` (or this, for a page written by hand-rolled code), so every results page
    of the documentation carries the same header, which ``docs/_tools/results_index.py`` reads.

    Parameters
    ----------
    title : str
        The page's title (a markdown level-1 heading).
    command : str, optional
        Default: :func:`command_line` of this process.
    precision : str, optional
        The training precision ("float32", "bfloat16"); left out when None.
    date : str, optional
        ISO date; default: today.

    Returns
    -------
    str
        Markdown: the heading and three bullet lines (``**Command:**``, ``**Machine:**``, ``**Date:**``).
    """
    command = command_line() if command is None else command
    tick = "``" if "`" in command else "`"
    return "\n".join([f"# {title}", "",
                      f"- **Command:** {tick}{command}{tick}",
                      f"- **Machine:** {machine_summary(precision)}",
                      f"- **Date:** {date or datetime.date.today().isoformat()}"])


def command_line(argv: Sequence[str] | None = None, cwd: Path | None = None) -> str:
    """``argv`` (default ``sys.argv``) as the command to type at the repository's root.

    The script becomes ``python examples/x.py`` (``python -m ensemble.demo`` for a package module),
    and arguments that name paths inside the repository become relative to its root, so the
    command reads the same on every machine. Paths outside it (a data folder) stay as given.
    """
    argv = list(sys.argv if argv is None else argv)
    cwd = Path.cwd() if cwd is None else Path(cwd)
    script = (cwd / argv[0]).resolve()
    inside = _inside_repo(script)
    if script.name == "__main__.py":  # python -m package
        head = ["python", "-m", script.parent.name]
    elif inside is not None and inside.parts[0] in _PACKAGES:
        head = ["python", "-m", ".".join(inside.with_suffix("").parts)]
    else:
        head = ["python", inside.as_posix() if inside is not None else argv[0]]
    return shlex.join(head + [_argument_from_root(arg, cwd) for arg in argv[1:]])


def _inside_repo(path: Path) -> Path | None:
    try:
        return path.relative_to(REPO_ROOT)
    except ValueError:
        return None


def _argument_from_root(arg: str, cwd: Path) -> str:
    option, eq, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    path = Path(value)
    # A relative path names a file or folder from ``cwd`` (one about to be written: its parent exists).
    relative_path = ("/" in value and (cwd / path).parent.exists()) or (cwd / path).exists()
    if value and (path.is_absolute() or (cwd.resolve() != REPO_ROOT and relative_path)):
        inside = _inside_repo((cwd / path).resolve())
        if inside is not None:
            value = inside.as_posix() or "."
    return option + eq + value


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def instruction_set() -> str:
    """The vector instructions torch's CPU kernels can use, from the CPU's flags: "AVX-512 with
    AVX512-BF16" (native bf16), "AVX-512", "AVX2 only", or "no AVX2"; AMX is named when present."""
    flags = set(next((line.split(":", 1)[1].split() for line in _cpuinfo_lines() if line.startswith("flags")), []))
    if not flags:
        return "instruction set unknown"
    amx = " and AMX" if "amx_bf16" in flags else ""
    if "avx512f" in flags:
        return ("AVX-512 with AVX512-BF16" if "avx512_bf16" in flags else "AVX-512") + amx
    return "AVX2 only" if "avx2" in flags else "no AVX2"


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def machine_summary(precision: str | None = None) -> str:
    """One line: CPU model, cores, instruction set, GPU (when CUDA sees one), torch, precision."""
    parts = [cpu_model(), f"{os.cpu_count()} cores", instruction_set()]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    parts.append(f"torch {torch.__version__}")
    if precision:
        parts.append(f"precision {precision}")
    return ", ".join(parts)


def _script_title(caller: dict) -> str | None:
    """The first line of the calling script's docstring up to a colon (``caller``: its globals),
    when it is an example or a benchmark; run as a script or imported by a test, the title is the same."""
    path = Path(caller.get("__file__") or ".").resolve()
    inside = _inside_repo(path)
    doc = caller.get("__doc__")
    if inside is None or inside.parts[0] not in ("examples", "benchmarks") or not doc:
        return None
    return doc.strip().splitlines()[0].split(": ")[0].rstrip(".")


def _recorded_precision(data: Any) -> str | None:
    args = data.get("args") if isinstance(data, dict) else None
    args = vars(args) if isinstance(args, argparse.Namespace) else args
    return args.get("precision") if isinstance(args, dict) else None


def _figure_link(path: Path, alt: str) -> str:
    return f"![{alt.replace(']', ')')}]({path.name})"


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
    by its suffix) and close it; returns ``path``.

    The figure is linked from the results page of its folder (``title``, else the file name, as
    its alt text): by :func:`write_report` when the page comes later, appended to the page now
    when it was written earlier in this process.
    """
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, width=round(fig.get_figwidth() * 15))), fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    alt = title or path.stem.replace("_", " ")
    folder = path.parent.resolve()
    _FIGURES.setdefault(folder, []).append((path, alt))
    page = _PAGES.get(folder)
    if page is not None:
        with page.open("a") as f:
            f.write("\n" + _figure_link(path, alt) + "\n")
    print(f"wrote {path}")
    return path
