"""Recipes: fully configured, unfitted estimators for known data.

``cifar10(time_budget)`` is airbench94 (Keller Jordan, 2024: 94% on CIFAR-10 in 3.8 A100-seconds)
made of this toolkit's parts and sized to a wall-time budget on whatever machine runs it. See
:func:`cifar10` for what it does and why.
"""
from __future__ import annotations

import functools
import time

import numpy as np
import torch
from torch.nn import functional as F

import augkit
import nets
from nets.precision import bfloat16_supported

from .bagging import BaggedNetClassifier
from .engine.budget import probe_speed
from .engine.members import TrainSetup, threads_per_worker
from .settings import train_config

__all__ = ["cifar10", "cifar10_airbench", "mirror_translate_views", "WIDTHS", "IMAGES_PER_MEMBER"]

#: The network widths :func:`cifar10` chooses from, widest first: airbench94's, then narrower
#: networks of the same design.
WIDTHS = ((64, 256, 256), (48, 192, 192), (32, 128, 128))
#: The training images a member must see in its share of the budget for :func:`cifar10` to
#: choose a width of :data:`WIDTHS` (else it tries the next narrower). airbench94's schedule
#: trains on 9.9 epochs of 50,000 images; a member that would see fewer is more accurate
#: narrower, with more epochs.
IMAGES_PER_MEMBER = 400_000
# Measured by examples/cifar10_recipe.py on a 2-core AVX2 CPU at 900 s: 32/128/128 reached 87.4%
# in 8 epochs, where 64/256/256 would have had under 3.


def _member(widths, batch_norm: bool = True):
    return functools.partial(nets.FastCNN, widths=widths, whiten=True, dirac=True, bn_scale=False,
                             batch_norm=batch_norm)


def choose_widths(seconds_per_member: float, settings: dict, batch_size: int,
                  batch_norm: bool = True) -> tuple[tuple[int, ...], dict]:
    """The widest of :data:`WIDTHS` whose measured training rate on this machine gives a member at
    least :data:`IMAGES_PER_MEMBER` images in ``seconds_per_member`` (else the narrowest), and the
    rates measured (images per second, on random 32 x 32 images: the rate does not depend on them)."""
    rates = {}
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (3 * batch_size, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, 3 * batch_size)
    config = train_config(BaggedNetClassifier(**{k: v for k, v in settings.items() if k != "member"}),
                          normalize=((0.5,) * 3, (0.25,) * 3))
    for widths in WIDTHS[:-1]:
        setup = TrainSetup(factory=_member(widths, batch_norm), input_shape=(3, 32, 32), n_classes=10, config=config,
                           early_stopping=False, patience=1)
        probe = probe_speed(setup, X, y, threads=threads_per_worker(1), steps=2, warmup=1)
        rates[str(widths)] = batch_size / probe.step_seconds
        if rates[str(widths)] * seconds_per_member >= IMAGES_PER_MEMBER:
            return widths, rates
    return WIDTHS[-1], rates


