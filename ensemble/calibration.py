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

Held-out rows averaged by fewer members
---------------------------------------
A bagged ensemble's held-out rows are its out-of-bag rows, and the decision of such a row
averages only the ``m`` members that did not train on it (``m ~ Binomial(M, 1/e)``: about 37%
of the ``M`` members), while prediction averages all ``M``. A mean of fewer members is more
confident (the members' disagreement, which softens the mean, enters it with a variance
shrinking as ``1 / m``), so one temperature fitted over the out-of-bag rows is that of an
ensemble of about ``0.37 M`` members: too high for all ``M``, which can make a nearly
calibrated ensemble worse. :func:`fit_temperature_law` therefore fits the inverse temperature
as a law in the number of members averaged,

    ``1 / T(m) = intercept + slope / m``,

jointly on all held-out rows by maximum likelihood (row ``n`` is scaled by
``1 / T(m_n)``), and applies ``T(M)``. Why this law:

* it is the first order in ``1 / m`` of any smooth dependence on ``m``: by the delta method
  the expected logit of a mean of ``m`` members' probabilities is ``log E[p] - Var[p] /
  (2 m E[p]^2) + O(1 / m^2)``, so the decision's statistics, and the temperature that best
  fits them, move with ``1 / m``; the ensemble-size laws of deep ensembles have the same shape, a limit plus a
  term decaying with ``m`` (Lobacheva et al. 2020, *On Power Laws in Deep Ensembles*, for the
  calibrated NLL);
* linear in ``beta = 1 / T``, the NLL is jointly convex in ``(intercept, slope)`` (each row's
  NLL is convex in its ``beta``), so the minimum is unique and Newton's method with a
  backtracking line search finds it deterministically. A law in ``T`` or ``log T`` is not
  convex.

When the data cannot identify the slope (every row averaged by the same ``m``, as for rows held
out by ``validation_fraction`` from every member, or fewer than two values of ``m`` with
:data:`MIN_ROWS` rows each), the slope is 0 and the fit is :func:`fit_temperature`'s. ``M`` is
at most a few members beyond the largest ``m`` observed (a fraction ``e^-M`` of the rows is
out of every bag), so applying the law is a short extrapolation; where it would still give a
``T(M)`` outside :data:`TEMPERATURE_RANGE` (a slope pointing the wrong way, a non-positive
``1 / T``), ``T(M)`` is clipped to the range, with a warning.

Never past the evidence
-----------------------
A fitted temperature is an estimate, and on an ensemble that is nearly calibrated its noise
can exceed the correction: with a thousand held-out rows of which a few dozen are
misclassified, the standard error of ``1 / T`` is 0.1-0.4, and a fitted ``T`` that lands on
the far side of the best one raises the NLL of new rows. The expected NLL of new rows is convex
in ``beta = 1 / T``, so any ``beta`` between 1 (no calibration) and the best one ``beta*``
scores at least as well as no calibration. The applied ``beta`` is therefore the fitted
``1 / T(M)`` moved towards 1 by ``CONFIDENCE_Z`` = 1.645 standard errors (exactly 1 when it is
closer than that): it lies between 1 and ``beta*`` unless ``beta*`` falls beyond a one-sided 95%
confidence bound, so calibration hurts with probability at most 5% and the size of a hurt is
bounded by the estimate's own noise. The standard error is Huber's sandwich estimate (Huber
1967, *The behavior of maximum likelihood estimates under nonstandard conditions*), valid
whether or not the law holds exactly; on an ensemble that is clearly over- or
under-confident the margin is small against the correction.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from conventions import check_int, check_number

from .metrics import NLL_FLOOR, check_labels, check_proba

__all__ = ["CONFIDENCE_Z", "MIN_ROWS", "TEMPERATURE_RANGE", "TemperatureLaw", "apply_temperature", "ensemble_logits",
           "fit_temperature", "fit_temperature_law"]

