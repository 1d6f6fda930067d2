"""Training one member: the unit of work that joblib (or dask) ships to a worker process."""
from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import nets

from .storage import MemberRecord, save_member

__all__ = ["MemberPlan", "TrainSetup", "MemberOutcome", "build_member", "train_member", "train_unit",
           "threads_per_worker"]


@dataclass(frozen=True)
class MemberPlan:
    """Member ``index``'s own randomness: its torch ``seed`` (initial weights, minibatch order,
    augmentation, dropout masks) and its bag: rows it trains on (with repeats when
    bootstrapping) and rows it validates / early-stops on (out-of-bag or held out)."""

    index: int
    seed: int
    train_indices: np.ndarray
    val_indices: np.ndarray


@dataclass
class TrainSetup:
    """Everything shared by all members of one ``fit``."""

    factory: Callable[..., torch.nn.Module]
    input_shape: tuple[int, ...]
    n_classes: int
    fit_kwargs: dict
    early_stopping: bool
    patience: int
    threads: int = 1
    checkpoint_dir: str | None = None
    markers_dir: str | None = None
    vectorize: str = "vmap"


@dataclass
class MemberOutcome:
    """What a worker sends back: the record, or the epoch at which the member diverged."""

    record: MemberRecord | None
    diverged_epoch: int | None = None
    message: str = ""


def threads_per_worker(n_workers: int) -> int:
    """Torch threads per worker so that ``n_workers`` workers never oversubscribe the cores.

    The budget is this process's torch thread count (all cores by default), so a caller who
    called ``torch.set_num_threads(k)`` keeps members to ``k`` threads in all.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, torch.get_num_threads()) // max(1, n_workers))


@contextlib.contextmanager
def _torch_threads(n: int):
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


def _write_marker(markers_dir: str | None, index: int) -> None:
    # The parent reads these to name the member whose worker process died.
    if markers_dir:
        Path(markers_dir, f"member_{index:03d}.pid").write_text(str(os.getpid()))


def train_member(plan: MemberPlan, X: np.ndarray, y: np.ndarray, setup: TrainSetup) -> MemberOutcome:
    """Train member ``plan.index`` on its bag of ``(X, y)`` and save it the moment it finishes.

    ``X`` is the prepared ``N x ...`` array (joblib hands large arrays to workers as a read-only
    memory map, once); ``y`` holds encoded labels ``0..K-1``.
    """
    _write_marker(setup.markers_dir, plan.index)
    try:
        with _torch_threads(setup.threads):
            model = build_member(setup, plan.seed)
            train = (X[plan.train_indices], y[plan.train_indices])
            use_val = setup.early_stopping and len(plan.val_indices) > 0
            val = (X[plan.val_indices], y[plan.val_indices]) if use_val else None
            stopper = nets.EarlyStopping(monitor="val_loss", patience=setup.patience) if use_val else None
            history = nets.fit(model, train, val=val, early_stopping=stopper,
                               generator=torch.Generator().manual_seed(plan.seed), **setup.fit_kwargs)
    except nets.DivergenceError as e:
        return MemberOutcome(record=None, diverged_epoch=e.epoch, message=str(e))
    except Exception as e:
        # Re-raised with the member's name; the traceback text survives the trip across processes.
        raise RuntimeError(f"member {plan.index} failed: {e.__class__.__name__}: {e}\n"
                           f"{traceback.format_exc()}") from None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    record = MemberRecord(index=plan.index, seed=plan.seed, state=state,
                          train_indices=plan.train_indices, val_indices=plan.val_indices,
                          history=history.to_dict())
    if setup.checkpoint_dir:
        save_member(Path(setup.checkpoint_dir), record)
    return MemberOutcome(record=record)


def train_unit(plans: list[MemberPlan], X: np.ndarray, y: np.ndarray, setup: TrainSetup, vectorized: bool,
               members_per_chunk: int | None = None) -> list[tuple[int, MemberOutcome]]:
    """A worker's task: ``plans`` one after another, or all at once with the vectorised engine
    (one worker per device). Returns ``(member index, outcome)`` pairs."""
    if not vectorized:
        return [(plan.index, train_member(plan, X, y, setup)) for plan in plans]
    from .vectorized import train_vectorized

    for plan in plans:
        _write_marker(setup.markers_dir, plan.index)
    try:
        with _torch_threads(setup.threads):
            outcomes = train_vectorized(plans, X, y, setup, members_per_chunk=members_per_chunk)
    except Exception as e:
        others = ", ".join(str(p.index) for p in plans[1:])
        raise RuntimeError(f"member {plans[0].index} failed (trained together with members {others or 'none'}): "
                           f"{e.__class__.__name__}: {e}\n{traceback.format_exc()}") from None
    return sorted(outcomes.items())
