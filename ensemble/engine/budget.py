"""Keeping training to a wall-time budget: a timing probe on the data, a first plan, a deadline.

``BaggedNetClassifier(time_budget=S)`` must finish ``fit`` in ``S`` seconds, the probe
included, on whatever machine it runs: neither later nor much earlier. The probe times a few
training steps of one fresh member on the real rows, with the real augmentation, thread count
and precision (after warm-up steps, which pay oneDNN's and the allocator's first-call costs),
and one inference forward. The first plan's epochs fill what is left of the budget after the
work that is not training steps: each member's data-dependent initialisation and BatchNorm's
population statistics (Algorithm 2), its per-epoch validation, and, once all are trained, the
held-out predictions that choose the TTA and fit the temperature. Members that run one after
another divide the budget; workers running side by side share it.

A probe of a few steps is a rough measure of a long run (the first calls, other processes, a
stacked engine's wider steps), so the plan is only where training starts: the members train
towards a :class:`nets.Deadline` (:func:`deadline`) and re-plan their remaining steps from
the step times they measure (:mod:`nets.pacing`), the costs after training rescaled by the
same measured speed.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from nets.batches import POPULATION_BATCHES, initialise_from_data, set_memory_format
from nets.loop import SingleModel
from nets.pacing import Deadline
from nets.precision import training_precision
from nets.step import TrainStep

from .members import TrainSetup, build_member, threads_per_worker, torch_threads
from .plans import MemberPlan

__all__ = ["Probe", "probe_speed", "size_epochs", "budgeted_epochs", "deadline"]


@dataclass(frozen=True)
class Probe:
    """Measured costs on this machine: seconds per training step (one batch), per inference
    image, and of one member's data-dependent initialisation."""

    step_seconds: float
    inference_seconds_per_image: float
    init_seconds: float