def cifar10(time_budget: float, n_members: int = 1, device: str = "cpu", random_state=0, widths=None,
            batch_norm: bool = True, method: str = "independent", **overrides) -> BaggedNetClassifier:
    """An unfitted ensemble for 32 x 32 RGB uint8 images (CIFAR-10) that trains within ``time_budget``.

    Parameters
    ----------
    time_budget : float
        Seconds of wall time for the whole ``fit``, the timing probe included. A probe of a few
        training steps on the data passed to ``fit`` measures this machine, the epochs are
        planned so that all ``n_members`` members, one after another on the CPU, and the work
        after training fit in the budget (:mod:`ensemble.engine.budget`), and during training
        each member re-plans its remaining steps from its measured step times, so that ``fit``
        ends on the budget (:mod:`nets.pacing`).
    n_members : int
        Members sharing the budget. Each trains on all rows but 2% it holds out, from its own
        initialisation, order and augmentation (deep ensembles rather than bagging: a bootstrap
        sample keeps only 63% of the distinct images, which costs a network this short of data
        more than the diversity gives back). With a one-run ``method``: the members taken from
        the one run (for ``"swa"``: the networks averaged into one).
    device : str
        "cpu" (members one after another, each on every core) or "cuda" (the vectorised engine:
        all members at once).
    random_state : int
        Seeds every member.
    widths : tuple of 3 ints or None
        The network's block widths. None: airbench94's 64/256/256 when a member's share of the
        budget lets it see at least :data:`IMAGES_PER_MEMBER` images on this machine (its
        schedule's ~10 epochs), else the widest of :data:`WIDTHS` that does, or 32/128/128: a
        short timing probe per width (about 10 s on 2 CPU cores) decides, and its seconds are
        taken from ``time_budget``. The choice is the estimator's ``member``.
    batch_norm : bool
        False removes every BatchNorm from the network (the ablation's row); the width is
        probed for that network.
    method : {"independent", "snapshot", "fge", "swa"}
        The estimator's ``method``. ``"independent"``: ``n_members`` networks split the budget.
        The others spend the whole budget on one run and take the members from it (Snapshot
        Ensembles, fast geometric ensembling, SWA; see :class:`BaggedNetClassifier`): the width
        is chosen for the whole budget, and look-ahead is off (these methods take or average
        the run's weights themselves). ``"snapshot"`` replaces the triangular schedule by its
        cosine cycles; ``"fge"`` and ``"swa"`` keep it for the run before their cycles.
        The default stays ``"independent"`` with ``n_members=1``, one network: measured on the
        validation split on 2 CPU cores (``examples/cifar10_equal_compute.py``), one network
        scored 88.6% (NLL 0.364) at 300 s and 90.1% (NLL 0.312) at 900 s; the best one-run
        ensembles scored 86.5% (FGE and SWA, NLL 0.41) at 300 s and 89.2% (FGE, NLL 0.322) at
        900 s, and 4 independent members 82.6% at 300 s. The one-run methods end their fit
        before the budget (71-77% of it at 300 s, 94% at 900 s): their cycles are laid out
        once, from the timing probe.
    **overrides
        Any :class:`BaggedNetClassifier` parameter, replacing the recipe's (the ablation
        example removes one technique at a time this way).

    Returns
    -------
    BaggedNetClassifier
        Unfitted; ``fit(images N x 32 x 32 x 3 uint8, labels)``.

    Raises
    ------
    TypeError
        For an override that is no :class:`BaggedNetClassifier` parameter, or ``member=`` with
        ``batch_norm=False``.

    Notes
    -----
    What it is, and why:

    * The network: :class:`nets.FastCNN` 64/256/256, airbench94's: a 2 x 2 stem whose filters
      are the whitening of the training images' patches, fixed (``whiten``); 3 x 3 convolutions
      initialised as identities (``dirac``); BatchNorm with frozen scales whose shifts step 64
      times faster (``norm_lr_scale``); GELU; logits scaled by 1/9.
    * Augmentation: a horizontal flip and a translation by up to 2 pixels with reflect padding
      (``augkit.RandomCrop(32, padding=2, padding_mode="reflect")``), airbench's.
    * Optimisation: Nesterov SGD, momentum 0.85, batch 512, peak lr 0.75 (airbench's 11.5 per
      1024 examples in its decoupled units), weight decay 1.33e-3 on the weights (its 0.0153
      per 1024 examples), airbench's triangular schedule (0.2 -> 1 at 23% -> 0.07), label
      smoothing 0.2, look-ahead weight averaging (``lookahead``), bfloat16 autocast where the
      device computes bf16 natively (else float32), channels-last.
    * After training: BatchNorm's population statistics from the final weights (Algorithm 2);
      ``tta="auto"`` chooses among none, flip, flip + 1-2 px shifts and ten crops on the held-out
      rows; ``calibration="temperature"`` fits a temperature there.

    ``examples/cifar10_recipe.py`` measures it; the documentation's results pages show what it
    measured, with the command that produced it.
    """
    start = time.perf_counter()
    batch_size = 512
    settings = dict(
        n_members=n_members,
        method=method,
        bootstrap=False,
        validation_fraction=0.02,
        early_stopping=False,
        epochs=200,  # a cap: the budget sizes the epochs
        batch_size=batch_size,
        lr=11.5 / (1024 * (1 + 1 / (1 - 0.85))) * batch_size,
        momentum=0.85,
        nesterov=True,
        weight_decay=0.0153 / 11.5,
        lr_schedule="triangular",
        norm_lr_scale=64.0,
        lookahead=method == "independent",
        label_smoothing=0.2,
        precision="bfloat16" if bfloat16_supported(device) else "float32",
        channels_last=True,
        augment=augkit.Compose([augkit.HorizontalFlip(), augkit.RandomCrop(32, padding=2, padding_mode="reflect")]),
        tta="auto",
        calibration="temperature",
        time_budget=time_budget,
        n_jobs=1,
        device=device,
        random_state=random_state,
        verbose=1,
    )
    unknown = sorted(set(overrides) - set(BaggedNetClassifier().get_params(deep=False)))
    if unknown:
        raise TypeError(f"cifar10() got unknown BaggedNetClassifier parameters {unknown}")
    settings.update(overrides)
    if "member" in overrides and not batch_norm:
        raise TypeError("batch_norm=False builds the recipe's own network; with member= given, remove "
                        "BatchNorm from that factory instead")
    if "member" not in overrides:
        if widths is None:
            runs = n_members if method == "independent" else 1  # a one-run method trains one network
            widths, _ = choose_widths(time_budget / runs, settings, batch_size, batch_norm)
            settings["time_budget"] = time_budget - (time.perf_counter() - start)
        settings["member"] = _member(tuple(widths), batch_norm)
    return BaggedNetClassifier(**settings)



