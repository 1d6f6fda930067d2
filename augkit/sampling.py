"""Parameter draws: the random side of ``sample -> params -> apply``.

Every draw is per sample, vectorised over the batch, and made on the generator's device from that
``torch.Generator`` alone, so that a seed reproduces it (see :mod:`augkit.transforms.base` for
how transforms use them). Here: uniform numbers and coins, the declared draws of a transform
(:class:`Uniform`), Beta mixing weights, and torchvision's random boxes (area/aspect tries and
integer offsets) for crops, erasing and CutMix.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

#: Tries at drawing a window that fits (torchvision's number for RandomResizedCrop and RandomErasing).
TRIES = 10


def uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    """N float64 draws from U[lo, hi) on the generator's device.

    Parameters
    ----------
    n : int
        N, the draws.
    lo, hi : float
        The interval.
    generator : torch.Generator
        The random stream; the draws are made on its device.

    Returns
    -------
    torch.Tensor
        float64 N.
    """
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)
    return lo + (hi - lo) * u


def coin(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """N bool draws, each True with probability ``p``.

    Parameters
    ----------
    n : int
        N, the draws.
    p : float
        The probability of True.
    generator : torch.Generator
        The random stream; the draws are made on its device.

    Returns
    -------
    torch.Tensor
        bool N.
    """
    return torch.rand(n, generator=generator, device=generator.device) < p


def uniform_where(apply: torch.Tensor, value_range: tuple[float, float], neutral: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Per sample, a draw from U[lo, hi) where ``apply`` is set and ``neutral`` elsewhere.

    Parameters
    ----------
    apply : torch.Tensor
        bool N: where to draw.
    value_range : (float, float)
        ``(lo, hi)``.
    neutral : float
        The identity value of the samples not drawn.
    generator : torch.Generator
        The random stream; the draws are made on its device.

    Returns
    -------
    torch.Tensor
        float64 N.
    """
    return torch.where(apply, uniform(len(apply), *value_range, generator), neutral)


class Uniform(NamedTuple):
    """A declared draw of a transform's ``draws``: float64 N, per sample U[lo, hi) where applied.

    Parameters
    ----------
    name : str
        The parameter's name in the transform's parameters.
    attr : str
        The transform's attribute holding ``(lo, hi)``.
    neutral : float
        The identity value of the samples not applied.
    """

    name: str
    attr: str
    neutral: float


def beta_draws(n: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """N draws from Beta(alpha, alpha), reproducible from ``generator``.

    torch's Beta sampler takes no generator, so a seed drawn from ``generator`` drives numpy's.

    Parameters
    ----------
    n : int
        Draws.
    alpha : float
        > 0.
    generator : torch.Generator
        The seed is drawn from it.

    Returns
    -------
    torch.Tensor
        float64 N on the generator's device, in [0, 1].
    """
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, n)).to(generator.device)


# ---------------------------------------------------------------- random boxes
# Boxes are per sample, as int64 tensors of shape N: ``top``, ``left``, ``height``, ``width`` in
# pixels of an H x W image (rows ``top .. top + height - 1``).
def area_aspect_tries(n: int, area: float, scale: tuple[float, float], ratio: tuple[float, float],
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's candidate boxes: ``TRIES`` per sample, each from an area and an aspect.

    Each try draws an area ``a = area * U[scale)`` and an aspect ``r = exp(U[log ratio))`` and
    returns ``round(sqrt(a r))`` and ``round(sqrt(a / r))`` (RandomResizedCrop takes them as
    width and height, RandomErasing as height and width, as torchvision does).

    Parameters
    ----------
    n : int
        Samples.
    area : float
        The image's area in pixels.
    scale, ratio : tuple of float
        ``(lo, hi)`` ranges of the area fraction and of the aspect (``ratio`` > 0).
    generator : torch.Generator
        Drawn on its device.

    Returns
    -------
    tuple of torch.Tensor
        ``(long, short)``: int64 N x TRIES each.
    """
    target = area * uniform(n * TRIES, *scale, generator).view(n, TRIES)
    aspect = torch.exp(uniform(n * TRIES, math.log(ratio[0]), math.log(ratio[1]), generator)).view(n, TRIES)
    return torch.round(torch.sqrt(target * aspect)).long(), torch.round(torch.sqrt(target / aspect)).long()


def first_valid(valid: torch.Tensor, *candidates: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The first valid try of each sample.

    Parameters
    ----------
    valid : torch.Tensor
        bool N x TRIES.
    *candidates : torch.Tensor
        N x TRIES each.

    Returns
    -------
    tuple of torch.Tensor
        ``(found, *picked)``: ``found`` bool N (whether any try is valid), then, from each
        candidate, the value (shape N) of the first valid try, or of try 0 when none is.
    """
    index = valid.long().argmax(1, keepdim=True)  # argmax returns the first maximum
    return (valid.any(1), *(c.gather(1, index)[:, 0] for c in candidates))


def uniform_offset(room: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per sample an integer drawn uniformly from 0 to ``room[n]``, both included.

    Parameters
    ----------
    room : torch.Tensor
        int64 N, >= 0.
    generator : torch.Generator
        Drawn on its device.

    Returns
    -------
    torch.Tensor
        int64 N on ``room``'s device.
    """
    u = uniform(len(room), 0, 1, generator).to(room.device)
    return (u * (room + 1)).long().minimum(room)
