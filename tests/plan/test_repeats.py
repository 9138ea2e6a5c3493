"""repeats: auto's rule on made-up numbers: when a case has repeated enough, and why it stopped."""

from __future__ import annotations

import pytest

from udfbench.plan.repeats import MIN_AUTO_REPEATS, median_interval, relative_half_width, stop_reason


def test_median_interval_brackets_the_median_and_one_run_has_none() -> None:
    low, high = median_interval([1.0, 1.2, 0.9, 1.1, 1.05])
    assert low <= 1.05 <= high
    assert median_interval([2.5]) == (2.5, 2.5)


def test_the_half_width_is_the_far_side_of_the_medians_interval_over_the_median() -> None:
    assert relative_half_width([1.0, 1.0, 1.0, 1.0]) == 0.0
    low, high = median_interval([1.0, 1.1, 1.2, 1.3, 2.0])
    assert relative_half_width([1.0, 1.1, 1.2, 1.3, 2.0]) == pytest.approx(max(1.2 - low, high - 1.2) / 1.2)


TIGHT = [1.00, 1.01, 0.99, 1.00, 1.005]
LOOSE = [1.0, 1.4, 0.7, 1.2, 0.9]


def test_a_case_never_stops_before_the_rank_tests_minimum() -> None:
    assert MIN_AUTO_REPEATS == 4
    assert stop_reason(TIGHT[:3], 0.03, 20, out_of_budget=True) is None


def test_a_case_stops_when_its_median_is_known_closely_enough_or_a_bound_comes_first() -> None:
    assert stop_reason(TIGHT, 0.03, 20, out_of_budget=False) == "converged"
    assert stop_reason(TIGHT, 0.03, 5, out_of_budget=True) == "converged"  # converged says more
    assert stop_reason(LOOSE, 0.03, 20, out_of_budget=False) is None
    assert stop_reason(LOOSE, 0.03, 5, out_of_budget=False) == "max_repeats"
    assert stop_reason(LOOSE, 0.03, 20, out_of_budget=True) == "budget"
    assert stop_reason(LOOSE, 0.5, 20, out_of_budget=False) == "converged"
