"""Running the members' training: in this process, or in joblib (loky, dask) worker processes.

:func:`train` takes the members still to train, their batch source and a :class:`Run` (the
engine, devices, workers), and returns their outcomes by index. It picks the work units and
ships them:

- in-memory rows (:class:`~ensemble.engine.sources.ArraySource`): one member per task for
  ``engine="joblib"``; one task per device, each training its share of members at once, for
  the stacked engines ``"vmap"`` and ``"grouped"``; every member in this process for ``"loop"``;
- a stream (:class:`~ensemble.engine.sources.StreamSource`): every member in this process,
  each decoded batch training all of them, for ``"loop"``; for ``"joblib"`` the members are
  split into ``n_jobs`` groups, and each worker process reads the whole stream for its group
  (on a cluster the folder must be on a filesystem every worker sees): ``n_jobs`` decodes of
  every image per epoch instead of one, which pays only where decoding is cheap beside the
  members' steps.

It turns every way a run can end badly into one typed error that names the members and says
how to resume:

- a member that raised: the worker's :class:`~ensemble.failures.MemberFailedError`, which
  carries the member indices across the process boundary;
- a worker process that died (killed, out of memory): each worker notes its process id in a
  marker file as it starts a member, and the members whose process no longer exists are named;
- Ctrl-C: :class:`~ensemble.failures.FitInterrupted` after the workers are shut down.

Worker processes unpickle :func:`train_unit` from here, so this module imports torch and
:mod:`nets` but not scikit-learn.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
from tqdm.auto import tqdm

from nets.precision import training_precision

from ..failures import FitInterrupted, MemberFailedError
from .members import (
    MemberOutcome,
    TrainSetup,
    threads_per_worker,
    torch_threads,
    train_member,
    with_runs_left,
    write_marker,
)
from .plans import MemberPlan
from .sources import ArraySource, StreamSource
from .streamed import train_stream
from .vectorized import train_vectorized

__all__ = ["ENGINES", "STACKED", "Run", "train", "train_unit"]

#: The engines that stack every member into one model (the estimator's ``engine`` values).
STACKED = ("vmap", "grouped")
#: Every engine: members one after another in this process, one per joblib task, or stacked.
ENGINES = ("loop", "joblib", *STACKED)

# How joblib's loky backend, concurrent.futures and dask report a worker process that died.
_WORKER_DIED = ("TerminatedWorkerError", "BrokenProcessPool", "KilledWorker", "WorkerLostError")


@dataclass(frozen=True)
class Run:
    """How one ``fit`` runs its members.

    Parameters
    ----------
    engine : {"loop", "joblib", "vmap", "grouped"}
        Members one after another in this process; one member per joblib task; or all members
        of a device stacked into one model (:mod:`ensemble.engine.vectorized`).
    devices : tuple of str
        Training devices: joblib spreads members over them; a stacked engine runs one worker
        per device (in this process when there is one device).
    n_jobs, backend : int or None, str or None
        joblib's worker count and backend, for ``engine="joblib"``.
    members_per_chunk : int or None
        A stacked engine's chunk size.
    checkpoint_dir : str or None
        Where finished members are saved (named in resume hints).
    n_members : int
        The ensemble's size (members already done count towards the progress bar).
    verbose : int
        > 0: a progress bar over members.
    """

    engine: str
    devices: tuple[str, ...]
    n_jobs: int | None = None
    backend: str | None = None
    members_per_chunk: int | None = None
    checkpoint_dir: str | None = None
    n_members: int = 1
    verbose: int = 0


def train_unit(plans: list[MemberPlan], source: ArraySource | StreamSource, setup: TrainSetup, engine: str,
               members_per_chunk: int | None = None) -> list[tuple[int, MemberOutcome]]:
    """A worker's task: ``plans`` one after another, all at once with a stacked engine (one
    worker per device), or together on one pass over a stream. Returns ``(member index,
    outcome)`` pairs."""
    if isinstance(source, StreamSource):
        return sorted(train_stream(plans, source, setup).items())
    X, y = source.X, source.y
    if engine not in STACKED:
        return [(plan.index, train_member(plan, X, y, setup)) for plan in plans]
    for plan in plans:
        write_marker(setup.markers_dir, plan.index)
    try:
        with torch_threads(setup.threads):
            outcomes = train_vectorized(plans, X, y, dataclasses.replace(setup, strategy=engine),
                                        members_per_chunk=members_per_chunk)
    except Exception as e:
        others = ", ".join(str(p.index) for p in plans[1:])
        raise MemberFailedError(f"member {plans[0].index} failed (trained together with members {others or 'none'}): "
                                f"{e.__class__.__name__}: {e}\n{traceback.format_exc()}",
                                [p.index for p in plans]) from None
    return sorted(outcomes.items())


def _on_device(setup: TrainSetup, device: str) -> TrainSetup:
    """``setup`` for a worker on ``device``; bf16 resolved here, so a fallback warns in this process."""
    config = setup.config
    config = dataclasses.replace(config, device=device, precision=training_precision(config.precision, device))
    return dataclasses.replace(setup, config=config)


def train(todo: list[MemberPlan], source: ArraySource | StreamSource, setup: TrainSetup,
          run: Run) -> dict[int, MemberOutcome]:
    """Train the members of ``todo`` from ``source`` (``run.n_members - len(todo)`` others are
    already done); returns their outcomes by member index.

    ``setup`` is shared by all members; its device and threads are set per worker here.
    """
    if not todo:
        return {}
    devices = list(run.devices)
    bar = tqdm(total=run.n_members, initial=run.n_members - len(todo), desc="members", unit="member",
               disable=True if not run.verbose else None)
    try:
        if run.engine in STACKED and len(devices) == 1:
            local = dataclasses.replace(_on_device(setup, devices[0]), threads=threads_per_worker(1),
                                        strategy=run.engine)
            with torch_threads(local.threads):
                return train_vectorized(todo, source.X, source.y, local, members_per_chunk=run.members_per_chunk,
                                        on_member_done=lambda _: bar.update())
        backend = "sequential" if run.engine == "loop" else run.backend
        n_workers = 1 if run.engine == "loop" else min(joblib.effective_n_jobs(run.n_jobs), len(todo))
        if isinstance(source, StreamSource):  # groups of members, each reading the whole stream
            units = [(todo[i::n_workers], devices[i % len(devices)]) for i in range(n_workers)]
        elif run.engine in STACKED:  # one worker process per device, each training its share of members at once
            units = [(todo[i::len(devices)], devices[i]) for i in range(len(devices))]
            units = [(plans, device) for plans, device in units if plans]
            n_workers = len(units)
        else:  # one member per task, spread over the devices
            units = [([plan], devices[i % len(devices)]) for i, plan in enumerate(todo)]
        hint = lambda outcomes: _resume_hint(todo, outcomes, run, isinstance(source, StreamSource))
        return _train_parallel(units, source, setup, run, n_workers, backend, bar, hint)
    finally:
        bar.close()


def _train_parallel(units, source: ArraySource | StreamSource, setup: TrainSetup, run: Run, n_workers: int,
                    backend: str | None, bar, hint: Callable[[dict[int, MemberOutcome]], str]) -> dict[int, MemberOutcome]:
    """Run work units (plans, device) in joblib workers; name the members of any that fail."""
    todo = [plan for plans, _ in units for plan in plans]
    # Inside checkpoint_dir when there is one (visible to tools), else a temporary folder.
    if run.checkpoint_dir is not None:
        markers_dir = str(Path(run.checkpoint_dir, ".running"))
        os.makedirs(markers_dir, exist_ok=True)
    else:
        markers_dir = tempfile.mkdtemp(prefix="augkit-members-")
    # A stream's DataLoader workers (per training worker) keep their cores.
    reserved = source.num_workers * n_workers if isinstance(source, StreamSource) else 0
    setup = dataclasses.replace(setup, markers_dir=markers_dir, threads=threads_per_worker(n_workers, reserved))
    outcomes: dict[int, MemberOutcome] = {}
    parallel = joblib.Parallel(n_jobs=n_workers, backend=backend, return_as="generator_unordered")
    # units start in order as workers free up: unit i is followed by ceil((len(units) - i) / n_workers) - 1 waves
    jobs = (joblib.delayed(train_unit)(plans, source, with_runs_left(_on_device(setup, device),
                                                                     math.ceil((len(units) - i) / n_workers)),
                                       run.engine, run.members_per_chunk)
            for i, (plans, device) in enumerate(units))
    try:
        epochs_done = 0
        for results in parallel(jobs):
            for index, outcome in results:
                outcomes[index] = outcome
                epochs_done += len(outcome.record.history.get("loss", [])) if outcome.record else 0
                bar.set_postfix_str(f"{epochs_done} epochs done", refresh=False)
                bar.update()
    except KeyboardInterrupt:
        raise FitInterrupted(f"fit was interrupted; the worker processes were shut down. {hint(outcomes)}") from None
    except MemberFailedError as e:
        raise MemberFailedError(f"{_first_line(e)}\n{hint(outcomes)}", e.members) from e
    except Exception as e:
        if e.__class__.__name__ not in _WORKER_DIED or "un-serialize" in str(e):
            raise
        lost = _dead_members(markers_dir, todo, outcomes)
        names = ", ".join(f"member {i}" for i in lost) or "a member"
        raise MemberFailedError(f"{names} did not finish: its worker process died ({e.__class__.__name__}: "
                                f"{_first_line(e)}).\n{hint(outcomes)}", lost) from e
    finally:
        shutil.rmtree(markers_dir, ignore_errors=True)
    return outcomes


def _dead_members(markers_dir: str, todo: list[MemberPlan], outcomes: dict[int, MemberOutcome]) -> list[int]:
    """Members that started in a worker process that no longer exists."""
    dead = []
    for plan in todo:
        if plan.index in outcomes:
            continue
        marker = Path(markers_dir, f"member_{plan.index:03d}.pid")
        try:
            pid = int(marker.read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.append(plan.index)
        except PermissionError:
            pass
    return dead


def _resume_hint(todo: list[MemberPlan], outcomes: dict[int, MemberOutcome], run: Run, stream: bool) -> str:
    finished = run.n_members - len(todo) + sum(o.record is not None for o in outcomes.values())
    if run.checkpoint_dir is None:
        return (f"{finished} of {run.n_members} members had finished but were not saved: pass "
                "checkpoint_dir=... to keep finished members on disk and resume=True to reuse them.")
    rest = ("to continue from the last epoch saved there" if stream else "to train only the missing ones")
    return (f"{finished} of {run.n_members} members are saved in {run.checkpoint_dir}; run "
            f"fit(X, y, checkpoint_dir={str(run.checkpoint_dir)!r}, resume=True) {rest}.")


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else ""
