"""From a BaggedNetClassifier's parameters to what the training engine takes.

The estimator's parameters become the devices members train on (:func:`training_devices`),
the engine (:func:`resolve_engine`, :func:`check_engine`), the members' training options
(:func:`train_config`, one :class:`nets.TrainConfig`) and their setup
(:func:`estimator_setup`); after training or loading, :func:`set_members` gives the estimator
its members back from their records.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch

import nets
from conventions import Normalization, check_choice, check_normalization
from nets.batches import set_memory_format

from .engine.members import TrainSetup, build_member
from .engine.orchestration import ENGINES
from .engine.storage import MemberRecord

if TYPE_CHECKING:  # pragma: no cover
    from .bagging import BaggedNetClassifier

__all__ = ["training_devices", "resolve_engine", "check_engine", "train_config", "image_normalization",
           "estimator_setup", "set_members", "TRAINING_OPTIONS"]

# Estimator parameters that are nets.TrainConfig fields of the same name and meaning.
TRAINING_OPTIONS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "optimizer", "weight_decay",
                     "decoupled_weight_decay", "l1", "lr_schedule", "norm_lr_scale", "lookahead", "label_smoothing",
                     "precision", "channels_last", "augment")


def _default_member(input_shape, n_classes):
    if len(input_shape) == 3:
        return nets.SmallCNN(input_shape=input_shape, n_classes=n_classes)
    return nets.MLP(input_shape=input_shape, n_classes=n_classes, widths=(128,))


def training_devices(device: str | list[str] | tuple[str, ...]) -> list[str]:
    """The devices members train on, for :class:`BaggedNetClassifier`'s ``device`` parameter.

    Parameters
    ----------
    device : str or sequence of str
        One device, or a list: one worker process per device. Plain ``"cuda"`` on a machine
        with several GPUs means all of them.

    Returns
    -------
    list of str
        At least one device name; prediction runs on the first.
    """
    if isinstance(device, (list, tuple)):
        if not device:
            raise ValueError("device is an empty list; name at least one device")
        return [str(d) for d in device]
    if str(device) == "cuda" and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(device)]


def resolve_engine(engine: str, devices: list[str]) -> str:
    """The training engine that ``engine`` means on ``devices``.

    Parameters
    ----------
    engine : {"auto", "loop", "joblib", "vmap", "grouped"}
        :class:`BaggedNetClassifier`'s ``engine`` parameter. ``"auto"`` is ``"vmap"`` on CUDA,
        where one stacked model of all members keeps the GPU busy, and ``"joblib"`` elsewhere,
        where worker processes use the CPU's cores.
    devices : list of str
        As :func:`training_devices` returns them.

    Returns
    -------
    {"loop", "joblib", "vmap", "grouped"}
    """
    if engine != "auto":
        return engine
    return "vmap" if devices[0].startswith("cuda") else "joblib"


def check_engine(engine: str) -> str:
    """``engine`` must name one of ``"auto"`` and :data:`ensemble.engine.orchestration.ENGINES`;
    the former ``"vectorized"`` gets directions."""
    if engine == "vectorized":
        raise ValueError("engine='vectorized' is now engine='vmap' (torch.func.vmap over the stacked members) or "
                         "engine='grouped' (grouped convolutions); the vectorize= parameter is gone")
    return check_choice(engine, "engine", ("auto", *ENGINES))


def train_config(estimator: BaggedNetClassifier, normalize: Normalization | None = None,
                 epochs: float | None = None) -> nets.TrainConfig:
    """The members' :class:`nets.TrainConfig`, built from ``estimator``'s parameters.

    Parameters
    ----------
    estimator : BaggedNetClassifier
        Read for its training options, ``method`` and ``n_members`` (an ensemble from one run
        takes ``n_members`` snapshots), ``device`` (the first training device) and ``verbose``
        (one level less: the members' per-epoch bars show from ``verbose=2``).
    normalize : (mean, std), optional
        The members' per-channel input normalisation.
    epochs : float, optional
        Overrides the ``epochs`` parameter (the time budget's sizing).

    Raises
    ------
    ValueError, TypeError
        From :class:`nets.TrainConfig`'s checks, which name the parameter at fault.
    """
    options = {name: getattr(estimator, name) for name in TRAINING_OPTIONS}
    if epochs is not None:
        options["epochs"] = epochs
    if estimator.method != "independent":  # the members are the networks one run yields
        options.update(snapshots=estimator.method, n_snapshots=estimator.n_members)
    return nets.TrainConfig(**options, normalize=normalize, device=training_devices(estimator.device)[0],
                            verbose=max(0, estimator.verbose - 1))


def image_normalization(estimator: BaggedNetClassifier) -> Normalization | None:
    """Per-channel (mean, std) of a fitted estimator's image input; None for tabular input,
    which :func:`ensemble.inputs.standardise` standardises before the members see it."""
    if estimator.input_spec_.kind != "image":
        return None
    return check_normalization((estimator.input_mean_, estimator.input_scale_))


def set_members(estimator: BaggedNetClassifier, records: list[MemberRecord]) -> None:
    """Give ``estimator`` (whose ``classes_`` and ``input_spec_`` are set) the members of
    ``records``: ``estimators_`` built from each record's seed and loaded with its weights, on
    the first training device, and the per-member attributes (indices, seeds, bags, histories).
    ``fit`` calls it after training, :func:`ensemble.persistence.load_ensemble` after reading."""
    setup = estimator_setup(estimator)
    device = training_devices(estimator.device)[0]
    estimator.estimators_ = []
    for record in records:
        model = build_member(setup, record.seed)
        set_memory_format(model, estimator.channels_last)
        model.load_state_dict(record.state)
        estimator.estimators_.append(model.to(device).eval())
    estimator.member_indices_ = [r.index for r in records]
    estimator.member_seeds_ = [r.seed for r in records]
    estimator.bootstrap_indices_ = [np.asarray(r.train_indices) for r in records]
    estimator.oob_indices_ = [np.asarray(r.val_indices) for r in records]
    estimator.histories_ = [r.history for r in records]


def estimator_setup(estimator: BaggedNetClassifier, checkpoint_dir: str | os.PathLike | None = None,
                    epochs: float | None = None) -> TrainSetup:
    """The :class:`~ensemble.engine.members.TrainSetup` of a fitted (or being fitted)
    ``estimator``: its member factory, input shape, classes and training options."""
    return TrainSetup(factory=estimator.member if estimator.member is not None else _default_member,
                      input_shape=estimator.input_spec_.shape, n_classes=len(estimator.classes_),
                      config=train_config(estimator, image_normalization(estimator), epochs),
                      early_stopping=bool(estimator.early_stopping), patience=int(estimator.patience),
                      checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None)
