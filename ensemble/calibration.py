"""Temperature scaling (Guo et al. 2017): one temperature ``T > 0`` divides the logits, ``softmax(z / T)``.

``T`` is the minimiser of the negative log-likelihood on rows the model did not train on; it
changes how confident the probabilities are, never their order, so the predicted class stays.

What is scaled for an ensemble
------------------------------
An ensemble's probabilities ``p`` are means: per member over its test views, then over members
(:meth:`ensemble.BaggedNetClassifier.predict_proba`). Its *averaged logits* are defined as
:func:`ensemble_logits` ``(p) = log p``, so that calibrated probabilities are
``softmax(log p / T)``, proportional to ``p ** (1 / T)``: ``T = 1`` gives ``p`` back and every
``T > 0`` keeps the order of the classes, so the argmax (the soft vote) is unchanged (up to
float rounding that makes two nearly equal entries equal). The mean of the members' logits
would not do: its argmax can differ from the soft vote's, and test views are averaged as
probabilities already. The temperature must be fitted on probabilities averaged the same way
(same views, same members) as the ones it is applied to; for a bagged ensemble that is the
out-of-bag decision function, where each row averages the members that did not train on it.

Fitting
-------
``NLL(beta) = mean_n [logsumexp(beta z_n) - beta z_n,y_n]`` with ``beta = 1 / T`` is convex
in ``beta``; its slope ``mean_n [E_softmax(beta z_n)[z] - z_n,y_n]`` grows with ``beta``. The fit
bisects on ``log T`` (so ``T`` stays positive) for the zero of that slope, inside
:data:`TEMPERATURE_RANGE`: deterministic, no step size, no random start.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from conventions import check_number

from .metrics import NLL_FLOOR, check_labels, check_proba

__all__ = ["MIN_ROWS", "TEMPERATURE_RANGE", "apply_temperature", "ensemble_logits", "fit_temperature"]

# Fewer rows than this cannot fit a temperature worth applying: one misclassified row among
# a handful moves T by a large factor.
MIN_ROWS = 20
# The search interval for T. Hitting an end means the NLL has no minimum inside (see the warnings).
TEMPERATURE_RANGE = (1e-2, 1e2)


def _check_logits(logits, name: str = "logits") -> torch.Tensor:
    z = logits.detach().cpu() if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
    if not z.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating point; got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError(f"{name} must be N x K with N >= 1 samples and K >= 2 classes; got shape {tuple(z.shape)}")
    z = z.to(torch.float64)
    if not torch.isfinite(z).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return z


def _like(values: torch.Tensor, original) -> np.ndarray | torch.Tensor:
    """``values`` (float64) in the kind of ``original``: a tensor on its device and float dtype, else numpy."""
    if isinstance(original, torch.Tensor):
        return values.to(device=original.device, dtype=original.dtype)
    dtype = np.asarray(original).dtype
    return values.numpy().astype(dtype if dtype.kind == "f" else np.float64)


def ensemble_logits(proba) -> np.ndarray | torch.Tensor:
    """An ensemble's averaged logits: ``log max(p, NLL_FLOOR)`` of its averaged probabilities.

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` probabilities (see :func:`ensemble.metrics.check_proba`).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``N x K`` logits, finite (at least ``log NLL_FLOOR``), in ``proba``'s kind and float
        dtype; ``softmax`` of them gives ``proba`` back up to the floor.
    """
    p = check_proba(proba)
    return _like(p.clamp(min=NLL_FLOOR).log(), proba)


def apply_temperature(logits, temperature: float) -> np.ndarray | torch.Tensor:
    """Calibrated probabilities ``softmax(logits / temperature)``.

    Parameters
    ----------
    logits : array-like or torch.Tensor
        Float ``N x K`` (for an ensemble: :func:`ensemble_logits`).
    temperature : float
        ``T > 0``; ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``N x K`` probabilities in ``logits``' kind and float dtype, with the argmax of
        ``logits``.
    """
    temperature = check_number(temperature, "temperature", minimum=0, exclusive_minimum=True)
    z = _check_logits(logits)
    return _like(torch.softmax(z / temperature, dim=1), logits)


def fit_temperature(logits, y) -> float:
    """The temperature minimising the NLL of ``softmax(logits / T)`` on labels ``y``.

    Parameters
    ----------
    logits : array-like or torch.Tensor
        Float ``N x K``, ``N >= MIN_ROWS``, of rows the model did not train on (for an
        ensemble: :func:`ensemble_logits` of its out-of-bag probabilities).
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.

    Returns
    -------
    float
        ``T`` in :data:`TEMPERATURE_RANGE` (to about 1e-10 relative).

    Raises
    ------
    ValueError
        For fewer than :data:`MIN_ROWS` rows or bad shapes / labels (see
        :func:`ensemble.metrics.check_labels`).

    Warns
    -----
    UserWarning
        When the NLL keeps falling beyond the range (an end of it is returned): towards small
        ``T`` when (nearly) every row is classified correctly with a margin (e.g. training rows
        were passed), towards large ``T`` when the logits carry no information about the labels.
    """
    z = _check_logits(logits)
    labels = check_labels(y, *z.shape)
    if len(z) < MIN_ROWS:
        raise ValueError(f"fit_temperature needs at least {MIN_ROWS} rows to fit a temperature; got {len(z)}")
    true = z.gather(1, labels[:, None]).squeeze(1)

    def slope(log_t: float) -> float:  # dNLL/dbeta at beta = 1 / T: E_q[z] - z_y, averaged
        q = torch.softmax(z * math.exp(-log_t), dim=1)
        return float(((q * z).sum(1) - true).mean())

    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    if slope(lo) <= 0:
        warnings.warn(f"the NLL keeps falling as T -> {TEMPERATURE_RANGE[0]:g}: (nearly) every calibration row is "
                      "classified correctly with a margin; were they training rows? Returning the lower end",
                      UserWarning, stacklevel=2)
        return TEMPERATURE_RANGE[0]
    if slope(hi) >= 0:
        warnings.warn(f"the NLL keeps falling as T -> {TEMPERATURE_RANGE[1]:g}: the logits carry (almost) no "
                      "information about the labels; returning the upper end", UserWarning, stacklevel=2)
        return TEMPERATURE_RANGE[1]
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        if slope(mid) > 0:  # beta = 1 / T too large: the optimum lies at a larger T
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)
