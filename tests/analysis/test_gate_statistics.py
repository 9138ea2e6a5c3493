"""The gate's error rates, proven on simulated noise rather than on this machine's clock.

Each trial draws a baseline and a current sample of 5 measured runs from a realistic noise model:
lognormal jitter, heavy-tailed outliers (a run now and then takes 1.5 to 4 times as long: a GC pause,
a noisy neighbour), and in the relative-mode trials a machine-speed factor per run of up to +-30%.
The gate must fail at most 5% of identical pairs and catch at least 95% of true 25% slowdowns.
"""

from __future__ import annotations

import numpy as np
import pytest

from udfbench.analysis.check import Options, decide_case

TRIALS = 1000
REPEATS = 5


def noisy(rng: np.random.Generator, centre: float, size: int = REPEATS) -> np.ndarray:
    jitter = rng.lognormal(0.0, 0.05, size)
    outliers = np.where(rng.random(size) < 0.05, rng.uniform(1.5, 4.0, size), 1.0)
    return centre * jitter * outliers


def flagged(rng: np.random.Generator, slowdown: float, machine_swing: float, relative: bool) -> bool:
    """One simulated CI comparison; True when the gate calls it a regression."""
    baseline_machine, current_machine = rng.uniform(1 - machine_swing, 1 + machine_swing, 2)
    base = noisy(rng, 2.0) * baseline_machine
    cur = noisy(rng, 2.0 * slowdown) * current_machine
    if relative:  # divided by the reference strategy's median in the same run, as check does
        base = base / np.median(noisy(rng, 1.0) * baseline_machine)
        cur = cur / np.median(noisy(rng, 1.0) * current_machine)
    return decide_case("sim", "time", base, cur, Options(threshold=0.10)).status == "regression"


@pytest.mark.parametrize(
    ("machine_swing", "relative"),
    [(0.0, False), (0.3, True)],
    ids=["absolute, same machine", "relative, machines differ by up to 30%"],
)
def test_false_alarms_at_most_5_percent_and_slowdowns_caught_95_percent(machine_swing, relative) -> None:
    rng = np.random.default_rng(20261124)
    false_alarms = sum(flagged(rng, 1.0, machine_swing, relative) for _ in range(TRIALS)) / TRIALS
    caught = sum(flagged(rng, 1.25, machine_swing, relative) for _ in range(TRIALS)) / TRIALS
    assert false_alarms <= 0.05, false_alarms
    assert caught >= 0.95, caught


def test_absolute_mode_cannot_tell_a_slower_machine_from_slower_code() -> None:
    """Why relative mode exists: a 30% machine swing alone trips an absolute gate often."""
    rng = np.random.default_rng(7)
    false_alarms = sum(flagged(rng, 1.0, 0.3, relative=False) for _ in range(TRIALS)) / TRIALS
    assert false_alarms > 0.10
