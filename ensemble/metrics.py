"""Scores of predicted probabilities: NLL, Brier score, ECE, reliability diagrams, member disagreement.

Every function takes ``proba``, an ``N x K`` array or tensor of class probabilities (rows sum
to 1), and ``y``, ``N`` integer labels in ``[0, K)`` (encoded class indices, e.g.
``np.searchsorted(clf.classes_, labels)``), and computes in float64 on the CPU. The predicted
class of a row is its argmax; ties go to the lowest class index (``torch.argmax``), as in
:func:`ensemble.vote`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from conventions import check_int

__all__ = ["NLL_FLOOR", "SUM_TOLERANCE", "ReliabilityBins", "brier", "check_labels", "check_proba", "disagreement",
           "ece", "nll", "reliability_bins", "reliability_diagram", "summary"]

#: The floor the probability of the true class is clipped at before its log is taken, so one
#: confidently wrong row costs at most -log(1e-12) = 27.6 nats instead of infinity. Fixed (not
#: the dtype's epsilon) so that float32 and float64 predictions score the same.
NLL_FLOOR = 1e-12
#: How far from 1 a row of probabilities may sum. Rows of float32 probabilities averaged over
#: many views and members sum to 1 within ~1e-6; a row further off than this is not a
#: probability vector (often: logits passed by mistake).
SUM_TOLERANCE = 1e-4


def _as_cpu_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    array = np.asarray(x)
    if array.dtype == object:
        raise TypeError(f"{name} must be a numeric array or tensor; got an object array")
    return torch.as_tensor(array)


def check_proba(proba, name: str = "proba") -> torch.Tensor:
    """Check ``N x K`` class probabilities and return them as a float64 CPU tensor.

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` with ``N >= 1``, ``K >= 2``: finite values in [0, 1] whose rows sum to 1
        within :data:`SUM_TOLERANCE`.
    name : str
        The argument's name in error messages.

    Returns
    -------
    torch.Tensor
        float64 ``N x K``.

    Raises
    ------
    TypeError
        For a non-float dtype.
    ValueError
        For a wrong shape, NaN/Inf, values outside [0, 1] or a row whose sum is off by more than
        the tolerance (the message names the row).
    """
    p = _as_cpu_tensor(proba, name)
    if not p.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floating-point probabilities; got dtype {p.dtype}")
    if p.ndim != 2:
        raise ValueError(f"{name} must be N x K (samples, classes); got shape {tuple(p.shape)}")
    n, k = p.shape
    if n == 0:
        raise ValueError(f"{name} holds no sample (shape {tuple(p.shape)})")
    if k < 2:
        raise ValueError(f"{name} must have at least 2 classes (columns); got shape {tuple(p.shape)}")
    p = p.to(torch.float64)
    if not torch.isfinite(p).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    lo, hi = p.min().item(), p.max().item()
    if lo < 0 or hi > 1 + SUM_TOLERANCE:
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{lo:.6g}, {hi:.6g}]")
    error = (p.sum(1) - 1).abs()
    worst = int(error.argmax())
    if error[worst] > SUM_TOLERANCE:
        raise ValueError(f"{name} rows must sum to 1 (within {SUM_TOLERANCE:g}); row {worst} sums to "
                         f"{p[worst].sum().item():.6g} (pass probabilities, e.g. softmax of the logits)")
    return p


def check_labels(y, n: int, n_classes: int, name: str = "y") -> torch.Tensor:
    """Check ``n`` integer labels in ``[0, n_classes)`` and return them as an int64 CPU tensor.

    Parameters
    ----------
    y : array-like or torch.Tensor
        The labels.
    n : int
        The number of samples they must label.
    n_classes : int
        K: the labels must lie in ``[0, K)``.
    name : str
        The argument's name in error messages.

    Returns
    -------
    torch.Tensor
        int64 ``n``, on the CPU.

    Raises
    ------
    TypeError
        For a non-integer dtype (bool included).
    ValueError
        For a wrong shape or length, or a label outside the range.
    """
    labels = _as_cpu_tensor(y, name)
    if labels.dtype == torch.bool or labels.dtype.is_floating_point or labels.dtype.is_complex:
        raise TypeError(f"{name} must hold integer class indices in [0, {n_classes}); got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample); got shape {tuple(labels.shape)}")
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} labels but there are {n} samples (rows)")
    labels = labels.to(torch.int64)
    lo, hi = labels.min().item(), labels.max().item()
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"{name} must lie in [0, {n_classes}) (K = {n_classes} classes); got labels in [{lo}, {hi}]")
    return labels


def _checked(proba, y) -> tuple[torch.Tensor, torch.Tensor]:
    p = check_proba(proba)
    return p, check_labels(y, *p.shape)


def nll(proba, y) -> float:
    """Negative log-likelihood (log loss, nats): ``-mean_n log max(p[n, y_n], NLL_FLOOR)``.

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` class probabilities.
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.

    Returns
    -------
    float
        ``>= 0``; at most ``-log(NLL_FLOOR)`` = 27.6 (see :data:`NLL_FLOOR`).
    """
    p, labels = _checked(proba, y)
    true = p.gather(1, labels[:, None]).squeeze(1)
    return float(-true.clamp(min=NLL_FLOOR).log().mean())


def brier(proba, y) -> float:
    """Brier score: ``mean_n sum_k (p[n, k] - [y_n == k])^2``, in [0, 2] (0 is perfect).

    The multi-class form of Brier (1950): summed over classes, averaged over samples.

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` class probabilities.
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.

    Returns
    -------
    float
        In [0, 2].
    """
    p, labels = _checked(proba, y)
    onehot = torch.nn.functional.one_hot(labels, p.shape[1]).to(p.dtype)
    return float(((p - onehot) ** 2).sum(1).mean())


@dataclass(frozen=True)
class ReliabilityBins:
    """Confidence bins of :func:`reliability_bins` (numpy arrays, one entry per bin).

    Parameters
    ----------
    edges : numpy.ndarray
        float64 ``n_bins + 1``: ``i / n_bins``.
    counts : numpy.ndarray
        int64 ``n_bins``: samples per bin.
    accuracy : numpy.ndarray
        float64 ``n_bins``: the share of the bin's samples predicted correctly (NaN when empty).
    confidence : numpy.ndarray
        float64 ``n_bins``: the mean confidence of the bin's samples (NaN when empty).
    """

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def ece(self) -> float:
        """``sum_b (|B_b| / N) |accuracy_b - confidence_b|`` over the non-empty bins."""
        full = self.counts > 0
        weights = self.counts[full] / self.counts.sum()
        return float((weights * np.abs(self.accuracy[full] - self.confidence[full])).sum())


def reliability_bins(proba, y, n_bins: int = 15) -> ReliabilityBins:
    """Sort samples into equal-width bins by confidence (their largest probability).

    Bin ``i`` (0-based) holds confidences in ``(i / n_bins, (i + 1) / n_bins]``; the first bin
    also holds 0 and the last bin holds a confidence of exactly 1.0 (and values up to
    :data:`SUM_TOLERANCE` above it). Edges are the float64 values ``i / n_bins``, compared with
    the confidences at their exact values (a float32 ``0.2`` is slightly above 0.2).

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` class probabilities.
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.
    n_bins : int
        The number of bins, >= 1.

    Returns
    -------
    ReliabilityBins
        The bins' edges, counts, accuracy and mean confidence.
    """
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    p, labels = _checked(proba, y)
    confidence, predicted = p.max(1).values, p.argmax(1)
    correct = (predicted == labels).to(torch.float64)
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins
    # searchsorted(right=False) finds the first edge >= c, so c in (e_i, e_i+1] gets i + 1.
    index = (torch.searchsorted(edges, confidence, right=False) - 1).clamp(0, n_bins - 1)
    counts = torch.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = torch.bincount(index, weights=correct, minlength=n_bins).numpy() / counts.numpy()
        mean_confidence = torch.bincount(index, weights=confidence, minlength=n_bins).numpy() / counts.numpy()
    return ReliabilityBins(edges=edges.numpy(), counts=counts.numpy(), accuracy=accuracy, confidence=mean_confidence)


def ece(proba, y, n_bins: int = 15) -> float:
    """Expected calibration error (Naeini et al. 2015; Guo et al. 2017) with equal-width bins.

    ``ECE = sum_b (|B_b| / N) |acc(B_b) - conf(B_b)|``, where bin ``b`` of ``n_bins`` holds the
    samples whose confidence lies in ``(b / n_bins, (b + 1) / n_bins]`` (0 in the first bin, 1.0
    in the last: see :func:`reliability_bins`) and empty bins count 0.

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` class probabilities.
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.
    n_bins : int
        The number of bins, >= 1 (15: the count of Guo et al. and uncertainty-baselines).

    Returns
    -------
    float
        In [0, 1].
    """
    return reliability_bins(proba, y, n_bins).ece


def reliability_diagram(proba, y, path: str | os.PathLike | None = None, ax=None, *, n_bins: int = 15,
                        label: str | None = None, **line_kwargs):
    """Plot accuracy against mean confidence per confidence bin, beside the diagonal.

    One line with a marker per non-empty bin (see :func:`reliability_bins`); the legend entry
    carries the ECE. Call it again on the same ``ax`` to compare models (e.g. a single member
    and the ensemble) in one diagram. Needs matplotlib (``pip install 'augkit[plot]'``).

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` class probabilities.
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.
    path : str or os.PathLike, optional
        If given, the figure is saved there (format from the suffix).
    ax : matplotlib.axes.Axes, optional
        The axes to draw into; ``None`` makes a new 4 x 4 inch figure without pyplot (no global
        state; pass an ``ax`` from ``plt.subplots()`` to show it interactively).
    n_bins : int
        The number of bins, >= 1.
    label : str, optional
        The legend name of this model (default ``"model"``).
    **line_kwargs
        Passed to ``Axes.plot`` for this model's line (``color``, ``linestyle``, ...).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into (its figure is ``ax.figure``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("reliability_diagram needs matplotlib, from augkit's plot extra: "
                          "pip install 'augkit[plot]' (or pip install matplotlib)") from e
    bins = reliability_bins(proba, y, n_bins)
    if ax is None:
        ax = Figure(figsize=(4, 4), dpi=100).add_subplot()
    full = bins.counts > 0
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    ax.plot(bins.confidence[full], bins.accuracy[full], **{"marker": "o", "ms": 4, **line_kwargs},
            label=f"{label or 'model'} (ECE {bins.ece:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (mean per bin)", ylabel="accuracy",
           title=f"reliability diagram, {n_bins} bins")
    ax.legend(loc="upper left", fontsize=8)
    if path is not None:
        ax.figure.savefig(path, bbox_inches="tight")
    return ax


