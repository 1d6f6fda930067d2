"""``TrainConfig``: every training option, its default and its check, in one place.

:func:`nets.fit` builds one from its keywords, the ensemble estimator from its parameters,
and both ensemble engines read it; no option is defaulted or checked anywhere else.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from conventions import check_choice, check_flag, check_int, check_normalization, check_number
from nets.precision import check_precision

LR_SCHEDULES = ("constant", "onecycle", "cosine", "triangular")
OPTIMIZERS = ("sgd", "adam")
# Ensembles from one training run (nets.snapshots): the schedule's cycles and where weights are taken.
SNAPSHOT_METHODS = ("snapshot", "fge", "swa")

Augment = Callable[..., Any]
Normalize = tuple[Any, Any] | None  # (mean, std), see conventions.check_normalization

__all__ = ["TrainConfig", "LR_SCHEDULES", "OPTIMIZERS", "SNAPSHOT_METHODS"]


@dataclass(frozen=True)
class TrainConfig:
    """How members are trained; every field is checked on construction (ValueError/TypeError
    naming the field and the bad value). ``dataclasses.replace(config, lr=0.1)`` derives another.

    Parameters
    ----------
    epochs : int or float
        Length of training (and of the lr schedule) in epochs; a fraction trains
        ``round(epochs * steps_per_epoch)`` steps, the last epoch cut short (airbench trains 9.9).
    batch_size : int
        Rows per minibatch (the last batch of an epoch may be smaller, see ``drop_last``).
    drop_last : bool
        Train on full batches only: an epoch is ``N // batch_size`` steps and the rows its
        permutation puts last (fewer than ``batch_size``, different ones each epoch) sit it out
        (airbench94's loader). Without it a short last batch (64 rows of 40,000 at batch 1024)
        takes a full-lr step on a noisy gradient and noisy BatchNorm statistics.
    lr : float
        Peak learning rate.
    momentum, nesterov : float, bool
        SGD momentum mu and Nesterov's look-ahead (ignored by Adam).
    optimizer : {"sgd", "adam"}
        The update rule (:mod:`nets.optim`).
    weight_decay : float
        L2 decay of Linear/Conv weights (not biases, not BatchNorm, unless ``decay_all``). Coupled (default):
        ``wd * W`` is added to the gradient, the gradient of ``l2_penalty(model, wd)``.
        Decoupled (``decoupled_weight_decay=True``, AdamW-style): W <- W - lr * wd * W after
        the gradient step, outside the optimiser's momentum or moments.
    decoupled_weight_decay : bool
        See ``weight_decay``.
    decay_all : bool
        Weight decay applies to every trained parameter (biases and BatchNorm shifts too), each
        shrinking by the same ``lr * weight_decay`` per step as the weights, whatever its lr
        scale (airbench94: its BatchNorm shifts step 64 times faster but decay alike).
    l1 : float
        Adds ``l1 * ||W||_1`` of the same weights to the loss (``nets.l1_penalty``).
    label_smoothing : float
        eps in [0, 1): the target is (1 - eps) target + eps / K (Szegedy et al. 2016); with a
        label-mixing augmentation the mixed soft target is smoothed the same way.
    lr_schedule : {"constant", "onecycle", "cosine", "triangular"}
        Per-step multiplier of ``lr`` (:func:`nets.step.lr_factor`); with ``snapshots="fge"`` or
        ``"swa"`` the schedule of the ordinary run before the cycles, and replaced by the cyclic
        cosine with ``snapshots="snapshot"``.
    snapshots : {None, "snapshot", "fge", "swa"}
        Take ``n_snapshots`` networks from this one run (:mod:`nets.snapshots`): ``"snapshot"``
        (Snapshot Ensembles, Huang et al. 2017: the steps split into ``n_snapshots`` cycles of a
        cosine lr, a snapshot at the end of each); ``"fge"`` (Fast Geometric Ensembling, Garipov
        et al. 2018: ``lr_schedule`` over the first 80% of the steps, then ``n_snapshots`` short
        cycles of a lr going linearly from ``0.5 lr`` down to ``0.005 lr`` and back, a snapshot
        at the middle of each); ``"swa"`` (SWA, Izmailov et al. 2018: FGE's schedule and
        snapshots, averaged into one network). Every network gets its own BatchNorm statistics
        (Algorithm 2). None: one network, the weights at the end of training. Not with
        ``lookahead``, which averages the weights along the run itself.
    n_snapshots : int
        How many networks ``snapshots`` takes (for ``"swa"``: how many it averages).
    norm_lr_scale : float
        The BatchNorm parameters (scale and shift) step with ``norm_lr_scale * lr`` (> 0): airbench
        trains the shifts 64 times faster than the weights, with the scales frozen.
    lookahead : bool
        Look-ahead weight averaging (:class:`nets.average.Lookahead`, airbench's settings): from
        30% of training on, every 5 steps the weights become an exponential moving average of
        themselves, whose decay grows towards 0.95 per step by the end; the average is the
        trained model.
    precision : {"float32", "bfloat16"}
        "float32": everything in float32. "bfloat16": the training forward under bf16 autocast
        (:mod:`nets.precision`): on devices with native bf16 (AVX512-BF16/AMX CPUs, Ampere+
        GPUs) typically 1.3-2x faster steps and half the activation memory, at bf16 rounding
        of the convolutions (validation accuracy typically within a point); weights, optimiser
        state and BatchNorm statistics stay float32 and evaluation runs in float32. Devices
        without native bf16 warn once and train in float32.
    channels_last : bool
        Image members (models with a ``Conv2d``) and their 4-d batches use the channels-last
        memory format (N x H x W x C in memory) in training, evaluation and BatchNorm
        recomputation: oneDNN and cuDNN convolutions run about 1.4-2x faster in it. Results
        equal contiguous training within float rounding. Other models are left alone.
    augment : callable or None
        Applied to each training minibatch: ``augment(x, generator=g) -> x``, on uint8 batches
        for an augkit pipeline (its uint8 fast paths, see :func:`nets.batches.to_float_batch`),
        on float images in [0, 1] for any other callable; or, for an object with
        ``mixes_labels = True`` (MixUp, CutMix), on float images,
        ``augment(x, y, generator=g, num_classes=K) -> (x, soft_targets N x K)``.
    normalize : (mean, std) or None
        Per-channel standardisation after augmentation, in training and evaluation.
    time_budget : float or None
        Seconds; training stops after the epoch that exceeds it (the schedule keeps its length).
    device : str or torch.device
        Where data and models live during training.
    verbose : int
        0 silent; >= 1 a progress bar per epoch on a TTY (>= 2 keeps the finished bars).
    """

    epochs: float = 10
    batch_size: int = 128
    drop_last: bool = False
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    decoupled_weight_decay: bool = False
    decay_all: bool = False
    l1: float = 0.0
    label_smoothing: float = 0.0
    lr_schedule: str = "constant"
    snapshots: str | None = None
    n_snapshots: int = 1
    norm_lr_scale: float = 1.0
    lookahead: bool = False
    precision: str = "float32"
    channels_last: bool = True
    augment: Augment | None = None
    normalize: Normalize = None
    time_budget: float | None = None
    device: str | torch.device = "cpu"
    verbose: int = 1

    def __post_init__(self) -> None:
        epochs = check_number(self.epochs, "epochs", minimum=0, exclusive_minimum=True)
        checked = {
            "epochs": int(epochs) if epochs.is_integer() else epochs,
            "lookahead": check_flag(self.lookahead, "lookahead"),
            "batch_size": check_int(self.batch_size, "batch_size", minimum=1),
            "nesterov": check_flag(self.nesterov, "nesterov"),
            "decoupled_weight_decay": check_flag(self.decoupled_weight_decay, "decoupled_weight_decay"),
            "decay_all": check_flag(self.decay_all, "decay_all"),
            "drop_last": check_flag(self.drop_last, "drop_last"),
            "channels_last": check_flag(self.channels_last, "channels_last"),
            "optimizer": check_choice(self.optimizer, "optimizer", OPTIMIZERS),
            "lr_schedule": check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES),
            "snapshots": check_choice(self.snapshots, "snapshots", (None, *SNAPSHOT_METHODS)),
            "n_snapshots": check_int(self.n_snapshots, "n_snapshots", minimum=1),
            "precision": check_precision(self.precision),
            "normalize": check_normalization(self.normalize),
            "norm_lr_scale": check_number(self.norm_lr_scale, "norm_lr_scale", minimum=0, exclusive_minimum=True),
            "label_smoothing": check_number(self.label_smoothing, "label_smoothing", minimum=0, maximum=1,
                                            exclusive_maximum=True),
        }
        if checked["snapshots"] is not None and checked["lookahead"]:
            raise ValueError(f"lookahead=True averages the weights along the run, which snapshots={self.snapshots!r} "
                             "takes its networks from: set lookahead=False")
        for name in ("lr", "momentum", "weight_decay", "l1"):
            checked[name] = check_number(getattr(self, name), name, minimum=0)
        if self.time_budget is not None:
            check_number(self.time_budget, "time_budget", minimum=0, exclusive_minimum=True)
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"augment must be a callable or None, got {self.augment!r}")
        try:
            checked["device"] = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must name a torch device, got {self.device!r}") from None
        check_int(self.verbose, "verbose", minimum=0)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def mixes_labels(self) -> bool:
        """Whether ``augment`` mixes labels (returns soft targets)."""
        return bool(getattr(self.augment, "mixes_labels", False))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))