# Fewer rows than this cannot fit a temperature worth applying: one misclassified row among
# a handful moves T by a large factor.
MIN_ROWS = 20
# The search interval for T. Hitting an end means the NLL has no minimum inside (see the warnings).
TEMPERATURE_RANGE = (1e-2, 1e2)
# Newton's method on the law stops once the NLL is within this of its minimum (the Newton
# decrement): the parameters are then exact to float64 rounding after one more full step.
_NEWTON_DECREMENT = 1e-12
_NEWTON_STEPS = 100
# The one-sided 95% quantile of the standard normal: the applied 1 / T stops this many standard
# errors short of the fitted one, on the side of 1 (see "Never past the evidence" above).
CONFIDENCE_Z = 1.6448536269514722


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


def _row_derivatives(z: torch.Tensor, true: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per row n, the NLL of ``softmax(beta_n z_n)`` at its label and its first two derivatives in ``beta_n``.

    ``z`` float64 N x K, ``true`` = ``z[n, y_n]`` (N), ``beta`` (N). Returns three float64 N:
    ``logsumexp(beta z) - beta z_y``; ``E_q[z] - z_y``; ``Var_q[z] >= 0``, with ``q = softmax(beta z)``.
    """
    scaled = z * beta[:, None]
    q = torch.softmax(scaled, dim=1)
    mean = (q * z).sum(1)
    return (torch.logsumexp(scaled, dim=1) - beta * true, mean - true,
            (q * (z - mean[:, None]) ** 2).sum(1))


def _checked_rows(logits, y) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z float64 N x K, z[n, y_n] N)`` after the checks :func:`fit_temperature` documents."""
    z = _check_logits(logits)
    labels = check_labels(y, *z.shape)
    if len(z) < MIN_ROWS:
        raise ValueError(f"fitting a temperature needs at least {MIN_ROWS} rows the model did not train on; got {len(z)}")
    return z, z.gather(1, labels[:, None]).squeeze(1)


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
    return _plain_fit(*_checked_rows(logits, y))


def _plain_fit(z: torch.Tensor, true: torch.Tensor) -> float:
    """:func:`fit_temperature` on checked rows (its warnings name the caller's caller)."""
    def slope(log_t: float) -> float:  # dNLL/dbeta at beta = 1 / T, averaged over the rows
        return float(_row_derivatives(z, true, torch.full_like(true, math.exp(-log_t)))[1].mean())

    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    if slope(lo) <= 0:
        warnings.warn(f"the NLL keeps falling as T -> {TEMPERATURE_RANGE[0]:g}: (nearly) every calibration row is "
                      "classified correctly with a margin; were they training rows? Returning the lower end",
                      UserWarning, stacklevel=3)
        return TEMPERATURE_RANGE[0]
    if slope(hi) >= 0:
        warnings.warn(f"the NLL keeps falling as T -> {TEMPERATURE_RANGE[1]:g}: the logits carry (almost) no "
                      "information about the labels; returning the upper end", UserWarning, stacklevel=3)
        return TEMPERATURE_RANGE[1]
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        if slope(mid) > 0:  # beta = 1 / T too large: the optimum lies at a larger T
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def _newton_law(z: torch.Tensor, true: torch.Tensor, design: torch.Tensor, start: float) -> torch.Tensor:
    """``(intercept, slope)`` minimising the mean NLL of rows scaled by ``beta = design @ (intercept,
    slope)`` (``design`` N x 2: ones and ``1 / m``), from ``(start, 0)``; every step keeps every ``beta_n > 0``."""

    def nll(theta: torch.Tensor) -> float:
        beta = design @ theta
        return float(_row_derivatives(z, true, beta)[0].mean()) if bool((beta > 0).all()) else math.inf

    theta = torch.tensor([start, 0.0], dtype=torch.float64)
    for _ in range(_NEWTON_STEPS):
        values, slope, curvature = _row_derivatives(z, true, design @ theta)
        gradient = design.T @ slope / len(z)
        hessian = (design.T * curvature) @ design / len(z)
        step = -torch.linalg.pinv(hessian) @ gradient
        decrement = float(-(gradient @ step))  # the NLL's fall to the quadratic model's minimum, x 2
        if decrement <= _NEWTON_DECREMENT:
            if math.isfinite(nll(theta + step)):
                theta = theta + step
            break
        size, current = 1.0, float(values.mean())
        while nll(theta + size * step) > current - 0.25 * size * decrement:  # Armijo's backtracking
            size /= 2
            if size < 1e-10:  # no descent left at float64 resolution
                return theta
        theta = theta + size * step
    return theta


def _sandwich_covariance(z: torch.Tensor, true: torch.Tensor, design: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The covariance P x P of the minimum-NLL ``theta`` (rows scaled by ``design @ theta``, ``design``
    N x P): Huber's sandwich ``H^-1 J H^-1 / N`` of the mean Hessian ``H`` and the mean outer product
    ``J`` of the rows' gradients, right whether or not the law holds exactly."""
    _, slope, curvature = _row_derivatives(z, true, design @ theta)
    scores = design * slope[:, None]
    bread = torch.linalg.pinv((design.T * curvature) @ design / len(z))
    return bread @ (scores.T @ scores / len(z)) @ bread / len(z)


def _clipped_temperature(beta: float) -> float:
    """``1 / beta`` in :data:`TEMPERATURE_RANGE` (a non-positive ``beta`` gives the upper end)."""
    low, high = TEMPERATURE_RANGE
    return high if beta <= 1 / high else min(max(1 / beta, low), high)


@dataclass(frozen=True)
class TemperatureLaw:
    """A fitted law of the temperature against the number of members averaged: ``1 / T(m) = intercept + slope / m``.

    Parameters
    ----------
    intercept : float
        ``1 / T`` of an ensemble of infinitely many members.
    slope : float
        How ``1 / T`` changes with ``1 / m``; 0 when ``identified`` is False.
    n_members : int
        ``M``, the members the ensemble averages at prediction: the law is applied at ``m = M``.
    identified : bool
        False when the rows could not identify the slope (see :func:`fit_temperature_law`):
        then ``1 / intercept`` is :func:`fit_temperature`'s temperature.
    standard_error : float
        The standard error of ``1 / T(M)`` (Huber's sandwich estimate; 0 when the NLL had no
        minimum inside :data:`TEMPERATURE_RANGE`).
    """

    intercept: float
    slope: float
    n_members: int
    identified: bool
    standard_error: float

    def temperature_at(self, members: int) -> float:
        """The fitted temperature of an average of ``members`` members.

        Parameters
        ----------
        members : int
            The number of members averaged (>= 1).

        Returns
        -------
        float
            ``T(members)``, clipped to :data:`TEMPERATURE_RANGE`.
        """
        return _clipped_temperature(self.intercept + self.slope / check_int(members, "members", minimum=1))

    @property
    def inverse_temperature(self) -> float:
        """The ``1 / T`` applied: ``1 / T(M)`` moved towards 1 by ``CONFIDENCE_Z`` standard errors
        (1.645, a one-sided 95% bound), exactly 1 when it lies within them (not clipped)."""
        beta = self.intercept + self.slope / self.n_members
        margin = CONFIDENCE_Z * self.standard_error
        return 1.0 if abs(beta - 1) <= margin else beta - math.copysign(margin, beta - 1)

    @property
    def temperature(self) -> float:
        """The temperature applied to the ensemble: ``1 / inverse_temperature``, clipped to :data:`TEMPERATURE_RANGE`."""
        return _clipped_temperature(self.inverse_temperature)


def fit_temperature_law(logits, y, members, n_members: int) -> TemperatureLaw:
    """The law ``1 / T(m) = intercept + slope / m`` of minimum NLL on held-out rows averaged by ``m`` members each.

    Row ``n``'s probabilities are ``softmax(logits_n / T(members_n))``; the NLL over the rows is
    jointly convex in ``(intercept, slope)`` and minimised by Newton's method with a
    backtracking line search that keeps every row's ``1 / T`` positive, starting from
    :func:`fit_temperature`'s temperature with slope 0. See the module docstring for why, and
    for the temperature that is applied.

    Parameters
    ----------
    logits : ``N x K`` float array or tensor, ``N >= MIN_ROWS``, of rows the members did not
        train on (for an ensemble: :func:`ensemble_logits` of its held-out decision).
    y : ``N`` integer labels in ``[0, K)``.
    members : ``N`` integers in ``[1, n_members]``: how many members averaged each row.
    n_members : int
        ``M``, the members averaged at prediction.

    Returns
    -------
    TemperatureLaw
        ``temperature_at(M)`` is the fitted ``T(M)``; ``temperature``, the one to apply, is
        ``T(M)`` moved towards 1 by ``CONFIDENCE_Z`` standard errors of ``1 / T(M)`` (see
        the module docstring). When fewer than two values of ``members`` hold
        :data:`MIN_ROWS` rows each, the slope is not identified: slope 0 and ``1 / intercept``
        = :func:`fit_temperature` ``(logits, y)``, with its own standard error.

    Raises
    ------
    ValueError as :func:`fit_temperature` does, and for ``members`` of the wrong length or
    outside ``[1, n_members]``. Warns (UserWarning) as :func:`fit_temperature` does, and when
    the applied temperature falls outside :data:`TEMPERATURE_RANGE` and is clipped.
    """
    n_members = check_int(n_members, "n_members", minimum=1)
    z, true = _checked_rows(logits, y)
    m = np.asarray(members)
    if m.shape != (len(z),) or m.dtype.kind not in "iu":
        raise ValueError(f"members must hold one integer per row ({len(z)} rows); got {m.dtype} of shape {m.shape}")
    if m.min() < 1 or m.max() > n_members:
        raise ValueError(f"members must lie in [1, n_members={n_members}]: a row is averaged by at least one member "
                         f"and at most all; got values in [{m.min()}, {m.max()}]")
    plain = _plain_fit(z, true)
    if plain in TEMPERATURE_RANGE:  # no minimum inside the range (_plain_fit warned): nothing to refine
        return TemperatureLaw(intercept=1 / plain, slope=0.0, n_members=n_members, identified=False,
                              standard_error=0.0)
    _, counts = np.unique(m, return_counts=True)
    identified = bool((counts >= MIN_ROWS).sum() >= 2)
    design = torch.stack([torch.ones(len(m), dtype=torch.float64), torch.as_tensor(1 / m, dtype=torch.float64)], 1)
    if identified:
        theta = _newton_law(z, true, design, 1 / plain)
    else:
        design, theta = design[:, :1], torch.tensor([1 / plain], dtype=torch.float64)
    at_all = torch.tensor([1.0, 1 / n_members], dtype=torch.float64)[:design.shape[1]]
    variance = float(at_all @ _sandwich_covariance(z, true, design, theta) @ at_all)
    law = TemperatureLaw(intercept=float(theta[0]), slope=float(theta[1]) if identified else 0.0, n_members=n_members,
                         identified=identified, standard_error=math.sqrt(max(variance, 0.0)))
    if not 1 / TEMPERATURE_RANGE[1] < law.inverse_temperature < 1 / TEMPERATURE_RANGE[0]:
        warnings.warn(f"the temperature law 1/T(m) = {law.intercept:.4g} + {law.slope:.4g}/m gives T({n_members}) "
                      f"outside {TEMPERATURE_RANGE}; clipped to {law.temperature:g}", UserWarning, stacklevel=2)
    return law