def disagreement(member_probas) -> float:
    """Mean pairwise disagreement of ``M`` members.

    The share of samples on which two members' predicted classes differ, averaged over the
    ``M (M - 1) / 2`` pairs. Computed from class counts: with ``c_nk`` members predicting class ``k`` for sample ``n``,
    ``sum_k c_nk (c_nk - 1) / 2`` of the pairs agree on it.

    Parameters
    ----------
    member_probas : array-like or torch.Tensor
        Float ``M x N x K`` probabilities, ``M >= 2``, e.g.
        :meth:`ensemble.BaggedNetClassifier.member_probas`.

    Returns
    -------
    float
        In [0, 1].
    """
    p = _as_cpu_tensor(member_probas, "member_probas")
    if p.ndim != 3:
        raise ValueError(f"member_probas must be M x N x K (members, samples, classes); got shape {tuple(p.shape)}")
    m = p.shape[0]
    if m < 2:
        raise ValueError(f"disagreement needs at least 2 members; member_probas has M = {m}")
    for i in range(m):
        check_proba(p[i], f"member_probas[{i}]")
    counts = torch.nn.functional.one_hot(p.argmax(-1), p.shape[2]).sum(0).to(torch.float64)  # N x K
    agreeing = (counts * (counts - 1) / 2).sum(1)
    return float((1 - agreeing / (m * (m - 1) / 2)).mean())


