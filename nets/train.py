"""Training and evaluation of one network: ``fit``, ``fit_snapshots``, ``predict_logits``, ``evaluate``.

``fit`` is the training loop of :mod:`nets.loop` for one model: the options are a
:class:`nets.TrainConfig`, the step is :class:`nets.step.TrainStep`, exactly as the ensemble's
vectorised engine trains k members at once.

Generators follow the toolkit's one convention (:func:`conventions.as_generator`):
``generator=None`` means torch's global default generator (as everywhere in torch): shuffling,
augmentation and torch-RNG dropout masks draw from it and advance it, so ``torch.manual_seed(s)``
before ``fit`` makes a CPU run reproducible. An int seeds a fresh ``torch.Generator``; a
``torch.Generator`` of one's own is used as given, and then torch's global RNG is forked for the
run (seeded from that generator) so that the generator alone fixes the run and the caller's
global stream is left untouched.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from conventions import as_generator, check_int
from nets.batches import (
    Normalize,
    inference_batch_size,
    initialise_from_data,
    model_memory_format,
    set_memory_format,
    to_float_batch,
)
from nets.config import TrainConfig
from nets.early_stopping import EarlyStopping
from nets.loop import DivergenceError, History, MemberResult, SingleModel, train_members
from nets.pacing import Deadline

ArrayLike = Any  # numpy array or torch tensor

__all__ = ["fit", "fit_snapshots", "predict_logits", "evaluate"]


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


def _config(config: TrainConfig | None, options: dict[str, Any]) -> TrainConfig:
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a nets.TrainConfig or None, got {config!r}")
    unknown = sorted(set(options) - set(TrainConfig.field_names()))
    if unknown:
        raise TypeError(f"fit() got unexpected keyword arguments {unknown}; its training options are the fields "
                        f"of nets.TrainConfig: {', '.join(TrainConfig.field_names())}")
    return dataclasses.replace(config or TrainConfig(), **options)


@torch.no_grad()
def _logit_width(model: nn.Module, X: torch.Tensor, config: TrainConfig, memory_format) -> int:
    """K, read off one eval-mode forward of one row (no statistics or dropout state move)."""
    was_training = model.training
    model.eval()
    try:
        return model(to_float_batch(X[:1], normalize=config.normalize, memory_format=memory_format)).shape[-1]
    finally:
        model.train(was_training)


def fit(model: nn.Module, data: tuple[ArrayLike, ArrayLike], val: tuple[ArrayLike, ArrayLike] | None = None, *,
        config: TrainConfig | None = None, early_stopping: EarlyStopping | None = None,
        generator: torch.Generator | int | None = None,
        on_epoch_end: Callable[[int, History], None] | None = None, pace: Deadline | None = None,
        **options: Any) -> History:
    """Train ``model`` with mini-batch SGD/Adam on cross-entropy; returns its :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Maps a float batch N x ... to logits N x K. Trained in place.
    data, val : (X, y)
        X is uint8 images N x C x H x W (scaled to [0, 1] per batch) or float N x ... (numpy
        or torch); y holds N int class labels. Moved to the device once.
    config : TrainConfig, optional
        The training options; ``options`` override its fields.
    early_stopping : EarlyStopping, optional
        Needs ``val``; the best snapshot is restored at the end.
    generator : torch.Generator, int or None
        Shuffling, augmentation and torch-RNG dropout masks (same generator -> same weights
        on CPU). None: torch's global default generator (see the module docstring).
    on_epoch_end : callable, optional
        ``callback(epoch, history)`` after every epoch (0-based epoch).
    pace : nets.Deadline, optional
        A deadline the training steps keep: the number of steps is re-planned during training
        from the measured step times (``epochs`` is the first plan; :mod:`nets.pacing`).
    **options
        Any field of :class:`nets.TrainConfig`, documented there with its default: ``epochs``
        (10), ``batch_size`` (128), ``lr`` (0.05), ``momentum`` (0.9), ``nesterov`` (True),
        ``optimizer`` ("sgd" or "adam"), ``weight_decay`` (0, coupled L2 on Linear/Conv
        weights), ``decoupled_weight_decay`` (False), ``l1`` (0), ``label_smoothing`` (0),
        ``lr_schedule`` ("constant", "onecycle", "cosine", "triangular"), ``snapshots`` and
        ``n_snapshots`` (None and 1; set, the run's cycles and its networks are those of
        :func:`fit_snapshots`, and ``model`` ends as the last of them), ``precision`` ("float32"; or
        "bfloat16": bf16 autocast in the training forward, typically 1.3-2x faster on devices
        with native bf16 and within about a point of float32's accuracy; float32 with a
        warning on devices without), ``channels_last`` (True: a model with Conv2d layers and
        its batches use the channels-last layout, about 1.4-2x faster convolutions on CPU and
        GPU, the same results within float rounding), ``augment`` (an augkit pipeline, run
        on uint8 batches, or any callable on float batches in [0, 1]; a label-mixing one with
        ``mixes_labels = True`` gives soft targets, and training accuracy is then counted
        against their argmax), ``normalize`` ((mean, std) per channel), ``time_budget``
        (seconds), ``device`` ("cpu"), ``verbose`` (1).

    Returns
    -------
    History
        Per-epoch losses, accuracies and timings.

    Raises
    ------
    DivergenceError
        When an epoch's training loss is NaN/Inf.

    Notes
    -----
    After training (and restoring the early-stopping snapshot), every BatchNorm's population
    statistics are recomputed with the final weights over up to 32 evenly spaced, un-augmented
    training batches (:func:`nets.recompute_population_statistics`, the paper's Algorithm 2).
    Validation and BatchNorm recomputation never augment or mix. The model is left on the
    device in eval mode (channels-last if ``channels_last`` applied).
    """
    config = _config(config, options)
    return _train(model, data, val, config, early_stopping, generator, on_epoch_end, pace).history


def fit_snapshots(model: nn.Module, data: tuple[ArrayLike, ArrayLike], val: tuple[ArrayLike, ArrayLike] | None = None,
                  *, config: TrainConfig | None = None, generator: torch.Generator | int | None = None,
                  on_epoch_end: Callable[[int, History], None] | None = None,
                  **options: Any) -> tuple[list[nn.Module], History]:
    """Train ``model`` once and take several networks from its run: an ensemble for the
    cost of one training (:mod:`nets.snapshots`).

    Parameters
    ----------
    model, data, val, config, generator, on_epoch_end, **options
        As in :func:`fit`; the options must set ``snapshots`` (``"snapshot"``, ``"fge"`` or
        ``"swa"``) and ``n_snapshots``. ``val`` is only scored after each epoch (there is no
        early stopping: it would cut the cycles short).

    Returns
    -------
    networks : list of nn.Module
        The ``n_snapshots`` networks taken from the run (one for ``"swa"``: their average), in
        the order taken, in eval mode, each with its BatchNorm population statistics; the last
        is ``model`` itself.
    history : History
        Per-epoch losses, accuracies and timings; ``snapshot_steps`` holds the step counts after
        which the networks were taken.

    Raises :class:`DivergenceError` when an epoch's training loss is NaN/Inf.
    """
    config = _config(config, options)
    if config.snapshots is None:
        raise ValueError("fit_snapshots takes networks from the run as snapshots= says: pass snapshots='snapshot', "
                         "'fge' or 'swa' (and n_snapshots), or train one network with nets.fit")
    result = _train(model, data, val, config, None, generator, on_epoch_end)
    return result.snapshots, result.history


def _train(model: nn.Module, data: tuple[ArrayLike, ArrayLike], val: tuple[ArrayLike, ArrayLike] | None,
           config: TrainConfig, early_stopping: EarlyStopping | None, generator: torch.Generator | int | None,
           on_epoch_end: Callable[[int, History], None] | None, pace: Deadline | None = None) -> MemberResult:
    """The body of :func:`fit` and :func:`fit_snapshots`: the loop's result for ``model``."""
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be a nets.EarlyStopping or None, got {early_stopping!r}")
        if val is None:
            raise ValueError("early_stopping needs validation data: pass val=(X_val, y_val)")
    device = config.device
    X, y = _as_tensor_data(*data, "data", device)
    val_data = _as_tensor_data(*val, "val", device) if val is not None else None
    g = as_generator(generator)
    model.to(device)
    memory_format = set_memory_format(model, config.channels_last)
    initialise_from_data(model, X, config.normalize, memory_format)
    n_classes = _logit_width(model, X, config, memory_format) if config.mixes_labels else None

    def validate() -> tuple[list[float], list[float]]:
        loss, acc = evaluate(model, *val_data, normalize=config.normalize, device=device)
        return [loss], [acc]

    report = None if on_epoch_end is None else (lambda epoch, histories: on_epoch_end(epoch, histories[0]))
    [result] = train_members(SingleModel(model, memory_format), X, y, config, generators=[g], n_classes=n_classes,
                             augment_generator=g, validate=validate if val_data is not None else None,
                             stoppers=[early_stopping], on_epoch_end=report, pace=pace)
    if result.diverged_epoch is not None:
        raise DivergenceError(result.diverged_epoch, result.diverged_loss)
    return result


@torch.no_grad()
def predict_logits(model: nn.Module, X: ArrayLike, batch_size: int | None = None, normalize: Normalize = None,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """Logits of ``model`` in eval mode.

    Batches go to ``device`` in the model's memory format
    (:func:`nets.batches.model_memory_format`), normalised by ``normalize``. The model's
    train/eval flag is restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        The network, on ``device``.
    X : array-like or torch.Tensor
        N rows: uint8 images N x C x H x W or float data, numpy or torch.
    batch_size : int, optional
        Rows per forward pass (default :func:`nets.batches.inference_batch_size`).
    normalize : (mean, std), optional
        Per-channel normalisation of the inputs (scalars or length-C sequences).
    device : str or torch.device
        Where the model runs.

    Returns
    -------
    torch.Tensor
        float32 N x K, on the CPU.
    """
    if batch_size is None:
        batch_size = inference_batch_size(device)
    check_int(batch_size, "batch_size", minimum=1)
    X = torch.as_tensor(X)
    if X.dim() == 0 or X.shape[0] == 0:
        raise ValueError(f"X is empty: shape {tuple(X.shape)}")
    device = torch.device(device)
    memory_format = model_memory_format(model)
    was_training = model.training
    model.eval()
    try:
        out = [model(to_float_batch(X[i:i + batch_size].to(device), normalize=normalize,
                                    memory_format=memory_format)).float().cpu()
               for i in range(0, X.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, X: ArrayLike, y: ArrayLike, batch_size: int | None = None, normalize: Normalize = None,
             device: str | torch.device = "cpu") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on ``(X, y)``.

    Parameters
    ----------
    model : torch.nn.Module
        The network, on ``device``.
    X : array-like or torch.Tensor
        N rows, as in :func:`predict_logits`.
    y : array-like or torch.Tensor
        N int labels.
    batch_size : int, optional
        Rows per forward pass (default :func:`nets.batches.inference_batch_size`).
    normalize : (mean, std), optional
        Per-channel normalisation of the inputs (scalars or length-C sequences).
    device : str or torch.device
        Where the model runs.

    Returns
    -------
    loss, accuracy : float
        The mean cross-entropy and the accuracy.
    """
    y = torch.as_tensor(y).long().cpu()
    logits = predict_logits(model, X, batch_size=batch_size, normalize=normalize, device=device)
    if y.shape != logits.shape[:1]:
        raise ValueError(f"y must have one label per row of X: {logits.shape[0]} rows, y of shape {tuple(y.shape)}")
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()
