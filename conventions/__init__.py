"""conventions: what augkit, nets and ensemble agree on, written once.

The three packages share a few conventions: what ``generator=None`` means, how ``(mean, std)``
normalises a batch, how an argument is checked and its error worded, how a file is replaced
safely. Dependencies point one way (``ensemble -> nets, augkit``; ``nets`` and ``augkit``
import neither of the other two), so the one implementation of each cannot live in any of
them: it lives here, in a leaf package that imports only the standard library, numpy and
torch, and that all three import.

- :mod:`conventions.seeding`: seed or generator to ``torch.Generator``; None is torch's global one.
- :mod:`conventions.normalization`: the ``(mean, std)`` check and the per-channel kernels.
- :mod:`conventions.checks`: argument checks (ints, numbers, flags, choices, probabilities, ranges).
- :mod:`conventions.files`: atomic file replacement.
"""
from conventions.checks import (
    Range,
    WrongTypeError,
    check_choice,
    check_flag,
    check_int,
    check_number,
    check_probability,
    check_range,
)
from conventions.files import write_atomic
from conventions.normalization import Normalization, check_normalization, normalize, normalize_uint8
from conventions.seeding import as_generator

__all__ = [
    "as_generator",
    "Normalization", "check_normalization", "normalize", "normalize_uint8",
    "WrongTypeError", "Range", "check_int", "check_number", "check_flag", "check_choice", "check_probability",
    "check_range",
    "write_atomic",
]
