"""One training step, shared by :func:`nets.fit` and both vectorised ensemble strategies.

A step trains ``k >= 1`` members at once on their own minibatches (k = 1 for ``nets.fit``):
the caller's ``forward`` maps the k members' batches, stacked as (k*B) x ..., to k x B x K
logits, one member's batch never reaching another member. The step owns everything else:

1. the input: uint8 -> float [0, 1], augmentation (label-mixing ones produce soft targets),
   normalisation, the model's memory format (:mod:`nets.batches`);
2. the forward under the training precision (:mod:`nets.precision`);
3. the loss: per member the mean cross-entropy against its targets, smoothed as
   q' = (1 - eps) q + eps / K, plus ``l1 * ||W||_1``; the members' losses are summed, so
   member m's gradient is that of its own loss alone;
4. the update (:meth:`TrainStep.update`): the lr schedule (with the cycles of an ensemble from
   one run, :func:`cycle_layout`), the backward, decoupled decay,
   the optimiser step (:mod:`nets.optim`, coupled decay inside; BatchNorm parameters at
   ``norm_lr_scale`` times the lr), then the look-ahead weight average (:mod:`nets.average`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from conventions import check_choice
from nets.average import Lookahead
from nets.batches import normalize_batch, to_float_batch
from nets.config import LR_SCHEDULES, SNAPSHOT_METHODS, TrainConfig
from nets.optim import SGD, Adam
from nets.penalties import l1_norm
from nets.precision import autocast

ONECYCLE_WARMUP = 0.2  # fraction of the steps spent warming up linearly from 0 to lr
# airbench94's triangle: from 0.2 lr up to lr at 23% of the steps, then down to 0.07 lr.
TRIANGLE = ((0.0, 0.2), (0.23, 1.0), (1.0, 0.07))
# Fast geometric ensembling's cycles take the last 20% of the steps: Garipov et al. pre-train for
# most of their budget (160 of 200 epochs for CIFAR) before the cycles start.
FGE_MAIN_SHARE = 0.8
# FGE's cycle lr, alpha1 down to alpha2 and back, as multiples of the peak lr: the paper's
# alpha1 = 5e-2 and alpha2 = 5e-4 for its PreResNet trained at lr 0.1. Large enough at the top
# to leave the minimum the ordinary run found, small enough at the bottom to settle in a new one.
FGE_LR = (0.5, 0.005)

__all__ = ["TrainStep", "Cycles", "cycle_layout", "min_cycle_steps", "lr_factor", "ONECYCLE_WARMUP", "FGE_MAIN_SHARE", "FGE_LR"]


@dataclass(frozen=True)
class Cycles:
    """Where the lr cycles of an ensemble from one run (:mod:`nets.snapshots`) lie.

    ``start`` steps of the ordinary schedule come first (0 for ``"snapshot"``), then ``count``
    cycles of ``length`` steps; training ends after ``total_steps`` steps.
    """

    method: str
    start: int
    length: int
    count: int
    total_steps: int

    @property
    def collection_steps(self) -> tuple[int, ...]:
        """The step counts (1-based: after that many steps) at which the weights are taken, one
        per cycle: where the lr is lowest, at the end of a snapshot cycle and the middle of an
        FGE/SWA cycle."""
        if self.method == "snapshot":
            return tuple(self.start + (j + 1) * self.length for j in range(self.count))
        return tuple(self.start + self.length // 2 + j * self.length for j in range(self.count))

    def factor(self, step: int) -> float:
        """Multiplier of the peak lr at ``step`` (0-based, at least ``start``) of a cycle."""
        i = (step - self.start) % self.length
        if self.method == "snapshot":  # lr0 / 2 * (cos(pi * mod(t, L) / L) + 1), L = ceil(T / M)
            return 0.5 * (math.cos(math.pi * i / self.length) + 1)
        # Garipov et al.'s t(i) = (mod(i - 1, c) + 1) / c for 1-based i; alpha1 -> alpha2 -> alpha1
        t = (i + 1) / self.length
        high, low = FGE_LR
        return (1 - 2 * t) * high + 2 * t * low if t <= 0.5 else (2 - 2 * t) * low + (2 * t - 1) * high


def min_cycle_steps(method: str, count: int) -> int:
    """The fewest training steps that hold ``count`` cycles of ``method`` (2 or more steps each)."""
    check_choice(method, "snapshots", SNAPSHOT_METHODS)
    if method == "snapshot":
        return 2 * count
    return math.ceil(round((2 * count - 1) / (1 - FGE_MAIN_SHARE), 6))  # the cycles' (2 count - 1) half cycles


def cycle_layout(method: str, count: int, total_steps: int) -> Cycles:
    """The cycles of ``count`` snapshots from a run of about ``total_steps`` steps.

    ``"snapshot"``: ``count`` cycles of ``ceil(total_steps / count)`` steps from the first step
    (training runs ``count`` whole cycles, at most ``count - 1`` steps more than asked).
    ``"fge"`` and ``"swa"``: the ordinary schedule for about :data:`FGE_MAIN_SHARE` of the steps,
    then cycles of an even length ``c``; training ends at the middle of the last cycle, where its
    snapshot is taken (the second half would train weights no snapshot keeps), so the cycles
    take ``(2 count - 1) c / 2`` steps and the ordinary run the rest.

    Raises ValueError when ``total_steps`` is below :func:`min_cycle_steps`.
    """
    need = min_cycle_steps(method, count)
    if total_steps < need:
        raise ValueError(f"{count} {method!r} cycles need at least {need} training steps (2 or more per cycle"
                         f"{'' if method == 'snapshot' else f', in the last {1 - FGE_MAIN_SHARE:.0%} of the run'}), "
                         f"got {total_steps}: train longer or take fewer snapshots")
    if method == "snapshot":
        length = math.ceil(total_steps / count)
        return Cycles(method, 0, length, count, count * length)
    half = (total_steps - round(FGE_MAIN_SHARE * total_steps)) // (2 * count - 1)
    return Cycles(method, total_steps - (2 * count - 1) * half, 2 * half, count, total_steps)


def lr_factor(schedule: str, step: float, total_steps: float, cycles: Cycles | None = None) -> float:
    """Multiplier of the peak lr at ``step`` (0-based) of ``total_steps`` for ``schedule``: a
    function of the progress ``step / total_steps`` in [0, 1], which may be fractional; with
    ``cycles``, ``schedule`` runs over the steps before them and the cycles' lr after."""
    check_choice(schedule, "lr_schedule", LR_SCHEDULES)
    if cycles is not None:
        if step >= cycles.start:
            return cycles.factor(step)
        total_steps = cycles.start
    t = step / total_steps
    if schedule == "onecycle":  # linear warmup 0 -> 1, then linear decay 1 -> 0
        return t / ONECYCLE_WARMUP if t < ONECYCLE_WARMUP else (1 - t) / (1 - ONECYCLE_WARMUP)
    if schedule == "cosine":  # lr_t = lr * (1 + cos(pi t)) / 2
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "triangular":  # linear between the corners of TRIANGLE
        (_, f0), (t1, f1), (t2, f2) = TRIANGLE
        return f0 + (f1 - f0) * t / t1 if t < t1 else f1 + (f2 - f1) * (t - t1) / (t2 - t1)
    return 1.0