def mirror_translate_views(batch: torch.Tensor) -> torch.Tensor:
    """airbench94's test-time views (its ``tta_level=2``), as a ``tta``: N x C x H x W -> N x 8 x C x H x W.

    airbench weighs the image and its mirror 1/4 each, and the image moved one pixel diagonally
    down-right and up-left (reflect padding) and their mirrors 1/8 each. An estimator averages
    its views uniformly, so the image and its mirror come twice: views 0-3 are the image (twice),
    the shift down-right and the shift up-left; views 4-7 their mirrors.

    Parameters
    ----------
    batch : torch.Tensor
        N x C x H x W, uint8 or float.

    Returns
    -------
    torch.Tensor
        N x 8 x C x H x W, ``batch``'s dtype and device.
    """
    h, w = batch.shape[-2:]
    padded = F.pad(batch, (1, 1, 1, 1), mode="reflect")
    views = torch.stack([batch, batch, padded[..., :h, :w], padded[..., 2:, 2:]], dim=1)
    return torch.cat([views, views.flip(-1)], dim=1)


def cifar10_airbench(epochs: float = 9.9, **overrides) -> BaggedNetClassifier:
    """:func:`cifar10` at airbench94's own configuration, with no time budget.

    airbench94's widths 64/256/256 and batch 1024 at its learning rate, every training row used
    (no held-out rows, so no temperature), and ``tta="flip_shift"`` (the image, four 2-pixel
    shifts and their mirrors on 32 x 32 images).

    Parameters
    ----------
    epochs : float
        The epochs to train (airbench94's 9.9 by default).
    **overrides
        Any :class:`BaggedNetClassifier` parameter, replacing these settings and the recipe's.

    Returns
    -------
    BaggedNetClassifier
        Unfitted; ``fit(images N x 32 x 32 x 3 uint8, labels)``.
    """
    batch_size = 1024
    settings = dict(epochs=epochs, batch_size=batch_size, lr=11.5 / (1024 * (1 + 1 / (1 - 0.85))) * batch_size,
                    validation_fraction=0.0, tta="flip_shift", calibration=None)
    settings.update(overrides)
    return cifar10(None, widths=WIDTHS[0], **settings)
