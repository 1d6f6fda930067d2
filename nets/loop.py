"""The training loop: epochs of :class:`nets.step.TrainStep` for ``k >= 1`` members at once.

:func:`nets.fit` runs it for one model (:class:`SingleModel`); the ensemble's vectorised
engine runs it for k stacked members. Per member it keeps what makes a member: its own
minibatch order (its generator draws one permutation of its rows per epoch, as ``nets.fit``
would draw for it alone), its history, its divergence, its early stopping and snapshot; and
after training it runs Algorithm 2 of the BatchNorm paper with the member's final weights.

The data path follows airbench: the whole (uint8) dataset sits on the device, every epoch
draws one permutation per member, batches are index slices converted on the fly, with no
per-image Python work.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from nets.batches import population_batches
from nets.batchnorm import normalisation_parameters, recompute_population_statistics, restart_population_statistics
from nets.config import TrainConfig
from nets.early_stopping import EarlyStopping
from nets.pacing import Deadline
from nets.penalties import decay_parameters
from nets.precision import training_precision
from nets.snapshots import SnapshotCollector
from nets.step import TrainStep

__all__ = ["History", "DivergenceError", "Members", "SingleModel", "MemberResult", "schedule_steps", "train_members"]

Validate = Callable[[], tuple[Sequence[float | None], Sequence[float | None]]]


class DivergenceError(RuntimeError):
    """The training loss became NaN or Inf.

    Parameters
    ----------
    epoch : int
        The epoch (0-based) where it happened, kept in ``epoch``.
    loss : float
        The loss, kept in ``loss``.
    """

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch}: loss is {loss} "
                         f"(try a smaller lr or stronger weight decay)")
        self.epoch = epoch
        self.loss = loss

    def __reduce__(self):  # picklable with its fields (it crosses process boundaries)
        return type(self), (self.epoch, self.loss)


@dataclass
class History:
    """Per-epoch record of a fit (epochs are 0-based list indices).

    Parameters
    ----------
    loss, acc : list of float
        The mean training cross-entropy and accuracy of each epoch (penalties excluded; with
        label-mixing augmentation, against the mixed soft targets and their argmax).
    val_loss, val_acc : list of float
        The same on the validation rows after each epoch (empty without them).
    seconds : list of float
        The wall time of each epoch.
    best_epoch : int or None
        The epoch with the best monitored validation metric (early stopping's, else val_loss;
        None without validation).
    stopped_epoch : int or None
        The last epoch when early stopping or the time budget ended training before
        ``epochs``, else None.
    snapshot_steps : list of int
        With ``snapshots``, the step counts after which the networks were taken
        (:mod:`nets.snapshots`).
    """

    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    snapshot_steps: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-safe dict of plain lists, floats, ints and None.

        Returns
        -------
        dict
            One entry per field.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Rebuild a record from :meth:`to_dict`'s dict.

        Parameters
        ----------
        d : dict
            One entry per field.

        Returns
        -------
        History
            The record.
        """
        return cls(**{k: (list(v) if isinstance(v, list) else v) for k, v in d.items()})