class TrainStep:
    """The optimisation step of ``members`` networks that share nothing but this object.

    Parameters
    ----------
    config : TrainConfig
        The options (optimiser, decay, l1, smoothing, schedule, augmentation, normalisation).
    forward : callable
        (k*B) x ... float input -> k x B x K logits, in training mode.
    decayed, normalisation, others : sequences of leaf tensors
        What the optimiser updates: weights that weight decay and l1 apply to, BatchNorm
        parameters (stepped at ``config.norm_lr_scale`` times the lr), and the rest.
    members : int
        k, the number of members stepped together.
    n_classes : int
        K, passed to a label-mixing augmentation as ``num_classes``.
    total_steps : int
        Length of the lr schedule in steps; with ``config.snapshots`` its cycles are laid over
        them (:func:`cycle_layout`), and the attribute ``total_steps`` is the run's length then.
    precision : str
        The precision the forward runs at (already resolved for the device).
    memory_format : torch.memory_format
        Layout of 4-d input batches.
    """

    def __init__(self, config: TrainConfig, forward: Callable[[torch.Tensor], torch.Tensor],
                 decayed: Sequence[torch.Tensor], normalisation: Sequence[torch.Tensor], others: Sequence[torch.Tensor],
                 members: int, n_classes: int, total_steps: int, precision: str,
                 memory_format: torch.memory_format) -> None:
        self.config, self.forward = config, forward
        self.decayed = list(decayed)
        self.members, self.n_classes = members, n_classes
        # an ensemble from one run lays its cycles over the steps (and may complete the last one)
        self.cycles = cycle_layout(config.snapshots, config.n_snapshots, total_steps) if config.snapshots else None
        self.total_steps = self.cycles.total_steps if self.cycles else total_steps
        self.precision, self.memory_format = precision, memory_format
        coupled = 0.0 if config.decoupled_weight_decay else config.weight_decay
        normalisation, others = list(normalisation), list(others)
        # decay_all: the same per-step shrinkage lr * wd * W for every group, whatever its lr scale
        extra = (coupled / config.norm_lr_scale, coupled) if config.decay_all else (0.0, 0.0)
        groups = [(self.decayed, coupled), (normalisation, extra[0], config.norm_lr_scale), (others, extra[1])]
        # decoupled decay shrinks what is trained (not a frozen whitening stem)
        self.shrunk = [t for t in self.decayed + (normalisation + others if config.decay_all else []) if t.requires_grad]
        self.optimizer = SGD(groups, momentum=config.momentum, nesterov=config.nesterov) \
            if config.optimizer == "sgd" else Adam(groups)
        trained = [t for group in groups for t in group[0] if t.requires_grad]
        self.lookahead = Lookahead(trained, total_steps) if config.lookahead else None
        self.steps_done = 0
        self.replanned_at = (0, 0.0)  # (t0, p0): the step and progress where the horizon last changed

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The network input (k*B) x ... and the targets: k*B class indices, or k*B x K soft
        labels from a label-mixing augmentation, which sees each member's batch on its own."""
        config = self.config
        if not config.mixes_labels:
            x = to_float_batch(x, config.augment, generator, config.normalize, self.memory_format)
            return x, y.flatten()
        x = to_float_batch(x, memory_format=self.memory_format)
        mixed = [self._mix(xm, ym, generator) for xm, ym in zip(x.chunk(self.members), y)]
        x = torch.cat([m[0] for m in mixed])
        return normalize_batch(x, config.normalize, self.memory_format), torch.cat([m[1] for m in mixed])

    def _mix(self, x: torch.Tensor, y: torch.Tensor, generator: Any) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.config.augment(x, y, generator=generator, num_classes=self.n_classes)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"augment mixes labels, so it must return (x, soft_targets); got {type(out).__name__}")
        mixed, target = out
        if mixed.shape != x.shape or target.shape != (x.shape[0], self.n_classes) or not target.is_floating_point():
            raise ValueError(f"augment must return x of shape {tuple(x.shape)} and float soft targets of shape "
                             f"{(x.shape[0], self.n_classes)}; got {tuple(mixed.shape)} and "
                             f"{tuple(target.shape)} {target.dtype}")
        return mixed, target.float()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: Any = None,
                 weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on one minibatch per member: ``x`` (k*B) x ... uint8 or float rows, member m's
        in rows m*B..(m+1)*B-1; ``y`` k x B int64 labels. ``generator`` drives augmentation.
        ``weights`` (k x B, >= 0, each member's summing to > 0): member m's loss is
        sum_i w_i l_i / sum_i w_i over its rows (the online bootstrap's), instead of the mean.

        Returns per member the (weighted) mean training loss (k,; penalties excluded; detached)
        and the (weighted) count of training predictions equal to the argmax of the targets
        (the label itself unless an augmentation mixed labels) (k,).
        """
        k = self.members
        inputs, target = self.inputs(x, y, generator)
        with autocast(inputs.device, self.precision):
            logits = self.forward(inputs)  # k x B x K
        losses = F.cross_entropy(logits.flatten(0, 1).float(), target, reduction="none",
                                 label_smoothing=self.config.label_smoothing).view(k, -1)
        if weights is None:
            per_member = losses.mean(1)
        else:
            weights = weights.to(losses)
            per_member = (losses * weights).sum(1) / weights.sum(1)  # sum w l / sum w
        loss = per_member.sum()
        if self.config.l1 > 0:
            loss = loss + self.config.l1 * l1_norm(self.decayed)
        self.update(loss)
        labels = target.argmax(1) if target.dim() == 2 else target
        hits = logits.detach().argmax(-1) == labels.view(k, -1)
        correct = hits.sum(1) if weights is None else (hits * weights).sum(1)
        return per_member.detach(), correct

    def update(self, loss: torch.Tensor) -> None:
        """Backward ``loss`` and move the weights: W <- W - lr_t d (d from the optimiser, with
        coupled decay), and W <- W - lr_t wd W for decoupled decay."""
        config = self.config
        if self.cycles is not None:  # one-run ensembles keep the cycles laid out at the start
            lr = config.lr * lr_factor(config.lr_schedule, self.steps_done, self.total_steps, self.cycles)
        else:
            lr = config.lr * lr_factor(config.lr_schedule, self.progress(), 1)
        self.optimizer.zero_grad()
        loss.backward()
        if config.decoupled_weight_decay and config.weight_decay > 0:
            with torch.no_grad():
                torch._foreach_mul_(self.shrunk, 1 - lr * config.weight_decay)  # W <- W - lr * wd * W
        self.optimizer.step(lr)
        self.steps_done += 1
        if self.lookahead is not None:
            self.lookahead.step(self.steps_done, self.progress())

    def skip(self) -> None:
        """Advance the schedule by one step without training: a step whose rows all weigh 0 for
        this member (the schedule stays aligned with the other members')."""
        self.steps_done += 1
        if self.lookahead is not None:
            self.lookahead.step(self.steps_done, self.progress())

    def progress(self) -> float:
        """p in [0, 1] after ``steps_done`` steps: ``t / T`` until a re-plan, then
        p = p0 + (1 - p0) (t - t0) / (T - t0) from the step t0 and progress p0 of the last one."""
        t0, p0 = self.replanned_at
        return p0 + (1 - p0) * (self.steps_done - t0) / (self.total_steps - t0)

    def replan(self, total_steps: int) -> None:
        """Change the horizon to ``total_steps`` (> ``steps_done``) from here on, the schedule
        (lr and look-ahead) continuing from the progress reached, without a jump."""
        if total_steps <= self.steps_done:
            raise ValueError(f"total_steps must exceed the {self.steps_done} steps done, got {total_steps}")
        self.replanned_at = (self.steps_done, self.progress())
        self.total_steps = int(total_steps)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What resumes training exactly: steps done, the horizon (a re-planned one included),
        the optimiser's state, the look-ahead average; tensors only (keys ``"steps_done"``,
        ``"total_steps"``, ``"replanned_at"``, ``"optimizer.*"``, ``"lookahead.*"``)."""
        state = {"steps_done": torch.tensor(self.steps_done), "total_steps": torch.tensor(self.total_steps),
                 "replanned_at": torch.tensor(self.replanned_at, dtype=torch.float64)}
        state.update({f"optimizer.{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.lookahead is not None:
            state.update({f"lookahead.{k}": v for k, v in self.lookahead.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict`'s state (onto a step built over the same model's tensors)."""
        self.steps_done = int(state["steps_done"])
        if "total_steps" in state:  # states saved before re-planning existed keep the built horizon
            self.total_steps = int(state["total_steps"])
            t0, p0 = state["replanned_at"].tolist()
            self.replanned_at = (int(t0), p0)
        self.optimizer.load_state_dict({k[len("optimizer."):]: v for k, v in state.items() if k.startswith("optimizer.")})
        if self.lookahead is not None:
            self.lookahead.load_state_dict({k[len("lookahead."):]: v for k, v in state.items()
                                            if k.startswith("lookahead.")})

    def end_epoch(self) -> None:
        """At the end of every epoch: the weights become the look-ahead average, if any, so that
        validation, snapshots and the final model all see the average."""
        if self.lookahead is not None:
            self.lookahead.settle()