def probe_speed(setup: TrainSetup, X: np.ndarray, y: np.ndarray, threads: int, steps: int = 4,
                warmup: int = 2, clock: Callable[[], float] = time.perf_counter) -> Probe:
    """Time ``steps`` training steps (after ``warmup`` untimed ones) and one inference forward of a
    fresh member on rows of ``X`` (prepared, uint8 or float) with ``setup``'s options, on ``clock``."""
    config = setup.config
    batch = config.batch_size
    with torch_threads(threads):
        model = build_member(setup, seed=0).to(config.device)
        memory_format = set_memory_format(model, config.channels_last)
        rows = np.arange((warmup + steps) * batch) % len(X)
        X_dev = torch.as_tensor(X[rows]).to(config.device)
        y_dev = torch.as_tensor(y[rows]).to(config.device)
        start = clock()
        initialise_from_data(model, torch.as_tensor(X[:: max(1, len(X) // 5000)]).to(config.device),
                             config.normalize, memory_format)
        init_seconds = clock() - start
        members = SingleModel(model, memory_format)
        step = TrainStep(dataclasses.replace(config, lookahead=False, snapshots=None), members.forward,
                         *members.parameter_groups(),
                         1, setup.n_classes, warmup + steps, training_precision(config.precision, config.device),
                         memory_format)
        generator = torch.Generator().manual_seed(0)
        model.train()
        for i in range(warmup + steps):
            if i == warmup:
                start = clock()
            part = slice(i * batch, (i + 1) * batch)
            step(X_dev[part], y_dev[part][None], generator)
        step_seconds = (clock() - start) / steps
        model.eval()
        inputs = step.inputs(X_dev[:batch], y_dev[:batch][None], generator)[0]
        with torch.no_grad():
            model(inputs)
            start = clock()
            model(inputs)
        inference = (clock() - start) / len(inputs)
    return Probe(step_seconds, inference, init_seconds)


def size_epochs(seconds: float, probe: Probe, *, train_rows: int, batch_size: int, members: int, workers: int,
                validation_rows: int, heldout_views: int, max_epochs: float, networks: int = 1) -> dict:
    """The first plan: epochs per member (a fraction allowed) that fit ``seconds`` of wall time.

    Parameters
    ----------
    seconds : float
        What is left of the budget.
    probe : Probe
        This machine's measured costs.
    train_rows, batch_size : int
        Rows per member and epoch, and rows per step.
    members, workers : int
        Members to train and how many train side by side.
    validation_rows : int
        Rows each member validates on after every epoch (0 without early stopping).
    heldout_views : int
        Inference inputs per member after training (its held-out rows times the TTA views
        scored on them).
    max_epochs : float
        The cap (the estimator's ``epochs``).
    networks : int
        Networks each member's run yields (an ensemble from one run: its members), each with
        its own BatchNorm statistics and held-out predictions after training.

    Returns
    -------
    dict
        The plan: ``epochs`` per member (a fraction allowed); the ``waves`` of members that
        train one after another; the seconds planned per member before its steps
        (``init_seconds``), after them (``statistics_seconds``: BatchNorm's population
        statistics) and per epoch (``epoch_seconds``), and once after training
        (``after_seconds``: every member's held-out predictions), with the probe's
        measurements. The estimator keeps it as ``budget_plan_``.

    Raises
    ------
    ValueError
        When the budget does not cover even a tenth of an epoch.
    """
    waves = math.ceil(members / workers)
    inference = probe.inference_seconds_per_image
    statistics = inference * networks * min(train_rows, POPULATION_BATCHES * batch_size)
    after = inference * heldout_views * members * networks
    per_member = (seconds - after) / waves - probe.init_seconds - statistics
    epoch = probe.step_seconds * math.ceil(train_rows / batch_size) + inference * validation_rows
    epochs = per_member / epoch
    if epochs < 0.1:
        fixed = probe.init_seconds + statistics + after / waves
        raise ValueError(f"time_budget leaves {max(seconds / waves, 0):.1f} s per member on this machine, which does "
                         f"not cover a tenth of an epoch ({epoch:.1f} s per epoch, {fixed:.1f} s of fixed costs): "
                         "give more time, fewer members or fewer rows")
    return {"epochs": min(float(max_epochs), round(epochs, 2)), "seconds_left": seconds, "waves": waves,
            "statistics_seconds": statistics, "after_seconds": after, "epoch_seconds": epoch,
            **dataclasses.asdict(probe)}


def budgeted_epochs(budget: float, spent: float, setup: TrainSetup, X: np.ndarray, y: np.ndarray,
                    plans: list[MemberPlan], *, workers: int, heldout_views: int, max_epochs: float,
                    networks: int = 1, verbose: int = 0, clock: Callable[[], float] = time.perf_counter) -> dict:
    """The plan of :func:`size_epochs` for what is left of ``budget`` seconds after ``spent``
    seconds and a timing probe of ``setup`` on ``(X, y)``.

    Parameters
    ----------
    budget, spent : float
        The estimator's ``time_budget``, and the seconds ``fit`` has spent before this call.
    setup : TrainSetup
        The members' setup (its config's batch size, augmentation, precision).
    X, y : np.ndarray
        Prepared rows and encoded labels.
    plans : list of MemberPlan
        The members' bags.
    workers : int
        How many members train side by side.
    heldout_views : int
        Inference inputs per held-out row after training (TTA views scored there; 0 when the
        held-out rows are not scored).
    max_epochs : float
        The cap.
    networks : int
        Networks each plan's run yields (see :func:`size_epochs`).
    verbose : int
        > 0: print the plan.
    clock : callable
        Seconds now (a test's fake clock).
    """
    start = clock()
    probe = probe_speed(setup, X, y, threads=threads_per_worker(workers), clock=clock)
    heldout = max(len(p.val_indices) for p in plans)
    left = budget - spent - (clock() - start)
    plan = size_epochs(left, probe, train_rows=max(len(p.train_indices) for p in plans),
                       batch_size=setup.config.batch_size, members=len(plans), workers=workers,
                       validation_rows=heldout if setup.early_stopping else 0,
                       heldout_views=heldout * heldout_views, max_epochs=max_epochs, networks=networks)
    if verbose:
        print(f"time_budget {budget:g} s: {spent + clock() - start:.1f} s spent on data and "
              f"the probe ({plan['step_seconds']:.3f} s per step of {setup.config.batch_size}); per member "
              f"{plan['epoch_seconds']:.1f} s per epoch and {plan['init_seconds'] + plan['statistics_seconds']:.1f} s "
              f"of fixed costs, {plan['after_seconds']:.1f} s after training: {plan['epochs']:g} epochs to start "
              "with, re-planned from the measured step times", flush=True)
    return plan


def deadline(plan: dict, end: float, max_epochs: float, clock: Callable[[], float] = time.perf_counter) -> Deadline:
    """The :class:`nets.Deadline` the members of :func:`budgeted_epochs`'s ``plan`` train
    towards: ``fit`` ends at ``end`` on ``clock``, no member trains beyond ``max_epochs``."""
    return Deadline(end=end, after=plan["after_seconds"], run_after=plan["statistics_seconds"],
                    run_before=plan["init_seconds"], runs_left=plan["waves"], step_seconds=plan["step_seconds"],
                    max_epochs=max_epochs, clock=clock)
