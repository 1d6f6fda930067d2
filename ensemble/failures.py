"""Typed member failures: what crosses the process boundary when a member cannot be trained.

A worker that fails raises :class:`MemberFailedError` holding the indices of its members; it
pickles with them (joblib, loky and dask re-raise it in the parent as it was), so the parent
never reads a member index out of message text. Divergence is not an exception in the worker
(the other members of a vectorised chunk go on); the parent turns the diverged outcomes into
one error or a warning by the estimator's ``on_diverge`` policy.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

__all__ = ["MemberFailedError", "FitInterrupted", "check_divergence"]


class MemberFailedError(RuntimeError):
    """A member could not be trained (it raised, its worker process died, or it diverged).

    Parameters
    ----------
    message : str
        What happened, and how to resume.
    members : sequence of int
        Indices of the members concerned (kept as a list of int in ``members``).
    """

    def __init__(self, message: str, members: Sequence[int]) -> None:
        super().__init__(message)
        self.members = [int(i) for i in members]

    def __reduce__(self):  # pickle the indices too, not only the message (BaseException's default)
        return type(self), (str(self), self.members)


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: workers are shut down; the message says how to resume."""


def check_divergence(diverged: dict[int, str], on_diverge: str, n_members: int) -> None:
    """Apply the ``on_diverge`` policy to ``diverged`` (member index -> its divergence message).

    ``"raise"``: :class:`MemberFailedError` naming them (the other members had finished);
    ``"drop"``: a RuntimeWarning, unless every member diverged (then the error).
    """
    if not diverged:
        return
    members = sorted(diverged)
    lines = "; ".join(f"member {i}: {diverged[i]}" for i in members)
    if on_diverge == "raise":
        raise MemberFailedError(f"training diverged (loss became NaN/Inf): {lines}. The other members finished; "
                                "lower lr, or pass on_diverge='drop' to leave such members out.", members)
    if len(diverged) == n_members:
        raise MemberFailedError(f"every member diverged: {lines}", members)
    warnings.warn(f"dropping diverged members ({lines})", RuntimeWarning, stacklevel=3)
