"""Step and drift detection on constructed series: found where they are, silent on noise alone."""

from __future__ import annotations

import numpy as np
import pytest

from udfbench.analysis.step_detect import detect_changes

TRIALS = 200


def timings(rng: np.random.Generator, levels: list[float], sigma: float = 0.04) -> np.ndarray:
    """Medians of runs: ``levels`` times lognormal noise, and 2% of runs 1.3 to 2 times slower."""
    values = np.asarray(levels) * rng.lognormal(0.0, sigma, len(levels))
    slow = rng.random(len(levels)) < 0.02
    values[slow] *= rng.uniform(1.3, 2.0, int(slow.sum()))
    return values


def test_a_25_percent_step_is_found_at_its_run() -> None:
    # The few misses are series whose run just before the step is a slow outlier: it looks like the
    # new level, so the step is found one run early.
    found = 0
    for seed in range(TRIALS):
        changes = detect_changes(timings(np.random.default_rng(seed), [1.0] * 10 + [1.25] * 10))
        found += any(
            s.index == 10 and s.direction == "slower" and 1.15 < s.ratio < 1.35 for s in changes.steps
        )
    assert found >= 0.95 * TRIALS


def test_noise_alone_is_rarely_a_step() -> None:
    flagged = sum(
        bool(detect_changes(timings(np.random.default_rng(seed), [1.0] * 20)).steps) for seed in range(TRIALS)
    )
    assert flagged <= 0.05 * TRIALS


def test_a_single_slow_run_is_not_a_step() -> None:
    values = timings(np.random.default_rng(7), [1.0] * 20, sigma=0.03)
    for index in (0, 9, 19):
        spiked = values.copy()
        spiked[index] *= 3.0
        changes = detect_changes(spiked)
        assert changes.steps == [] and changes.drifts == []


def test_a_faster_step_is_reported_as_faster() -> None:
    changes = detect_changes(timings(np.random.default_rng(3), [1.0] * 8 + [0.7] * 8))
    assert [(s.index, s.direction) for s in changes.steps] == [(8, "faster")]


def test_a_slow_climb_is_a_drift_not_a_step() -> None:
    climb = [1.0] * 10 + [1.03**i for i in range(1, 9)] + [1.03**8] * 10  # 3% per run over 8 runs
    drifts = 0
    for seed in range(100):
        changes = detect_changes(timings(np.random.default_rng(seed), climb, sigma=0.03))
        drifts += any(
            d.direction == "slower" and d.ratio > 1.15 and 8 <= d.start <= d.end <= 20 for d in changes.drifts
        )
    assert drifts >= 80


def test_small_steps_the_same_way_add_up_to_a_staircase_drift() -> None:
    levels = [1.0] * 8 + [1.08] * 8 + [1.17] * 8
    changes = detect_changes(timings(np.random.default_rng(1), levels, sigma=0.01))
    assert [s.index for s in changes.steps] == [8, 16]
    assert [(d.kind, d.start, d.end) for d in changes.drifts] == [("staircase", 8, 16)]
    assert changes.drifts[0].ratio == pytest.approx(1.17, rel=0.02)


def test_missing_runs_keep_their_positions() -> None:
    values: list[float | None] = list(timings(np.random.default_rng(2), [1.0] * 8 + [1.3] * 8, sigma=0.02))
    values[3] = values[12] = None
    changes = detect_changes(values)
    assert [s.index for s in changes.steps] == [8]
    assert np.isnan(changes.levels[3]) and changes.levels[9] == pytest.approx(1.3, rel=0.05)


def test_known_per_run_noise_keeps_small_wobbles_from_being_steps() -> None:
    values = [1.0, 1.001, 0.999, 1.0, 1.0] + [1.03, 1.031, 1.029, 1.03, 1.03]  # a 3% step, no visible noise
    assert [s.index for s in detect_changes(values).steps] == [5]
    assert detect_changes(values, noise=[0.05] * len(values)).steps == []


def test_too_short_a_series_has_no_steps_and_bad_values_are_refused() -> None:
    assert detect_changes([1.0, 2.0, 2.0]).steps == []
    with pytest.raises(ValueError, match="positive"):
        detect_changes([1.0, 0.0, 1.0, 1.0])
