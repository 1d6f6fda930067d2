"""airbench94's own code beside ``ensemble.recipes.cifar10`` at airbench's configuration, epoch by epoch.

Both train on the same uint8 CIFAR-10 images (all but the last 1,000 of each class of the
``--cifar10`` ImageFolder, or a seeded ``--train-subset`` of them) and are scored on the same
validation images (those last 1,000 per class) after every epoch and at the end, so a part that
differs shows as curves that part ways.

* ``airbench``: ``airbench.train94`` from the ``airbench`` package (pip install airbench==0.1.8,
  into the comparison environment; nothing of it is copied here). It is written for a CUDA GPU in fp16;
  this harness redirects it to the CPU without changing its code: ``.cuda()`` is the identity,
  ``.half()`` keeps float32 weights (uint8 images become float32), ``torch.cuda.Event`` and
  ``synchronize`` time with the wall clock, and its ``CifarLoader`` reads our split. With
  ``--precision bfloat16`` (the recipe's training precision on a CPU with native bf16) each
  forward of its network runs under bf16 autocast and returns float32 logits, so the loss, the
  optimiser and the whitening initialisation stay float32, as in the recipe; ``float32`` runs it
  all in float32. Per epoch: its own ``evaluate`` (no TTA, BatchNorm running
  statistics); at the end its TTA levels 0, 1, 2 (none, mirror, mirror + 1-pixel translates).
* ``recipe``: ``ensemble.recipes.cifar10_airbench()`` fitted as users fit it, with the
  validation images scored after every epoch (no TTA) by a copy of the member whose BatchNorm
  statistics are recomputed on 8 training batches (Algorithm 2, as the recipe does after
  training: its running averages follow the weights more slowly than airbench's, which would
  understate the early epochs), and ``predict_proba`` at the end without TTA, with the mirror,
  and with the recipe's TTA.

Writes ``airbench_fidelity.md`` and ``.json`` to ``--out``. Run it with ``python`` in the
comparison environment (built by ``../shared/tools/comparison-venv.sh``), with this checkout
first on the path, niced (about 25 minutes per full run on 2 cores):

    PYTHONPATH=$PWD nice -n 10 python benchmarks/airbench_fidelity.py \\
        --cifar10 path/to/cifar10/train
    ... --which recipe --epochs 3 --train-subset 10000     # a quick look at one side
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import _report

import nets
from ensemble.recipes import cifar10_airbench
from nets.batches import model_memory_format, population_batches

PRECISIONS = ("bfloat16", "float32")


class _WallClockEvent:
    """``torch.cuda.Event(enable_timing=True)`` for CPU code: ``record`` notes the time."""

    def __init__(self, *args, **kwargs) -> None:
        self.t = None

    def record(self, *args, **kwargs) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, end: _WallClockEvent) -> float:
        return 1e3 * (end.t - self.t)


def _float_half(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``Tensor.half`` redirected: float tensors stay float32, integer ones become float32."""
    return tensor if tensor.is_floating_point() else tensor.float()


