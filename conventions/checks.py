"""Argument checks shared by augkit, nets and ensemble: one implementation per kind of argument.

Each check returns the value in its canonical type (``int``, ``float``, ``bool``, ``(lo, hi)``)
or raises with a message that names the argument and the bad value, so the same mistake reads
the same in every package.

A value of the wrong type raises :class:`WrongTypeError`, which is a ``TypeError`` and a
``ValueError`` at once: augkit has always raised ``TypeError`` for these, nets and ensemble
``ValueError``, and one shared check must not break either package's callers (scikit-learn's
``InvalidParameterError`` is both for the same reason). A value of the right type outside its
allowed set raises ``ValueError``.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["WrongTypeError", "Range", "check_int", "check_number", "check_flag", "check_choice",
           "check_probability", "check_range"]

#: A closed interval ``(lo, hi)`` of numbers, ``lo <= hi`` (what :func:`check_range` returns).
Range = tuple[float, float]


class WrongTypeError(TypeError, ValueError):
    """An argument of the wrong type (see the module docstring for why it is both errors)."""


def check_int(value: int, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer (not a bool) in ``[minimum, maximum]``.

    Parameters
    ----------
    value : int
        The argument; any ``numbers.Integral`` (numpy ints too), not a bool.
    name : str
        Its name, for the message.
    minimum, maximum : int, optional
        Inclusive bounds; None leaves that side open.

    Returns
    -------
    int

    Raises
    ------
    WrongTypeError
        ``value`` is not an integer.
    ValueError
        ``value`` is outside the bounds.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise WrongTypeError(f"{name} must be an int, got {value!r}")
    if maximum is not None and (value > maximum or (minimum is not None and value < minimum)):
        raise ValueError(f"{name} must be an int in [{minimum}, {maximum}], got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_number(value: float, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 exclusive_minimum: bool = False, exclusive_maximum: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite real number (not a bool) within bounds.

    Parameters
    ----------
    value : float
        The argument; any ``numbers.Real`` (ints and numpy floats too), not a bool.
    name : str
        Its name, for the message.
    minimum, maximum : float, optional
        Bounds; None leaves that side open.
    exclusive_minimum, exclusive_maximum : bool
        Whether the bound itself is refused (``> 0`` rather than ``>= 0``).

    Returns
    -------
    float
        ``value``, converted.

    Raises
    ------
    WrongTypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is NaN, infinite or outside the bounds. The message states the allowed set:
        ``"lr must be a finite number >= 0, got -0.1"``, ``"label_smoothing must be a number in
        [0, 1), got 1.0"``.
    """
    low = None if minimum is None else ("(" if exclusive_minimum else "[") + f"{minimum:g}"
    high = None if maximum is None else f"{maximum:g}" + (")" if exclusive_maximum else "]")
    if low is not None and high is not None:
        allowed = f"a number in {low}, {high}"
    else:
        bounds = [f"{'>' if exclusive_minimum else '>='} {minimum:g}"] if low is not None else []
        bounds += [f"{'<' if exclusive_maximum else '<='} {maximum:g}"] if high is not None else []
        allowed = " ".join(["a finite number", *bounds])
    message = f"{name} must be {allowed}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WrongTypeError(message)
    v = float(value)
    too_low = minimum is not None and (v < minimum or (exclusive_minimum and v == minimum))
    too_high = maximum is not None and (v > maximum or (exclusive_maximum and v == maximum))
    if not math.isfinite(v) or too_low or too_high:
        raise ValueError(message)
    return v


def check_flag(value: bool, name: str) -> bool:
    """Return ``value`` as a bool after checking it is True, False, 1 or 0.

    Parameters
    ----------
    value : bool
        The argument; a bool or an integer 0 or 1 (numpy ints too).
    name : str
        Its name, for the message.

    Returns
    -------
    bool

    Raises
    ------
    WrongTypeError
        ``value`` is neither a bool nor an integer.
    ValueError
        An integer other than 0 and 1.
    """
    if not isinstance(value, (bool, numbers.Integral)):
        raise WrongTypeError(f"{name} must be True or False, got {value!r}")
    if value not in (0, 1):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(value: str, name: str, choices: tuple) -> str:
    """Return ``value`` after checking it is one of ``choices``.

    Parameters
    ----------
    value : str
        The argument, compared with ``==`` (so None may be a choice).
    name : str
        Its name, for the message.
    choices : tuple
        The allowed values, listed in the message.

    Returns
    -------
    str
        ``value`` itself.

    Raises
    ------
    ValueError
        ``value`` is not one of them; the message lists them.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_probability(p: float, name: str = "p") -> float:
    """Return ``p`` as a float after checking it is a number in [0, 1].

    Parameters
    ----------
    p : float
        The argument; any ``numbers.Real``, not a bool.
    name : str
        Its name, for the message.

    Returns
    -------
    float
        ``p``, converted.

    Raises
    ------
    WrongTypeError
        ``p`` is not a real number (or is a bool).
    ValueError
        ``p`` is outside [0, 1] (NaN included).
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise WrongTypeError(f"{name} must be a number in [0, 1], got {p!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")
    return float(p)


def check_range(
    value: float | tuple[float, float],
    name: str,
    *,
    symmetric_about: float | None = 0.0,
    minimum: float | None = None,
    exclusive_minimum: bool = False,
    maximum: float | None = None,
) -> Range:
    """Parse a scalar or a ``(lo, hi)`` pair into a validated closed range.

    Parameters
    ----------
    value : float or (float, float)
        A scalar ``v`` means ``(c - v, c + v)`` with ``c = symmetric_about`` (then ``v >= 0`` is
        required); when ``symmetric_about`` is None a scalar means the fixed range ``(v, v)``.
    name : str
        Its name, for the messages.
    symmetric_about : float or None
        See ``value``.
    minimum : float, optional
        The lower bound the whole range must respect; None leaves that side open.
    exclusive_minimum : bool
        Whether ``lo == minimum`` is refused.
    maximum : float, optional
        The upper bound the whole range must respect; None leaves that side open.

    Returns
    -------
    (float, float)
        ``(lo, hi)``.

    Raises
    ------
    WrongTypeError
        Neither a number nor a pair of numbers.
    ValueError
        ``lo > hi``, non-finite bounds, or bounds outside ``[minimum, maximum]``.
    """
    if isinstance(value, (bool, str)) or value is None:
        raise WrongTypeError(f"{name} must be a number or a (lo, hi) pair, got {value!r}")
    if isinstance(value, numbers.Real):
        v = float(value)
        if symmetric_about is None:
            lo, hi = v, v
        else:
            if v < 0:
                raise ValueError(f"{name} must be >= 0 when given as one number, got {value!r}")
            lo, hi = symmetric_about - v, symmetric_about + v
    else:
        try:
            lo, hi = (float(b) for b in value)
        except (TypeError, ValueError):
            raise WrongTypeError(f"{name} must be a number or a (lo, hi) pair, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo > hi:
        raise ValueError(f"{name} range is reversed (lo > hi): {value!r}")
    if minimum is not None and (lo < minimum or (exclusive_minimum and lo == minimum)):
        bound = ">" if exclusive_minimum else ">="
        raise ValueError(f"{name} must be {bound} {minimum}, got {value!r}")
    if maximum is not None and hi > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return (lo, hi)
