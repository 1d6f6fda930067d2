"""Scoring models under distribution shift: accuracy, NLL, Brier and ECE on corrupted copies of a validation set.

In the spirit of CIFAR-10-C (Hendrycks & Dietterich 2019) and Ovadia et al. (2019), "Can you
trust your model's uncertainty?": every model sees the clean images and each corruption of
:mod:`ensemble.corruptions` at each severity, and is scored by :func:`ensemble.metrics.summary`.
A model is any callable ``proba_fn(images) -> N x K probabilities``, e.g. a fitted
``BaggedNetClassifier.predict_proba`` or a calibrated wrapper around it.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from augkit.data import to_batch, to_nhwc

from .corruptions import CORRUPTIONS, SEVERITIES, check_corruption, check_severity, corrupt
from .metrics import summary

__all__ = ["corrupted_copies", "mean_over_corruptions", "robustness_scores"]

Images = np.ndarray | torch.Tensor
ProbaFn = Callable[[Images], np.ndarray | torch.Tensor]
SCORES = ("accuracy", "nll", "brier", "ece")


def _as_batch(images: Images) -> torch.Tensor:
    """uint8 numpy ``N x H x W x C`` or tensor ``N x C x H x W`` -> tensor ``N x C x H x W``."""
    if isinstance(images, torch.Tensor):
        return images
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError("images must be a uint8 numpy array N x H x W x C (C = 1 or 3) or a uint8 tensor "
                         f"N x C x H x W; got {getattr(images, 'shape', type(images).__name__)}")
    return to_batch(images)


def corrupted_copies(images: Images, *, corruptions: Iterable[str] | None = None,
                     severities: Sequence[int] = SEVERITIES, seed: int = 0) -> Iterator[tuple[str, int, Images]]:
    """Corrupted copies of ``images``, one copy made at a time.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        uint8 numpy ``N x H x W x C`` (as :mod:`augkit.data` loads them) or uint8 tensor
        ``N x C x H x W``; each copy comes back in the same kind and layout.
    corruptions : iterable of str, optional
        Names from :data:`ensemble.corruptions.CORRUPTIONS` (default: all, in order).
    severities : sequence of int
        From 1 to 5.
    seed : int
        See :func:`ensemble.corruptions.corrupt` (the whole set is corrupted as one batch).

    Returns
    -------
    iterator of (str, int, numpy.ndarray or torch.Tensor)
        ``(corruption, severity, copy)``.

    Raises
    ------
    ValueError
        At the call (not at the first copy), for an unknown corruption or severity.
    """
    batch = _as_batch(images)
    names = tuple(CORRUPTIONS) if corruptions is None else tuple(check_corruption(c) for c in corruptions)
    severities = tuple(check_severity(s) for s in severities)
    as_given = (lambda out: out) if isinstance(images, torch.Tensor) else to_nhwc
    return ((name, severity, as_given(corrupt(batch, name, severity, seed=seed)))
            for name in names for severity in severities)


def robustness_scores(models: Mapping[str, ProbaFn] | ProbaFn, images: Images, y, *,
                      corruptions: Iterable[str] | None = None, severities: Sequence[int] = SEVERITIES,
                      seed: int = 0, n_bins: int = 15) -> list[dict]:
    """Score models on clean images and on every corrupted copy of them.

    Each corrupted copy is made once and shown to every model.

    Parameters
    ----------
    models : dict of str to callable, or callable
        ``{name: proba_fn}``, or one ``proba_fn`` (named ``"model"``); ``proba_fn(images)``
        returns ``N x K`` probabilities for images in the kind they were given.
    images : numpy.ndarray or torch.Tensor
        uint8 numpy ``N x H x W x C`` or tensor ``N x C x H x W`` (see :func:`corrupted_copies`).
    y : array-like
        ``N`` integer labels in ``[0, K)``.
    corruptions, severities, seed
        See :func:`corrupted_copies`.
    n_bins : int
        The ECE's bins.

    Returns
    -------
    list of dict
        One per model and set of images, clean first: ``model``, ``corruption`` (``"clean"`` for
        the clean images), ``severity`` (0 for clean), ``value`` (the corruption's parameter at
        that severity; None for clean), and ``accuracy``, ``nll``, ``brier``, ``ece``.
    """
    if callable(models):
        models = {"model": models}
    if len(y) != len(images):
        raise ValueError(f"y has {len(y)} labels but there are {len(images)} images")
    copies = corrupted_copies(images, corruptions=corruptions, severities=severities, seed=seed)
    rows = []
    for corruption, severity, copy in itertools.chain([("clean", 0, images)], copies):
        value = None if severity == 0 else CORRUPTIONS[corruption].values[severity - 1]
        for name, proba_fn in models.items():
            scores = summary(proba_fn(copy), y, n_bins=n_bins)
            rows.append({"model": name, "corruption": corruption, "severity": severity, "value": value, **scores})
    return rows


def mean_over_corruptions(rows: Sequence[dict]) -> list[dict]:
    """Per model and severity, the mean of each score over the corruptions (severity 0: clean).

    ``rows`` as returned by :func:`robustness_scores`. Returns dicts ``model``, ``severity``,
    ``accuracy``, ``nll``, ``brier``, ``ece``, in the order models and severities first appear.
    """
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["severity"]), []).append(row)
    return [{"model": model, "severity": severity, **{s: float(np.mean([r[s] for r in group])) for s in SCORES}}
            for (model, severity), group in groups.items()]