class Members(Protocol):
    """k networks trained together. ``size``: k; ``memory_format``: layout of their 4-d inputs."""

    size: int
    memory_format: torch.memory_format

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(k*B) x ... float input (member m's rows m*B..(m+1)*B-1) -> k x B x K logits."""

    def parameter_groups(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """The leaf tensors training updates: (weights that decay and l1 apply to, BatchNorm
        parameters, the rest)."""

    def train(self, mode: bool = True) -> None:
        """Switch every member to training (True) or eval (False) mode."""

    def restart_statistics(self) -> None:
        """:func:`nets.restart_population_statistics` for every member."""

    def member(self, m: int) -> nn.Module:
        """A module holding member ``m``'s current weights and buffers."""


class SingleModel:
    """:class:`Members` of size 1: one ``nn.Module`` trained in place."""

    size = 1

    def __init__(self, model: nn.Module, memory_format: torch.memory_format) -> None:
        self.model, self.memory_format = model, memory_format

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).unsqueeze(0)

    def parameter_groups(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        decayed, normalisation = decay_parameters(self.model), normalisation_parameters(self.model)
        ids = {id(p) for p in decayed + normalisation}
        return decayed, normalisation, [p for p in self.model.parameters() if id(p) not in ids]

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def restart_statistics(self) -> None:
        restart_population_statistics(self.model)

    def member(self, m: int) -> nn.Module:
        return self.model


@dataclass
class MemberResult:
    """One member after training: its ``model`` (eval mode; None if it diverged), its
    ``history``, and the epoch and loss where it diverged (None if it did not). With
    ``snapshots``, ``snapshots`` holds the networks taken from its run (``model`` is the last)."""

    model: nn.Module | None
    history: History
    diverged_epoch: int | None = None
    diverged_loss: float | None = None
    snapshots: list[nn.Module] = field(default_factory=list)


@contextlib.contextmanager
def _global_rng(generators: Sequence[torch.Generator], device: torch.device):
    """With generators of their own, torch's global RNG (drawn by torch-RNG dropout masks) runs
    from a seed drawn from member 0's generator, and is restored afterwards; every member's
    generator spends its first draw alike, so member m's permutations do not depend on k.
    With torch's global generator itself (``generator=None``) nothing is forked: the run
    advances it."""
    if generators[0] is torch.default_generator:
        yield
        return
    seeds = [int(torch.randint(2**62, (1,), generator=g)) for g in generators]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seeds[0])
        yield


def schedule_steps(n: int, config: TrainConfig) -> tuple[int, int]:
    """Steps per epoch and steps of the lr schedule for ``n`` training rows under ``config``
    (``epochs`` may be fractional: the last epoch is cut short)."""
    full_batches_only = config.drop_last and n >= config.batch_size
    steps_per_epoch = n // config.batch_size if full_batches_only else math.ceil(n / config.batch_size)
    return steps_per_epoch, max(1, round(config.epochs * steps_per_epoch))


def train_members(members: Members, X: torch.Tensor, y: torch.Tensor, config: TrainConfig, *,
                  generators: Sequence[torch.Generator], n_classes: int,
                  train_rows: torch.Tensor | None = None, augment_generator: Any = None,
                  validate: Validate | None = None, stoppers: Sequence[EarlyStopping | None] | None = None,
                  on_epoch_end: Callable[[int, list[History]], None] | None = None,
                  pace: Deadline | None = None) -> list[MemberResult]:
    """Train ``members`` for ``config.epochs`` epochs; returns one :class:`MemberResult` each.

    Parameters
    ----------
    members : Members
        The k networks.
    X, y : torch.Tensor
        All rows (uint8 images N x C x H x W or float N x ...) and int64 labels N, on
        ``config.device``.
    config : TrainConfig
        The options.
    generators : sequence of k torch.Generator
        Member m's minibatch order; ``torch.default_generator`` (torch's global one, what
        :func:`conventions.as_generator` makes of None) only with k = 1.
    n_classes : int
        K, the width of the logits.
    train_rows : torch.Tensor, optional
        k x n int64 row indices of each member's bag (repeats allowed); None: every member
        trains on all of ``X``.
    augment_generator : torch.Generator or None
        Drives the augmentation of every minibatch.
    validate : callable, optional
        Called in eval mode after every epoch: (k validation losses, k accuracies), None for
        a member without validation rows.
    stoppers : sequence of k EarlyStopping or None, optional
        Member m's early stopping on its validation metric (needs ``validate``).
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, histories)`` after every epoch.
    pace : Deadline, optional
        Re-plans the number of steps during training so that they end by this deadline
        (:mod:`nets.pacing`); ``config.epochs`` is then the first plan.

    Returns
    -------
    list of MemberResult
        One per member, in order.

    Notes
    -----
    Members whose epoch loss is NaN/Inf stop there and come back diverged; early-stopped
    members stop when their stopper says so; the time budget stops everyone. Members that
    stopped keep being stepped with the others (their stacked weights cannot sit out), but
    their snapshot, not their later weights, is what they return. With ``config.snapshots``
    each member returns the networks taken from its run (:mod:`nets.snapshots`).
    """
    k = members.size
    stoppers = list(stoppers) if stoppers is not None else [None] * k
    if config.snapshots is not None and any(s is not None for s in stoppers):
        raise ValueError(f"early stopping would cut short the schedule that snapshots={config.snapshots!r} "
                         "takes its networks from: train without early stopping")
    device = X.device
    n = X.shape[0] if train_rows is None else train_rows.shape[1]
    batch_size = config.batch_size
    steps_per_epoch, total_steps = schedule_steps(n, config)
    step = TrainStep(config, members.forward, *members.parameter_groups(), k, n_classes, total_steps,
                     training_precision(config.precision, device), members.memory_format)
    collector = SnapshotCollector(step.cycles, k) if step.cycles is not None else None
    histories = [History() for _ in range(k)]
    for stopper in stoppers:
        if stopper is not None:
            stopper.reset()
    active = [True] * k
    diverged: dict[int, tuple[int, float]] = {}  # member -> (epoch, loss)
    show_bar = config.verbose > 0 and sys.stderr.isatty()
    start = time.perf_counter()
    # one-run ensembles take their networks at steps laid out at the start: their horizon stays
    pacer = pace.start(step, steps_per_epoch, device) if pace is not None and step.cycles is None else None
    with _global_rng(generators, device):
        for epoch in itertools.count():  # until the steps of the (possibly re-planned) horizon are done
            t0 = time.perf_counter()
            members.train(True)
            members.restart_statistics()  # exact-average BatchNorms: this epoch's batches only
            orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
            loss_sum = torch.zeros(k, device=device)
            correct = torch.zeros(k, device=device, dtype=torch.long)
            seen = 0
            bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}", leave=config.verbose > 1, disable=not show_bar)
            for i in range(0, min(n, steps_per_epoch * batch_size), batch_size):
                if step.steps_done >= step.total_steps:  # a fractional last epoch
                    break
                rows = orders[:, i:i + batch_size]
                if train_rows is not None:
                    rows = torch.gather(train_rows, 1, rows)  # k x B row indices of X
                batch_loss, batch_correct = step(X[rows.flatten()], y[rows], augment_generator)
                if collector is not None:
                    collector.after_step(step.steps_done, members)
                if pacer is not None:
                    pacer.after_step(step)
                seen += rows.shape[1]  # rows trained on this epoch (fewer in a fractional last one)
                loss_sum += batch_loss * rows.shape[1]
                correct += batch_correct
                bar.update(1)
            step.end_epoch()
            epoch_loss = (loss_sum / seen).tolist()  # one host sync per epoch, not per step
            bar.set_postfix(loss=f"{epoch_loss[0]:.4f}")
            bar.close()
            for m in range(k):
                if active[m] and not math.isfinite(epoch_loss[m]):
                    diverged[m] = (epoch, epoch_loss[m])
                    active[m] = False
            val_losses, val_accs = [None] * k, [None] * k
            if validate is not None and any(active):
                members.train(False)
                val_losses, val_accs = validate()
            seconds = time.perf_counter() - t0
            correct_list = correct.tolist()
            for m in range(k):
                if not active[m]:
                    continue
                history = histories[m]
                history.loss.append(epoch_loss[m])
                history.acc.append(correct_list[m] / seen)
                history.seconds.append(seconds)
                if val_losses[m] is not None:
                    history.val_loss.append(val_losses[m])
                    history.val_acc.append(val_accs[m])
                if stoppers[m] is not None and val_losses[m] is not None:
                    monitored = history.val_loss[-1] if stoppers[m].monitor == "val_loss" else history.val_acc[-1]
                    if stoppers[m].step(epoch, monitored, members.member(m)) and step.steps_done < step.total_steps:
                        history.stopped_epoch = epoch
                        active[m] = False
            if on_epoch_end is not None:
                on_epoch_end(epoch, histories)
            if config.time_budget is not None and time.perf_counter() - start > config.time_budget \
                    and step.steps_done < step.total_steps:
                for m in range(k):
                    if active[m]:
                        histories[m].stopped_epoch = epoch
                        active[m] = False
            if not any(active) or step.steps_done >= step.total_steps:
                break
    return [_finish(members, m, histories[m], stoppers[m], diverged, X, train_rows, config, collector)
            for m in range(k)]


def _finish(members: Members, m: int, history: History, stopper: EarlyStopping | None,
            diverged: dict[int, tuple[int, float]], X: torch.Tensor, train_rows: torch.Tensor | None,
            config: TrainConfig, collector: SnapshotCollector | None) -> MemberResult:
    """Member m's result: its best snapshot (or the networks taken from its run), its BatchNorm
    population statistics recomputed."""
    if m in diverged:
        return MemberResult(None, history, *diverged[m])
    model = members.member(m)
    if stopper is not None:
        stopper.restore(model)
        history.best_epoch = stopper.best_epoch_
    elif history.val_loss:
        history.best_epoch = int(np.argmin(history.val_loss))
    rows = X if train_rows is None else X[train_rows[m]]
    # E[x], Var[x] of the final weights (BatchNorm paper, Algorithm 2)
    batches = population_batches(rows, config.batch_size, config.normalize, members.memory_format)
    if collector is None:
        recompute_population_statistics(model, batches)
        return MemberResult(model.eval(), history)
    history.snapshot_steps = list(collector.steps)
    networks = collector.networks(m, model, batches)
    return MemberResult(networks[-1], history, snapshots=networks)