def summary(proba, y, *, member_probas=None, n_bins: int = 15) -> dict[str, float]:
    """All scores of one set of predictions.

    Parameters
    ----------
    proba : array-like or torch.Tensor
        Float ``N x K`` class probabilities, e.g. an ensemble's ``predict_proba``.
    y : array-like or torch.Tensor
        ``N`` integer labels in ``[0, K)``.
    member_probas : array-like or torch.Tensor, optional
        Float ``M x N x K`` member probabilities (``M >= 2``) of the same samples.
    n_bins : int
        The ECE's bins.

    Returns
    -------
    dict
        Float values ``accuracy``, ``nll``, ``brier``, ``ece``, and ``disagreement`` when
        ``member_probas`` is given.
    """
    p, labels = _checked(proba, y)
    scores = {"accuracy": float((p.argmax(1) == labels).to(torch.float64).mean()), "nll": nll(p, labels),
              "brier": brier(p, labels), "ece": ece(p, labels, n_bins)}
    if member_probas is not None:
        shape = tuple(np.shape(member_probas))
        if len(shape) != 3 or shape[1:] != tuple(p.shape):
            raise ValueError(f"member_probas must be M x {p.shape[0]} x {p.shape[1]} (the samples and classes of "
                             f"proba); got shape {shape}")
        scores["disagreement"] = disagreement(member_probas)
    return scores
