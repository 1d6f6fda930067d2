"""``TrainConfig``: every training option, its default and its check, in one place.

:func:`nets.fit` builds one from its keywords, the ensemble estimator from its parameters,
and both ensemble engines read it; no option is defaulted or checked anywhere else.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from nets.precision import check_precision

LR_SCHEDULES = ("constant", "onecycle", "cosine", "triangular")
OPTIMIZERS = ("sgd", "adam")

Augment = Callable[..., Any]
Normalize = tuple[Any, Any] | None

__all__ = ["TrainConfig", "LR_SCHEDULES", "OPTIMIZERS"]


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _normalize(value: Any) -> Normalize:
    if value is None:
        return None
    try:
        mean, std = value
        mean = tuple(float(v) for v in torch.as_tensor(mean, dtype=torch.float64).flatten())
        std = tuple(float(v) for v in torch.as_tensor(std, dtype=torch.float64).flatten())
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"normalize must be None or (mean, std) of numbers or per-channel sequences, "
                         f"got {value!r}") from None
    if not all(math.isfinite(v) for v in mean) or not all(math.isfinite(s) and s > 0 for s in std):
        raise ValueError(f"normalize needs finite means and finite stds > 0, got {value!r}")
    return mean, std


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
        Rows per minibatch (the last batch of an epoch may be smaller).
    lr : float
        Peak learning rate.
    momentum, nesterov : float, bool
        SGD momentum mu and Nesterov's look-ahead (ignored by Adam).
    optimizer : {"sgd", "adam"}
        The update rule (:mod:`nets.optim`).
    weight_decay : float
        L2 decay of Linear/Conv weights (not biases, not BatchNorm). Coupled (default):
        ``wd * W`` is added to the gradient, the gradient of ``l2_penalty(model, wd)``.
        Decoupled (``decoupled_weight_decay=True``, AdamW-style): W <- W - lr * wd * W after
        the gradient step, outside the optimiser's momentum or moments.
    decoupled_weight_decay : bool
        See ``weight_decay``.
    l1 : float
        Adds ``l1 * ||W||_1`` of the same weights to the loss (``nets.l1_penalty``).
    label_smoothing : float
        eps in [0, 1): the target is (1 - eps) target + eps / K (Szegedy et al. 2016); with a
        label-mixing augmentation the mixed soft target is smoothed the same way.
    lr_schedule : {"constant", "onecycle", "cosine", "triangular"}
        Per-step multiplier of ``lr`` (:func:`nets.step.lr_factor`).
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
        Applied to each training minibatch of float images in [0, 1]: ``augment(x, generator=g)
        -> x``, or, for an object with ``mixes_labels = True`` (MixUp, CutMix),
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
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    decoupled_weight_decay: bool = False
    l1: float = 0.0
    label_smoothing: float = 0.0
    lr_schedule: str = "constant"
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
        epochs = self.epochs
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Real) or not (math.isfinite(epochs) and epochs > 0):
            raise ValueError(f"epochs must be a number > 0, got {epochs!r}")
        checked = {
            "epochs": int(epochs) if float(epochs).is_integer() else float(epochs),
            "lookahead": _flag("lookahead", self.lookahead),
            "batch_size": _positive_int("batch_size", self.batch_size),
            "nesterov": _flag("nesterov", self.nesterov),
            "decoupled_weight_decay": _flag("decoupled_weight_decay", self.decoupled_weight_decay),
            "channels_last": _flag("channels_last", self.channels_last),
            "optimizer": _choice("optimizer", self.optimizer, OPTIMIZERS),
            "lr_schedule": _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES),
            "precision": check_precision(self.precision),
            "normalize": _normalize(self.normalize),
        }
        for name in ("lr", "momentum", "weight_decay", "l1"):
            checked[name] = _non_negative(name, getattr(self, name))
        if not _non_negative("norm_lr_scale", self.norm_lr_scale) > 0:
            raise ValueError(f"norm_lr_scale must be > 0, got {self.norm_lr_scale!r}")
        checked["norm_lr_scale"] = float(self.norm_lr_scale)
        smoothing = self.label_smoothing
        if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real) or not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {smoothing!r}")
        checked["label_smoothing"] = float(smoothing)
        budget = self.time_budget
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not budget > 0):
            raise ValueError(f"time_budget must be None or > 0 seconds, got {budget!r}")
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"augment must be a callable or None, got {self.augment!r}")
        try:
            checked["device"] = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must name a torch device, got {self.device!r}") from None
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise ValueError(f"verbose must be an int >= 0, got {self.verbose!r}")
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
