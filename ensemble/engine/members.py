"""Training one member alone with :func:`nets.fit`: the unit of work a worker process runs.

Also what both engines share: the :class:`TrainSetup` of one ``fit``, how a member is built
from its seed, and the :class:`MemberOutcome` a worker sends back.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import nets

from ..failures import MemberFailedError
from .plans import MemberPlan
from .storage import MemberRecord, save_member

__all__ = ["TrainSetup", "MemberOutcome", "build_member", "train_member", "outcome_of", "available_cores",
           "threads_per_worker", "torch_threads", "write_marker", "with_runs_left"]


@dataclass(frozen=True)
class TrainSetup:
    """Everything shared by all members of one ``fit``.

    ``factory(input_shape=..., n_classes=...)`` builds a member; ``config`` is how it trains
    (its ``device`` is the worker's); members early-stop on their validation rows with
    ``patience`` when ``early_stopping``; ``threads`` torch threads per worker; finished
    members are saved to ``checkpoint_dir``; workers note their pid in ``markers_dir``;
    ``strategy`` is how a stacked engine runs its members (``"vmap"`` or ``"grouped"``);
    ``stream_seed`` draws a stream's epoch orders and crops (the same for every member);
    in-memory members re-plan their steps to meet ``deadline`` (a time budget's, or None).
    """

    factory: Callable[..., torch.nn.Module]
    input_shape: tuple[int, ...]
    n_classes: int
    config: nets.TrainConfig
    early_stopping: bool
    patience: int
    threads: int = 1
    checkpoint_dir: str | None = None
    markers_dir: str | None = None
    strategy: str = "vmap"
    stream_seed: int = 0
    deadline: nets.Deadline | None = None


@dataclass
class MemberOutcome:
    """What a worker sends back: the member's record, or None and the message of its divergence;
    for a stream, the rows it skipped as unreadable. A run that takes several members from one
    training (``config.snapshots``) sends them all in ``collected`` (``record`` is the last)."""

    record: MemberRecord | None
    message: str = ""
    skipped: tuple[int, ...] = ()
    collected: tuple[MemberRecord, ...] = ()

    @property
    def records(self) -> tuple[MemberRecord, ...]:
        """Every finished member this outcome holds (none when it diverged)."""
        return self.collected or ((self.record,) if self.record is not None else ())


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int, reserved: int = 0) -> int:
    """Torch threads per worker so that ``n_workers`` workers never oversubscribe the cores.

    The budget is this process's torch thread count (all cores by default), so a caller who
    called ``torch.set_num_threads(k)`` keeps members to ``k`` threads in all; ``reserved``
    cores are left to other processes (a stream's DataLoader workers, which decode photos
    while the members train: an OpenMP thread that shares its core waits at every barrier).
    """
    budget = min(available_cores(), torch.get_num_threads()) - reserved
    return max(1, budget // max(1, n_workers))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_member(setup: TrainSetup, seed: int) -> torch.nn.Module:
    """A fresh member whose initial weights and dropout masks depend on ``seed`` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = setup.factory(input_shape=tuple(setup.input_shape), n_classes=setup.n_classes)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"member factory must return a torch.nn.Module; got {type(model).__name__}")
    nets.set_dropout_seed(model, seed)
    return model


def with_runs_left(setup: TrainSetup, runs: int) -> TrainSetup:
    """``setup`` for a unit of work after which ``runs - 1`` more train one after another in its
    share of the deadline (unchanged without a deadline)."""
    if setup.deadline is None:
        return setup
    return dataclasses.replace(setup, deadline=dataclasses.replace(setup.deadline, runs_left=max(1, runs)))


def write_marker(markers_dir: str | None, index: int) -> None:
    """Note this process's id for member ``index``: the parent names the member of a worker that dies."""
    if markers_dir:
        Path(markers_dir, f"member_{index:03d}.pid").write_text(str(os.getpid()))


def record_of(plan: MemberPlan, model: torch.nn.Module, history: nets.History, index: int | None = None) -> MemberRecord:
    """The member's record: weights and buffers copied to the CPU, its bag, its history; its
    index is ``plan.index`` unless ``index`` says otherwise."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return MemberRecord(index=plan.index if index is None else index, seed=plan.seed, state=state,
                        train_indices=plan.train_indices, val_indices=plan.val_indices, history=history.to_dict())


def outcome_of(plan: MemberPlan, networks: list[torch.nn.Module], history: nets.History) -> MemberOutcome:
    """The outcome of a plan whose run trained ``networks``: one member, or (``config.snapshots``)
    the members taken from its run, numbered ``plan.index * len(networks) + j`` (``0 .. M-1``
    for the one plan of an ensemble from one run). They share the plan's seed, bag and history."""
    if len(networks) == 1:
        return MemberOutcome(record=record_of(plan, networks[0], history))
    records = tuple(record_of(plan, network, history, index=plan.index * len(networks) + j)
                    for j, network in enumerate(networks))
    return MemberOutcome(record=records[-1], collected=records)


def train_member(plan: MemberPlan, X: np.ndarray, y: np.ndarray, setup: TrainSetup) -> MemberOutcome:
    """Train member ``plan.index`` on its bag of ``(X, y)`` and save it the moment it finishes.

    ``X`` is the prepared ``N x ...`` array (joblib hands large arrays to workers as a read-only
    memory map, once); ``y`` holds encoded labels ``0..K-1``. Any error but divergence is
    raised as :class:`MemberFailedError` naming the member, with the traceback in its text.
    """
    write_marker(setup.markers_dir, plan.index)
    try:
        with torch_threads(setup.threads):
            model = build_member(setup, plan.seed)
            train = (X[plan.train_indices], y[plan.train_indices])
            use_val = setup.early_stopping and len(plan.val_indices) > 0
            val = (X[plan.val_indices], y[plan.val_indices]) if use_val else None
            stopper = nets.EarlyStopping(monitor="val_loss", patience=setup.patience) if use_val else None
            generator = torch.Generator().manual_seed(plan.seed)
            if setup.config.snapshots is None:
                networks = [model]
                history = nets.fit(model, train, val=val, early_stopping=stopper, config=setup.config,
                                   generator=generator, pace=setup.deadline)
            else:
                networks, history = nets.fit_snapshots(model, train, val=val, config=setup.config, generator=generator)
    except nets.DivergenceError as e:
        return MemberOutcome(record=None, message=str(e))
    except Exception as e:
        raise MemberFailedError(f"member {plan.index} failed: {e.__class__.__name__}: {e}\n{traceback.format_exc()}",
                                [plan.index]) from None
    outcome = outcome_of(plan, networks, history)
    if setup.checkpoint_dir:
        for record in outcome.records:
            save_member(Path(setup.checkpoint_dir), record)
    return outcome
