"""One float coercer for every statistic (issue 12): booleans, text and complex values
are a TypeError naming the argument, in every entry point alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from perfstats import Histogram, LinearModel, Moments, welch_t_test
from perfstats._validate import float_array

ENTRY_POINTS: dict[str, Callable[[Any], object]] = {
    "Moments": lambda v: Moments(v),
    "Histogram.add": lambda v: Histogram([1.0, 2.0]).add(v),
    "LinearModel": lambda v: LinearModel(np.arange(len(v), dtype=float), v),
    "welch_t_test": lambda v: welch_t_test(v, [1.0, 2.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_booleans_are_rejected_everywhere(name: str) -> None:
    # before: Moments, Histogram and the t-tests took True/False as 1/0 while
    # LinearModel refused them
    with pytest.raises(TypeError, match="real numbers, got dtype bool"):
        ENTRY_POINTS[name](np.array([True, False, True, True]))


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_text_is_rejected_everywhere(name: str) -> None:
    with pytest.raises(TypeError, match="real numbers"):
        ENTRY_POINTS[name](np.array(["1", "2", "3", "4"]))


def test_float_array_is_no_copy_for_float64_and_checks_dimensions() -> None:
    x = np.arange(5, dtype=np.float64)
    assert float_array(x, "x") is x
    np.testing.assert_array_equal(float_array([1, 2], "x"), [1.0, 2.0])
    with pytest.raises(ValueError, match="x must be one-dimensional"):
        float_array(np.ones((2, 2)), "x")
    assert float_array(np.ones((2, 2)), "X", (1, 2)).shape == (2, 2)
