"""The Poisson bootstrap of online bagging (Oza & Russell 2001): a stream's members' bags.

A bootstrap sample of N rows drawn with replacement counts each row Binomial(N, 1/N) times,
which tends to Poisson(1) as N grows. Online bagging draws the counts directly: member m
weighs row i by w(m, i) ~ Poisson(lambda) (lambda = 1 for a full-size bag), independently
for every (m, i), so a member's bag needs no pass over the data to draw; the rows with
w = 0 are its out-of-bag rows, a share e^-lambda of them (e^-1 = 36.8%, as the multinomial
bootstrap's (1 - 1/N)^N).

Here w(m, i) is a pure function of (seed, m, i): a counter-based uniform
(:func:`nets.hash_uniform`, stream (seed, m), element i) turned into a count by Poisson's
inverse CDF. A row's weight is therefore the same in every epoch, in every DataLoader
worker, whichever order the rows come in, and after a resume, and it does not depend on N.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from nets import hash_uniform

__all__ = ["poisson_weights", "poisson_cdf"]


def poisson_cdf(rate: float, tolerance: float = 2.0 ** -25) -> np.ndarray:
    """P(W <= k) for k = 0, 1, ... of W ~ Poisson(``rate``), float64, up to the first k whose
    CDF is within ``tolerance`` of 1 (below the 2^-24 resolution of the uniforms)."""
    cdf, term, k = [], math.exp(-rate), 0
    total = term
    while 1.0 - total > tolerance:
        cdf.append(total)
        k += 1
        term *= rate / k
        total += term
    cdf.append(total)
    return np.asarray(cdf)


def poisson_weights(seed: int, n_members: int, n: int, rate: float = 1.0) -> np.ndarray:
    """Every member's Poisson bootstrap weights of rows 0..n-1.

    Parameters
    ----------
    seed : int
        The run's seed (:func:`ensemble.engine.plans.draw_entropy`).
    n_members, n : int
        M members, N rows.
    rate : float
        lambda > 0: the bag's expected size is lambda N (``max_samples``).

    Returns
    -------
    numpy.ndarray
        uint8 M x N, ``w[m, i] = F^-1(u(seed, m, i))`` with F Poisson(lambda)'s CDF: the number
        of CDF values at or below the uniform u.
    """
    counters = torch.arange(n_members, dtype=torch.int64)
    u = hash_uniform(torch.tensor(seed, dtype=torch.int64).expand(n_members), counters, n).double()
    cdf = torch.as_tensor(poisson_cdf(rate), dtype=torch.float64)
    return torch.searchsorted(cdf, u, right=True).to(torch.uint8).numpy()
