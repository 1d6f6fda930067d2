"""Combining member predictions: soft and hard (weighted) voting."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from conventions import check_choice

__all__ = ["vote"]


def vote(
    probas: torch.Tensor,
    method: str = "soft",
    weights: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Combine the class probabilities of ``M`` members into one row per sample.

    Parameters
    ----------
    probas : torch.Tensor
        Float tensor ``M x N x K``: member ``m``'s probabilities for ``N`` samples over ``K``
        classes.
    method : {"soft", "hard"}
        ``"soft"``: the (weighted) mean of the members' probabilities. ``"hard"``: each member
        casts its (weight of) vote for its argmax class, and the result is the (weighted) share
        of votes each class received.
    weights : sequence of float, torch.Tensor or None
        Non-negative member weights, length ``M`` (normalised to sum 1). ``None``: equal weights.

    Returns
    -------
    torch.Tensor
        Float tensor ``N x K`` whose rows sum to 1. ``result.argmax(1)`` is the ensemble's
        prediction; with hard voting a tie between classes goes to the lowest class index
        (``torch.argmax`` returns the first maximum), so the result is deterministic.

    Raises
    ------
    ValueError
        When ``method`` is neither ``"soft"`` nor ``"hard"``, ``probas`` is not ``M x N x K``
        with ``M >= 1``, or ``weights`` has another length than ``M``, a negative or non-finite
        entry, or sums to 0.
    """
    check_choice(method, "method", ("soft", "hard"))
    if not isinstance(probas, torch.Tensor):
        probas = torch.as_tensor(probas)
    if probas.ndim != 3:
        raise ValueError(f"probas must be M x N x K (members, samples, classes); got shape {tuple(probas.shape)}")
    n_members = probas.shape[0]
    if n_members == 0:
        raise ValueError("probas holds no member (M = 0)")
    w = _member_weights(weights, n_members, probas)
    if method == "soft":
        return torch.einsum("m,mnk->nk", w, probas.to(w.dtype))
    ballots = torch.nn.functional.one_hot(probas.argmax(-1), probas.shape[-1]).to(w.dtype)
    return torch.einsum("m,mnk->nk", w, ballots)


def _member_weights(weights, n_members: int, probas: torch.Tensor) -> torch.Tensor:
    dtype = probas.dtype if probas.is_floating_point() else torch.float32
    if weights is None:
        return torch.full((n_members,), 1.0 / n_members, dtype=dtype, device=probas.device)
    w = torch.as_tensor(weights, dtype=dtype, device=probas.device).flatten()
    if w.numel() != n_members:
        raise ValueError(f"weights has {w.numel()} entries but there are {n_members} members")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero; got {w.tolist()}")
    return w / w.sum()
