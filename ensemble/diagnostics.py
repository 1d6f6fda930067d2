"""The ensemble error decomposition from the lecture: E[(mean error)^2] = v/k + (k-1)/k * c."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .voting import vote

__all__ = ["ErrorDecomposition", "error_decomposition"]


@dataclass
class ErrorDecomposition:
    """Result of :func:`error_decomposition` (all errors are squared errors per sample).

    Parameters
    ----------
    variance : float
        ``v = E[eps_i . eps_i]``, averaged over members ``i`` and samples.
    covariance : float
        ``c = E[eps_i . eps_j]``, averaged over ordered pairs ``i != j`` and samples (``nan``
        with one member).
    predicted : float
        ``v / k + (k - 1) / k * c``, the lecture's ensemble squared error.
    measured : float
        ``E[(mean_i eps_i) . (mean_i eps_i)]``, the soft-vote ensemble's squared error.
    by_size : list of dict
        One dict per ensemble size ``m = 1..k`` (the first ``m`` members) with keys
        ``members, accuracy, predicted, measured``.
    """

    variance: float
    covariance: float
    predicted: float
    measured: float
    by_size: list[dict]

    def to_dict(self) -> dict:
        """The fields as a plain dict (for JSON).

        Returns
        -------
        dict
            ``variance``, ``covariance``, ``predicted``, ``measured`` and ``by_size``.
        """
        return asdict(self)


def error_decomposition(member_probas, y) -> ErrorDecomposition:
    """Decompose the squared error of a soft-voting ensemble into member variance and covariance.

    With member error ``eps_i = p_i - onehot(y)`` (a ``K``-vector per sample), the error of the
    averaged prediction is ``|mean_i eps_i|^2 = 1/k^2 * sum_ij eps_i . eps_j``; averaging ``v`` over
    members and ``c`` over ordered pairs makes ``predicted == measured`` an exact identity.
    Independent zero-mean errors give ``c = 0`` and error ``v / k``; identical members give ``c = v``.

    Parameters
    ----------
    member_probas : torch.Tensor or numpy.ndarray
        Float ``k x N x K``: each of ``k`` members' probabilities for ``N`` samples over ``K``
        classes.
    y : array-like
        ``N`` integer labels in ``[0, K)``.

    Returns
    -------
    ErrorDecomposition
        ``v``, ``c``, the predicted and the measured squared error, computed in float64, and the
        same for the first ``m`` members for every ``m``.

    Raises
    ------
    ValueError
        When ``member_probas`` is not ``k x N x K`` with ``k, N >= 1``, or ``y`` is not ``N``
        labels in ``[0, K)``.
    """
    p = torch.as_tensor(np.asarray(member_probas), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if p.ndim != 3:
        raise ValueError(f"member_probas must be k x N x K; got shape {tuple(p.shape)}")
    k, n, n_classes = p.shape
    if labels.shape != (n,):
        raise ValueError(f"y must have {n} labels (one per sample); got shape {tuple(labels.shape)}")
    if k == 0 or n == 0:
        raise ValueError(f"need at least one member and one sample; got k={k}, N={n}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}); got range [{labels.min()}, {labels.max()}]")
    eps = p - torch.nn.functional.one_hot(labels, n_classes).to(p.dtype)  # k x N x K
    gram = torch.einsum("ink,jnk->ij", eps, eps) / n  # E[eps_i . eps_j]
    by_size = [_stats_of_first(m, gram, eps, p, labels) for m in range(1, k + 1)]
    full = by_size[-1]
    v = gram.diagonal().mean().item()
    c = _mean_off_diagonal(gram)
    return ErrorDecomposition(variance=v, covariance=c, predicted=full["predicted"], measured=full["measured"], by_size=by_size)


def _mean_off_diagonal(gram: torch.Tensor) -> float:
    k = gram.shape[0]
    if k < 2:
        return float("nan")
    return ((gram.sum() - gram.diagonal().sum()) / (k * (k - 1))).item()


def _stats_of_first(m: int, gram: torch.Tensor, eps: torch.Tensor, p: torch.Tensor, labels: torch.Tensor) -> dict:
    sub = gram[:m, :m]
    v = sub.diagonal().mean().item()
    c = _mean_off_diagonal(sub) if m > 1 else 0.0
    predicted = v / m + (m - 1) / m * c  # the lecture's v/k + (k-1)/k c
    mean_eps = eps[:m].mean(0)
    measured = (mean_eps * mean_eps).sum(1).mean().item()
    accuracy = (vote(p[:m]).argmax(1) == labels).double().mean().item()
    return {"members": m, "accuracy": accuracy, "predicted": predicted, "measured": measured}
