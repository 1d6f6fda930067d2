"""Member plans: each member's seed and bag, drawn once per ``fit`` from ``random_state``.

As scikit-learn's bagging draws its seeds: one entropy value from ``random_state``, spawned
into one independent ``SeedSequence`` per member, so member i's plan depends on i and the
seed only, never on how many members run in parallel or which train first. In-memory rows
are bagged by the multinomial bootstrap (:func:`draw_plans`); a stream's rows by the Poisson
bootstrap of online bagging (:func:`draw_poisson_plans`, :mod:`ensemble.engine.poisson`),
whose bags are the same multisets of rows, counted per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .poisson import poisson_weights

__all__ = ["MemberPlan", "draw_entropy", "draw_plans", "draw_poisson_plans", "row_weights"]


@dataclass(frozen=True)
class MemberPlan:
    """Member ``index``'s own randomness: its torch ``seed`` (initial weights, minibatch order,
    augmentation, dropout masks) and its bag: rows it trains on (int64, with repeats when
    bootstrapping) and rows it validates / early-stops on (out-of-bag or held out)."""

    index: int
    seed: int
    train_indices: np.ndarray
    val_indices: np.ndarray


def draw_entropy(random_state: int | np.random.RandomState | None) -> int:
    """The run's seed, drawn from an estimator's ``random_state`` as scikit-learn's bagging draws it.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        As :func:`sklearn.utils.check_random_state` reads it (None: numpy's global RandomState).

    Returns
    -------
    int
        In [0, 2**31 - 1): the ``entropy`` of :func:`draw_plans`.
    """
    # Imported here: training workers import this module for MemberPlan and start faster without scikit-learn.
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _member_seeds(n_members: int, entropy: int) -> list[tuple[int, np.random.SeedSequence]]:
    """Each member's torch seed and its own SeedSequence, spawned from the run's ``entropy``."""
    children = np.random.SeedSequence(entropy).spawn(n_members)
    return [(int(child.generate_state(1, dtype=np.uint32)[0]), child) for child in children]


def draw_plans(n: int, n_members: int, entropy: int, *, bootstrap: bool, n_bag: int, validation_fraction: float,
               hold_out: bool) -> list[MemberPlan]:
    """Plans of ``n_members`` members over ``n`` rows.

    Parameters
    ----------
    n, n_members : int
        Training rows and members.
    entropy : int
        The run's seed (:func:`draw_entropy`).
    bootstrap : bool
        True: ``n_bag`` rows drawn with replacement, validation = the out-of-bag rows.
        False: every row but a held-out ``validation_fraction`` (when ``hold_out``: for early
        stopping, or to learn the TTA or the temperature; at least one row is kept for training).
    """
    plans = []
    for i, (seed, child) in enumerate(_member_seeds(n_members, entropy)):
        rng = np.random.default_rng(child)
        if bootstrap:
            train = np.sort(rng.integers(0, n, size=n_bag))
            val = np.setdiff1d(np.arange(n), train)
        else:
            order = rng.permutation(n)
            n_val = min(round(validation_fraction * n) if hold_out else 0, n - 1)
            train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
        plans.append(MemberPlan(index=i, seed=seed, train_indices=train, val_indices=val))
    return plans


def draw_poisson_plans(n: int, n_members: int, entropy: int, rate: float = 1.0) -> list[MemberPlan]:
    """Plans of ``n_members`` members over ``n`` streamed rows, bagged by the Poisson bootstrap.

    Member m's seed is :func:`draw_plans`'s; its bag holds row i ``w(m, i)`` times
    (:func:`ensemble.engine.poisson.poisson_weights` of ``entropy``, rate ``rate``) and its
    out-of-bag rows are those with ``w(m, i) = 0``.
    """
    weights = poisson_weights(entropy, n_members, n, rate)
    rows = np.arange(n)
    return [MemberPlan(index=i, seed=seed, train_indices=np.repeat(rows, weights[i]),
                       val_indices=np.flatnonzero(weights[i] == 0))
            for i, (seed, _) in enumerate(_member_seeds(n_members, entropy))]


def row_weights(plans: list[MemberPlan], n: int) -> np.ndarray:
    """float32 M x N: how many times each member's bag holds each row (0 for its held-out rows)."""
    return np.stack([np.bincount(p.train_indices, minlength=n) for p in plans]).astype(np.float32)
