"""Training and evaluation of one network: ``fit``, ``predict_logits``, ``evaluate``.

The data path follows airbench: the whole (uint8) dataset is moved to the device once,
every epoch draws one permutation, batches are index slices converted by
:func:`to_float_batch` (augment on the whole batch, normalise) with no per-image Python work.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from nets.batchnorm import has_exact_batch_norm, recompute_population_statistics, restart_population_statistics
from nets.early_stopping import EarlyStopping
from nets.penalties import decay_parameters, l1_penalty

Augment = Callable[..., torch.Tensor]
Normalize = tuple[Any, Any] | None
ArrayLike = Any  # numpy array or torch tensor

LR_SCHEDULES = ("constant", "onecycle", "cosine")
OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("float32", "bfloat16")


def check_precision(precision: str) -> str:
    """``precision`` must name one of :data:`PRECISIONS`; returns it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str):
    """The context a training forward runs in: bfloat16 autocast (matmuls and convolutions in
    bf16, weights, gradients and optimiser state in float32), or nothing for "float32"."""
    check_precision(precision)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16")


POPULATION_BATCHES = 32  # batches for BatchNorm's population statistics after training


def population_batches(X: torch.Tensor, batch_size: int, normalize: Normalize = None,
                       max_batches: int = POPULATION_BATCHES):
    """Float batches of training rows for :func:`nets.recompute_population_statistics`.

    At most ``max_batches * batch_size`` rows, evenly spaced over ``X`` (no randomness), dealt
    into batches of about ``batch_size`` so that each batch spans all of ``X`` (a class-sorted
    array still gives class-mixed batches). No augmentation; ``normalize`` as in training.
    """
    n = X.shape[0]
    count = min(n, max_batches * batch_size)
    picks = torch.linspace(0, n - 1, count, device=X.device).round().long()
    n_batches = math.ceil(count / batch_size)
    for j in range(n_batches):
        yield to_float_batch(X[picks[j::n_batches]], normalize=normalize)


def check_label_smoothing(value: float) -> float:
    """``label_smoothing`` must be a number in [0, 1); returns it as a float."""
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0):
        raise ValueError(f"label_smoothing must be a number in [0, 1), got {value!r}")
    return float(value)
ONECYCLE_WARMUP = 0.2  # fraction of the steps spent warming up linearly from 0 to lr


class DivergenceError(RuntimeError):
    """The training loss became NaN or Inf; ``epoch`` (0-based) is the epoch where it happened."""

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch}: loss is {loss} "
                         f"(try a smaller lr or stronger weight decay)")
        self.epoch = epoch
        self.loss = loss


@dataclass
class History:
    """Per-epoch record of a fit (epochs are 0-based list indices).

    ``loss``/``acc``: mean training cross-entropy and accuracy of the epoch (penalties excluded);
    ``val_loss``/``val_acc``: on ``val`` after the epoch (empty without ``val``); ``seconds``:
    wall time of each epoch. ``best_epoch``: epoch with the best monitored validation metric
    (early stopping's, else val_loss; None without ``val``); ``stopped_epoch``: last epoch when
    early stopping or the time budget ended training before ``epochs``, else None.
    """

    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of plain lists, floats, ints and None."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: (list(v) if isinstance(v, list) else v) for k, v in d.items()})


def to_float_batch(x: torch.Tensor, augment: Augment | None = None, generator: Any = None,
                   normalize: Normalize = None) -> torch.Tensor:
    """Turn a batch into the network's float32 input.

    uint8 ``x`` (N x C x H x W, 0..255) becomes float32 x / 255 in [0, 1]; float input is only
    cast to float32. Then ``augment(x, generator=generator)`` if given, then per-channel
    (x - mean) / std if ``normalize=(mean, std)`` (scalars or length-C sequences; channel = dim 1).
    Returns float32 of ``x``'s shape (or the augment's output shape), on ``x``'s device.
    """
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if augment is not None:
        x = augment(x, generator=generator)
    if normalize is not None:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean, std = (torch.as_tensor(v, dtype=torch.float32, device=x.device).reshape(shape) for v in normalize)
        x = (x - mean) / std
    return x