def bf16_forward(make_net):
    """``make_net`` whose network runs each forward under bf16 autocast and returns float32 logits.

    Each forward enters and leaves autocast on its own: autocast caches the bf16 copies of the
    weights until its outermost context exits, so one context around the whole training would
    keep the first step's weights for every forward (and nothing would train)."""
    def make():
        net = make_net()
        forward = net.forward

        def autocast_forward(x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return forward(x).float()
        net.forward = autocast_forward
        return net
    return make


@contextlib.contextmanager
def airbench_on_cpu(data_dir: Path, record: list):
    """Run airbench's unmodified code on the CPU, reading ``data_dir``/{train,test}.pt; every
    call of its ``evaluate`` appends ``(tta_level, accuracy)`` to ``record``."""
    from airbench import utils

    original_loader, original_evaluate = utils.CifarLoader, utils.evaluate

    class CpuCifarLoader(original_loader):
        def __init__(self, path, train=True, *args, gpu=0, **kwargs):
            super().__init__(str(data_dir), train, *args, gpu="cpu", **kwargs)

    def evaluate(model, loader, tta_level=0):
        accuracy = original_evaluate(model, loader, tta_level)
        record.append((tta_level, accuracy))
        return accuracy

    with contextlib.ExitStack() as stack:
        for target, name, value in [
            (torch.Tensor, "cuda", lambda self, *a, **k: self),
            (torch.nn.Module, "cuda", lambda self, *a, **k: self),
            (torch.Tensor, "half", _float_half),
            (torch.nn.Module, "half", lambda self: self),
            (torch.cuda, "Event", _WallClockEvent),
            (torch.cuda, "synchronize", lambda *a, **k: None),
            (utils, "CifarLoader", CpuCifarLoader),
            (utils, "evaluate", evaluate),
        ]:
            stack.enter_context(mock.patch.object(target, name, value))
        yield CpuCifarLoader


def run_airbench(data, epochs: float, precision: str, seed: int) -> dict:
    """airbench.train94 on ``data``; per-epoch and final (TTA level 0, 1, 2) validation accuracy."""
    import airbench
    from airbench import utils
    from airbench.lib_airbench94 import hyp, make_net94

    (X, y), (Xv, yv) = data
    record: list = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, images, labels in (("train.pt", X, y), ("test.pt", Xv, yv)):
            torch.save({"images": torch.from_numpy(images).permute(0, 2, 3, 1).contiguous(),
                        "labels": torch.from_numpy(labels), "classes": list(range(10))}, Path(tmp, name))
        with airbench_on_cpu(Path(tmp), record) as loader_class:
            torch.manual_seed(seed)
            loader = loader_class("", train=True, batch_size=hyp["opt"]["batch_size"], aug=hyp["aug"], altflip=True)
            test_loader = loader_class("", train=False, batch_size=2000)
            start = time.perf_counter()
            make_net = bf16_forward(make_net94) if precision == "bfloat16" else make_net94
            model = airbench.train94(loader, epochs=epochs, tta_level=0, make_net=make_net, verbose=True)
            seconds = time.perf_counter() - start
            final = {f"tta_level_{level}": utils.evaluate(model, test_loader, level) for level in (0, 1, 2)}
    per_epoch = [acc for level, acc in record[:math.ceil(epochs)]]
    return {"per_epoch": per_epoch, "final": final, "fit_seconds": seconds}


def run_recipe(data, epochs: float, precision: str, seed: int) -> dict:
    """The recipe at airbench's configuration, fitted on ``data``; per-epoch (members' BatchNorm
    running statistics, no TTA) and final (``predict_proba``) validation accuracy."""
    (X, y), (Xv, yv) = data
    clf = cifar10_airbench(epochs=epochs, precision=precision, random_state=seed, verbose=0)
    per_epoch: list[float] = []
    original_fit = nets.fit

    def fit_watched(model, train, val=None, **kwargs):
        normalize = kwargs["config"].normalize
        rows = torch.as_tensor(train[0])

        def watch(epoch, history):
            # the epoch's weights with their own BatchNorm statistics, as after training
            probe = copy.deepcopy(model)
            batches = population_batches(rows, 1024, normalize, model_memory_format(probe), max_batches=8)
            nets.recompute_population_statistics(probe, batches)
            per_epoch.append(nets.evaluate(probe, Xv, yv, normalize=normalize)[1])
            print(f"recipe epoch {epoch}: validation accuracy {per_epoch[-1]:.4f}", flush=True)
        return original_fit(model, train, val=val, on_epoch_end=watch, **kwargs)

    with mock.patch.object(nets, "fit", fit_watched):
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
    if not per_epoch:
        raise RuntimeError("the recipe's member trained outside this process: run with n_jobs=1")
    final = {}
    for tta in (None, "flip", clf.tta):
        proba = clf.predict_proba(Xv, tta=tta)
        final[f"tta_{getattr(tta, '__name__', tta)}"] = float((clf.classes_[proba.argmax(1)] == yv).mean())
    return {"per_epoch": per_epoch, "final": final, "fit_seconds": seconds}


def main(argv: list[str] | None = None) -> dict:
    parser = _report.parser(__doc__)
    _report.add_cifar10_argument(parser)
    _report.add_out_argument(parser, "airbench_fidelity")
    parser.add_argument("--which", choices=("both", "airbench", "recipe"), default="both")
    parser.add_argument("--epochs", type=float, default=9.9, help="training epochs of both (airbench's: 9.9)")
    parser.add_argument("--precision", choices=PRECISIONS, default="bfloat16",
                        help="bfloat16 autocast (the recipe's on a CPU with native bf16) or float32 for both")
    parser.add_argument("--train-subset", type=int, default=None, help="train on this many random images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = _report.cifar10_split(_report.cifar10_folder(parser, args), args.train_subset, args.seed,
                                 val_per_class=1000)
    print(f"training on {len(data[0][1])} images, validating on {len(data[1][1])}; {args.precision}; "
          f"{torch.get_num_threads()} threads", flush=True)
    runs = {}
    for side, run in (("airbench", run_airbench), ("recipe", run_recipe)):
        if args.which in ("both", side):
            runs[side] = run(data, args.epochs, args.precision, args.seed)
            print(side, json.dumps(runs[side]), flush=True)
    n_epochs = max(len(r["per_epoch"]) for r in runs.values())
    rows = [[epoch + 1] + [r["per_epoch"][epoch] if epoch < len(r["per_epoch"]) else None for r in runs.values()]
            for epoch in range(n_epochs)]
    table = _report.markdown_table(["epoch"] + [f"{side} validation accuracy" for side in runs], rows)
    finals = _report.markdown_table(["run", "final", "accuracy", "fit s"],
                                    [[side, name, acc, round(r["fit_seconds"])]
                                     for side, r in runs.items() for name, acc in r["final"].items()])
    _report.write_report(args.out, "airbench_fidelity", table + "\n\n" + finals, {"args": vars(args), "runs": runs})
    return runs


if __name__ == "__main__":
    main()
