"""conventions.checks: one check per kind of argument, the same message in every package."""
import math

import numpy as np
import pytest

from conventions import checks


def test_a_wrong_type_is_both_a_type_error_and_a_value_error():
    # augkit's callers catch TypeError, nets' and ensemble's ValueError: one error serves both
    assert issubclass(checks.WrongTypeError, TypeError) and issubclass(checks.WrongTypeError, ValueError)


def test_check_int():
    assert checks.check_int(np.int64(3), "n", minimum=1) == 3 and type(checks.check_int(np.int64(3), "n")) is int
    with pytest.raises(checks.WrongTypeError, match=r"n must be an int, got 2.5"):
        checks.check_int(2.5, "n", minimum=1)
    with pytest.raises(checks.WrongTypeError, match="n must be an int, got True"):
        checks.check_int(True, "n")
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        checks.check_int(0, "n", minimum=1)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 4\], got 5"):
        checks.check_int(5, "n", minimum=1, maximum=4)


@pytest.mark.parametrize("bounds, bad, message", [
    ({}, math.nan, "x must be a finite number, got nan"),
    ({"minimum": 0}, -0.1, "x must be a finite number >= 0, got -0.1"),
    ({"minimum": 0}, math.inf, "x must be a finite number >= 0, got inf"),
    ({"minimum": 0, "exclusive_minimum": True}, 0, "x must be a finite number > 0, got 0"),
    ({"maximum": 2.5}, 3, "x must be a finite number <= 2.5, got 3"),
    ({"minimum": 0, "maximum": 1, "exclusive_maximum": True}, 1.0, r"x must be a number in \[0, 1\), got 1.0"),
    ({"minimum": 0, "maximum": 1, "exclusive_minimum": True}, 0.0, r"x must be a number in \(0, 1\], got 0.0"),
])
def test_check_number_states_the_allowed_set(bounds, bad, message):
    with pytest.raises(ValueError, match=message):
        checks.check_number(bad, "x", **bounds)


def test_check_number_returns_a_float_and_refuses_other_types():
    assert checks.check_number(2, "x", minimum=0) == 2.0 and type(checks.check_number(np.float32(0.5), "x")) is float
    for bad in (True, "0.1", None):
        with pytest.raises(checks.WrongTypeError, match="x must be a finite number >= 0, got"):
            checks.check_number(bad, "x", minimum=0)


def test_check_flag():
    assert checks.check_flag(True, "f") is True and checks.check_flag(0, "f") is False
    with pytest.raises(ValueError, match="f must be True or False, got 2"):
        checks.check_flag(2, "f")
    with pytest.raises(checks.WrongTypeError, match="f must be True or False, got 'no'"):
        checks.check_flag("no", "f")


def test_check_choice():
    assert checks.check_choice(None, "c", (None, "a")) is None
    with pytest.raises(ValueError, match=r"c must be one of \(None, 'a'\), got 'b'"):
        checks.check_choice("b", "c", (None, "a"))


def test_check_probability():
    assert checks.check_probability(1) == 1.0
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        checks.check_probability(1.5)
    with pytest.raises(checks.WrongTypeError, match=r"q must be a number in \[0, 1\], got '0.5'"):
        checks.check_probability("0.5", "q")


def test_check_range():
    assert checks.check_range(0.2, "r") == (-0.2, 0.2)
    assert checks.check_range(2, "r", symmetric_about=None) == (2.0, 2.0)
    assert checks.check_range((1, 3), "r", minimum=0) == (1.0, 3.0)
    with pytest.raises(ValueError, match=r"r range is reversed \(lo > hi\)"):
        checks.check_range((3, 1), "r")
    with pytest.raises(ValueError, match="r must be > 0, got"):
        checks.check_range((0, 1), "r", minimum=0, exclusive_minimum=True)
    with pytest.raises(ValueError, match="r must be <= 1, got"):
        checks.check_range((0, 2), "r", maximum=1)
    with pytest.raises(checks.WrongTypeError, match="r must be a number or a \\(lo, hi\\) pair, got 'wide'"):
        checks.check_range("wide", "r")