def _as_tensor_data(X: ArrayLike, y: ArrayLike, name: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    if X.dim() == 0 or X.shape[0] == 0:
        raise ValueError(f"{name} is empty: X has shape {tuple(X.shape)}")
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: y must be 1-d with one label per row of X; got X with {X.shape[0]} rows "
                         f"and y of shape {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"{name}: y must hold integer class labels, got dtype {y.dtype}")
    if X.is_floating_point():
        if not torch.isfinite(X).all():
            raise ValueError(f"{name}: X contains NaN or Inf")
        X = X.float()
    elif X.dtype != torch.uint8:
        raise ValueError(f"{name}: X must be uint8 images or float data, got dtype {X.dtype}")
    return X.to(device), y.to(device=device, dtype=torch.long)


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:  # derived from the global RNG, so torch.manual_seed makes fit reproducible
        return torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {generator!r}")


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """Multiplier of the peak lr at ``step`` (0-based) of ``total_steps`` for ``schedule``."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    t = step / total_steps
    if schedule == "onecycle":  # linear warmup 0 -> 1, then linear decay 1 -> 0
        return t / ONECYCLE_WARMUP if t < ONECYCLE_WARMUP else (1 - t) / (1 - ONECYCLE_WARMUP)
    if schedule == "cosine":  # lr_t = lr * (1 + cos(pi t)) / 2
        return 0.5 * (1 + math.cos(math.pi * t))
    return 1.0


def _make_optimizer(model: nn.Module, optimizer: str, lr: float, momentum: float, nesterov: bool,
                    coupled_decay: float) -> torch.optim.Optimizer:
    decayed = decay_parameters(model)
    decayed_ids = {id(p) for p in decayed}
    others = [p for p in model.parameters() if id(p) not in decayed_ids]
    # coupled decay adds wd * W to the gradient of the weights only (not biases, not BatchNorm)
    groups = [{"params": decayed, "weight_decay": coupled_decay}, {"params": others, "weight_decay": 0.0}]
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    return torch.optim.Adam(groups, lr=lr)


def _check_fit_args(epochs: int, batch_size: int, lr: float, momentum: float, optimizer: str,
                    weight_decay: float, l1: float, lr_schedule: str, time_budget: float | None,
                    early_stopping: EarlyStopping | None, val: Any, verbose: int) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay), ("l1", l1)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be None or > 0 seconds, got {time_budget!r}")
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be a nets.EarlyStopping or None, got {early_stopping!r}")
        if val is None:
            raise ValueError("early_stopping needs validation data: pass val=(X_val, y_val)")
    if not isinstance(verbose, int) or verbose < 0:
        raise ValueError(f"verbose must be an int >= 0, got {verbose!r}")


def fit(model: nn.Module, data: tuple[ArrayLike, ArrayLike], val: tuple[ArrayLike, ArrayLike] | None = None, *,
        epochs: int = 10, batch_size: int = 128, lr: float = 0.05, momentum: float = 0.9,
        nesterov: bool = True, optimizer: str = "sgd", weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False, l1: float = 0.0, label_smoothing: float = 0.0,
        precision: str = "float32", augment: Augment | None = None,
        normalize: Normalize = None, early_stopping: EarlyStopping | None = None,
        lr_schedule: str = "constant", time_budget: float | None = None, device: str | torch.device = "cpu",
        generator: torch.Generator | int | None = None, verbose: int = 1,
        on_epoch_end: Callable[[int, History], None] | None = None) -> History:
    """Train ``model`` with mini-batch SGD/Adam on cross-entropy; returns its :class:`History`.

    Parameters
    ----------
    data, val : (X, y). X is uint8 images N x C x H x W (scaled to [0, 1] per batch) or float
        N x ... (numpy or torch); y holds N int class labels. Moved to ``device`` once.
    epochs, batch_size, lr : the schedule's length in epochs, batch size, peak learning rate.
    momentum, nesterov : SGD momentum (ignored by Adam).
    optimizer : "sgd" or "adam".
    weight_decay : L2 decay of Linear/Conv weights. Coupled (default): wd * W is added to the
        gradient by the torch optimizer, the gradient of ``l2_penalty(model, wd)``. Decoupled
        (``decoupled_weight_decay=True``, AdamW-style): W <- W - lr * wd * W, outside the gradient.
    l1 : adds ``l1_penalty(model, l1)`` = l1 * ||W||_1 to the loss.
    label_smoothing : eps in [0, 1): the training target is (1 - eps) one-hot + eps / K uniform
        (Szegedy et al. 2016); the recorded training loss is that smoothed cross-entropy.
    precision : "float32", or "bfloat16" to run the training forward under bf16 autocast
        (weights, gradients and optimiser state stay float32; evaluation runs in float32).
    augment : ``augment(float_batch, generator=g) -> float_batch`` applied to training batches.
    normalize : (mean, std) per channel, applied after augmentation (train and validation).
    early_stopping : an :class:`EarlyStopping` (needs ``val``); the best snapshot is restored.
    lr_schedule : "constant", "onecycle" (linear warmup then linear decay, per step) or "cosine".
    time_budget : seconds; training stops after the epoch that exceeds it. The schedule keeps
        its length of ``epochs`` epochs.
    device : where data and model live. generator : torch.Generator or int seed for shuffling,
        augmentation and torch-RNG dropout masks (same generator -> same weights on CPU).
    verbose : 0 silent; >= 1 a tqdm bar per epoch on a TTY (>= 2 keeps the finished bars).
    on_epoch_end : ``callback(epoch, history)`` after every epoch (0-based epoch).

    After training (and restoring the early-stopping snapshot), exact-mode BatchNorm statistics
    are recomputed with the final weights over up to 32 evenly spaced, un-augmented training
    batches (:func:`nets.recompute_population_statistics`, the paper's Algorithm 2).

    Raises :class:`DivergenceError` when an epoch's training loss is NaN/Inf. The model is
    left on ``device`` in eval mode.
    """
    _check_fit_args(epochs, batch_size, lr, momentum, optimizer, weight_decay, l1, lr_schedule,
                    time_budget, early_stopping, val, verbose)
    label_smoothing = check_label_smoothing(label_smoothing)
    check_precision(precision)
    device = torch.device(device)
    X, y = _as_tensor_data(*data, "data", device)
    val_data = _as_tensor_data(*val, "val", device) if val is not None else None
    g = _as_generator(generator)
    model.to(device)
    opt = _make_optimizer(model, optimizer, lr, momentum, nesterov,
                          0.0 if decoupled_weight_decay else weight_decay)
    decayed = decay_parameters(model)
    n = X.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    history = History()
    if early_stopping is not None:
        early_stopping.reset()
    show_bar = verbose > 0 and sys.stderr.isatty()
    devices = [device] if device.type == "cuda" else []
    start = time.perf_counter()
    step = 0
    # torch-RNG dropout masks are drawn from a stream seeded by ``g``: one generator fixes the run
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=g)))
        for epoch in range(epochs):
            t0 = time.perf_counter()
            model.train()
            restart_population_statistics(model)  # BatchNorm's inference statistics: this epoch's batches
            order = torch.randperm(n, generator=g).to(device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}", leave=verbose > 1, disable=not show_bar)
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                xb = to_float_batch(X[idx], augment, g, normalize)
                yb = y[idx]
                with autocast(device, precision):
                    logits = model(xb)
                data_loss = F.cross_entropy(logits.float(), yb, label_smoothing=label_smoothing)
                loss = data_loss + l1_penalty(model, l1) if l1 > 0 else data_loss
                current_lr = lr * lr_factor(lr_schedule, step, total_steps)
                for group in opt.param_groups:
                    group["lr"] = current_lr
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if decoupled_weight_decay and weight_decay > 0:
                    with torch.no_grad():
                        for w in decayed:
                            w.mul_(1 - current_lr * weight_decay)  # W <- W - lr * wd * W
                opt.step()
                loss_sum += data_loss.detach() * len(idx)
                correct += (logits.argmax(dim=1) == yb).sum()
                step += 1
                bar.update(1)
            epoch_loss = loss_sum.item() / n  # one host sync per epoch, not per step
            bar.set_postfix(loss=f"{epoch_loss:.4f}")
            bar.close()
            if not math.isfinite(epoch_loss):
                raise DivergenceError(epoch, epoch_loss)
            history.loss.append(epoch_loss)
            history.acc.append(correct.item() / n)
            if val_data is not None:
                val_loss, val_acc = evaluate(model, *val_data, batch_size=max(batch_size, 1024),
                                             normalize=normalize, device=device)
                history.val_loss.append(val_loss)
                history.val_acc.append(val_acc)
            history.seconds.append(time.perf_counter() - t0)
            stop = False
            if early_stopping is not None:
                monitored = history.val_loss[-1] if early_stopping.monitor == "val_loss" else history.val_acc[-1]
                stop = early_stopping.step(epoch, monitored, model)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
            over_budget = time_budget is not None and time.perf_counter() - start > time_budget
            if (stop or over_budget) and epoch < epochs - 1:
                history.stopped_epoch = epoch
                break
    if early_stopping is not None:
        early_stopping.restore(model)
        history.best_epoch = early_stopping.best_epoch_
    elif history.val_loss:
        history.best_epoch = int(np.argmin(history.val_loss))
    if has_exact_batch_norm(model):  # E[x], Var[x] of the final weights (BatchNorm paper, Algorithm 2)
        recompute_population_statistics(model, population_batches(X, batch_size, normalize))
    model.eval()
    return history


@torch.no_grad()
def predict_logits(model: nn.Module, X: ArrayLike, batch_size: int = 1024, normalize: Normalize = None,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """Logits of ``model`` in eval mode for X (uint8 images or float data, numpy or torch).

    Returns float32 N x K on the CPU. The model's train/eval flag is restored afterwards.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    X = torch.as_tensor(X)
    if X.dim() == 0 or X.shape[0] == 0:
        raise ValueError(f"X is empty: shape {tuple(X.shape)}")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    try:
        out = [model(to_float_batch(X[i:i + batch_size].to(device), normalize=normalize)).float().cpu()
               for i in range(0, X.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, X: ArrayLike, y: ArrayLike, batch_size: int = 1024, normalize: Normalize = None,
             device: str | torch.device = "cpu") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on (X, y); returns two floats."""
    y = torch.as_tensor(y).long().cpu()
    logits = predict_logits(model, X, batch_size=batch_size, normalize=normalize, device=device)
    if y.shape != logits.shape[:1]:
        raise ValueError(f"y must have one label per row of X: {logits.shape[0]} rows, y of shape {tuple(y.shape)}")
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()
