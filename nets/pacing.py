"""Keeping a training run to a deadline: re-planning its remaining steps from measured step times.

A timing probe before training measures a few steps; the machine then runs at another speed
(a probe that caught a slow first call, other processes on the cores, thermal limits, members
stacked k at a time). A run that trusts the probe ends early or late by that error. Instead,
every few steps the :class:`Pacer` measures the seconds per step of the recent steps and sets
the run's horizon (:meth:`nets.step.TrainStep.replan`) so that its last step ends when its
share of the time is spent; the lr schedule and the look-ahead continue from the progress
reached, without a jump.

A :class:`Deadline` describes the time: when the whole job must be done (``end``, on
``clock``), and the work that is not training steps, in seconds measured at the probe's speed
(``step_seconds``): ``after`` (once, after every run: held-out predictions, the TTA choice,
calibration), ``run_after`` (each run's own, after its steps: BatchNorm's population
statistics) and ``run_before`` (each later run's, before its steps: its data-dependent
initialisation). Those costs are rescaled by the speed measured since, the ratio of the seconds
per step measured to ``step_seconds``: a machine that trains two times slower than probed
predicts two times slower too. ``runs_left`` runs, this one included, train one after another
and share what is left equally; runs side by side (worker processes) each get the same deadline.

The run that starts at ``t_s`` ends its steps at

    t_s + (end - t_s - r (after + k run_after + (k - 1) run_before)) / k

with k = ``runs_left`` and r the measured speed ratio, evaluated again at every re-plan.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nets.step import TrainStep

__all__ = ["Deadline", "Pacer", "REPLANS", "WINDOW"]

REPLANS = 50  # re-plans over a run's first plan: often enough to follow a change of speed
WINDOW = 8  # most re-plan intervals the seconds per step are measured over: long enough to average noise


@dataclass(frozen=True)
class Deadline:
    """When a training run must end its steps (see the module docstring).

    Parameters
    ----------
    end : float
        The ``clock`` time when the whole job must be done.
    after, run_after, run_before : float
        Seconds at the probe's speed of the work after every run, after each run's steps and
        before each later run's steps.
    runs_left : int
        Runs that train one after another, this one included.
    step_seconds : float or None
        The probe's seconds per step, the speed the costs were measured at; None: the costs are
        taken as they are.
    max_epochs : float or None
        The most epochs a run may train however much time is left.
    clock : callable or None
        Seconds now; None: ``time.perf_counter`` (worker processes share its system-wide
        monotonic clock). Tests pass a fake clock.
    """

    end: float
    after: float = 0.0
    run_after: float = 0.0
    run_before: float = 0.0
    runs_left: int = 1
    step_seconds: float | None = None
    max_epochs: float | None = None
    clock: Callable[[], float] | None = None

    def now(self) -> float:
        """Seconds now on ``clock``.

        Returns
        -------
        float
            ``clock()``, or ``time.perf_counter()`` without one.
        """
        return (self.clock or time.perf_counter)()

    def reserved(self, ratio: float) -> float:
        """Seconds reserved, from this run's start, for what is not its or later runs' steps.

        Parameters
        ----------
        ratio : float
            The measured speed over the probed one (seconds per step measured / probed).

        Returns
        -------
        float
            ``ratio`` times the probed cost of that work.
        """
        k = self.runs_left
        return ratio * (self.after + k * self.run_after + (k - 1) * self.run_before)

    def start(self, step: TrainStep, steps_per_epoch: int, device: torch.device | str = "cpu") -> Pacer:
        """Start pacing a run.

        Parameters
        ----------
        step : nets.step.TrainStep
            The run's step, whose horizon the pacer re-plans.
        steps_per_epoch : int
            Steps in one epoch of the run (bounds the horizon by ``max_epochs``).
        device : torch.device or str
            Where the run trains (the pacer synchronises it before reading the clock).

        Returns
        -------
        nets.pacing.Pacer
            The pacer of ``step`` from now on.
        """
        return Pacer(self, step, steps_per_epoch, torch.device(device))


class Pacer:
    """Re-plans a :class:`~nets.step.TrainStep`'s horizon to meet a :class:`Deadline`.

    Call :meth:`after_step` after every step. Every ``every`` steps (1/:data:`REPLANS` of the
    current plan) it measures the seconds per step over the last intervals (epoch-end work such
    as validation included; at most :data:`WINDOW`, and no more than half the steps left to
    plan, so that the end of a run follows a change of speed) and sets the horizon to the steps that end
    by the run's deadline, at most ``max_epochs`` epochs (and one more step when the time is
    out before the schedule's end, which the schedule needs to finish).
    """

    def __init__(self, deadline: Deadline, step: TrainStep, steps_per_epoch: int, device: torch.device) -> None:
        self.deadline, self.device = deadline, device
        self.every = max(1, step.total_steps // REPLANS)
        self.max_steps = math.inf if deadline.max_epochs is None else max(1, round(deadline.max_epochs * steps_per_epoch))
        self.started = deadline.now()
        self.marks = deque([(step.steps_done, self.started)], maxlen=WINDOW + 1)  # (steps done, clock)

    def steps_end(self, seconds_per_step: float) -> float:
        """The clock time when this run's steps must end, at ``seconds_per_step``."""
        d = self.deadline
        ratio = seconds_per_step / d.step_seconds if d.step_seconds else 1.0
        return self.started + (d.end - self.started - d.reserved(ratio)) / d.runs_left

    def after_step(self, step: TrainStep) -> None:
        """Re-plan ``step``'s horizon when a re-plan is due."""
        if step.steps_done - self.marks[-1][0] < self.every:
            return
        if self.device.type == "cuda":  # kernels run ahead of the host: time what has finished
            torch.cuda.synchronize(self.device)
        now = self.deadline.now()
        self.marks.append((step.steps_done, now))
        # the speed over a span like what is left to plan (at most WINDOW intervals): the end of a
        # run follows a change of speed closely
        window = min(len(self.marks) - 1, WINDOW, max(1, (step.total_steps - step.steps_done) // (2 * self.every)))
        done, then = self.marks[-1 - window]
        seconds_per_step = (now - then) / (step.steps_done - done)
        if seconds_per_step <= 0:  # a clock that did not move says nothing about the speed
            return
        fit = math.floor((self.steps_end(seconds_per_step) - now) / seconds_per_step)
        total = int(min(self.max_steps, step.steps_done + fit))
        if total <= step.steps_done:  # out of time: end here, or after one more step if the schedule is not done
            total = step.steps_done + (step.total_steps > step.steps_done)
        if total != step.total_steps:
            step.replan(total)
            self.every = max(1, total // REPLANS)
