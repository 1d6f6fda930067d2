"""Seed to generator: the one meaning of ``generator=`` shared by augkit, nets and ensemble.

Every random draw in the toolkit takes ``generator: torch.Generator | int | None`` and turns it
into a ``torch.Generator`` here, so the three packages agree on what ``None`` means: torch's
global default generator, as everywhere in torch (the one ``torch.manual_seed`` sets and a
DataLoader seeds per worker). A run with ``None`` is reproducible after ``torch.manual_seed``
and advances the global stream; an int or a generator of one's own leaves that stream alone.
"""
from __future__ import annotations

import numbers

import torch

__all__ = ["as_generator"]


def as_generator(generator: torch.Generator | int | None) -> torch.Generator:
    """The ``torch.Generator`` that ``generator`` names.

    Parameters
    ----------
    generator : torch.Generator, int or None
        A generator (returned as given), an int seed (not a bool: a fresh CPU generator seeded
        with it), or None (torch's global default generator, ``torch.default_generator``).

    Returns
    -------
    torch.Generator

    Raises
    ------
    TypeError
        For anything else, naming the value.
    """
    if generator is None:
        return torch.default_generator
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {generator!r}")
