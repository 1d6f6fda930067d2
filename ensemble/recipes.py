"""Recipes: fully configured, unfitted estimators for known data.

``cifar10(time_budget)`` is airbench94 (Keller Jordan, 2024: 94% on CIFAR-10 in 3.8 A100-seconds)
made of this toolkit's parts and sized to a wall-time budget on whatever machine runs it. See
:func:`cifar10` for what it does, why, and what it measured.
"""
from __future__ import annotations

import functools

import augkit
import nets
from nets.precision import bfloat16_supported

from .bagging import BaggedNetClassifier

__all__ = ["cifar10", "CIFAR10_MEASURED"]

# What the recipe measured on this project's development machine (filled by
# examples/cifar10_recipe.py; the README has the table and the command).
CIFAR10_MEASURED = "see README.md, section 'A CIFAR-10 recipe'"


def cifar10(time_budget: float, n_members: int = 1, device: str = "cpu", random_state=0,
            **overrides) -> BaggedNetClassifier:
    """An unfitted ensemble for 32 x 32 RGB uint8 images (CIFAR-10) that trains within ``time_budget``.

    Parameters
    ----------
    time_budget : float
        Seconds of wall time for the whole ``fit``, the timing probe included. A probe of a few
        training steps on the data passed to ``fit`` measures this machine, and the epochs are
        sized so that all ``n_members`` members, one after another on the CPU, and the work
        after training fit in the budget (:mod:`ensemble.budget`).
    n_members : int
        Members sharing the budget. Each trains on all rows but 2% it holds out, from its own
        initialisation, order and augmentation (deep ensembles rather than bagging: a bootstrap
        sample keeps only 63% of the distinct images, which costs a network this short of data
        more than the diversity gives back).
    device : str
        "cpu" (members one after another, each on every core) or "cuda" (the vectorised engine:
        all members at once).
    random_state : int
        Seeds every member.
    **overrides
        Any :class:`BaggedNetClassifier` parameter, replacing the recipe's (the ablation
        example removes one technique at a time this way).

    What it is, and why
    -------------------
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

    Measured: :data:`CIFAR10_MEASURED`.

    Returns
    -------
    BaggedNetClassifier
        Unfitted; ``fit(images N x 32 x 32 x 3 uint8, labels)``.
    """
    batch_size = 512
    settings = dict(
        member=functools.partial(nets.FastCNN, whiten=True, dirac=True, bn_scale=False),
        n_members=n_members,
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
        lookahead=True,
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
    unknown = sorted(set(overrides) - set(BaggedNetClassifier._get_param_names()))
    if unknown:
        raise TypeError(f"cifar10() got unknown BaggedNetClassifier parameters {unknown}")
    return BaggedNetClassifier(**{**settings, **overrides})
