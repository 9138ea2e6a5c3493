"""When a case has repeated enough: ``repeats: auto``'s rule, pure, for the loop and the summary alike.

After the fewest repeats a rank test needs, a case repeats until its median's 95% interval lies
within ``repeat_until`` of the median (either side), or a bound stops it: ``max_repeats``, or its
share of the run's budget. What matters is the time to a trustworthy answer, not a fixed count:
pyperf and criterion size their samples the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

# The fewest repeats a side for which check's two-sided rank test can reach p < 0.05 (3 against 3
# gives p = 0.1 at best): ``repeats: auto`` never stops before them.
MIN_AUTO_REPEATS = 4

# Why an automatic case stopped repeating: its median was known closely enough, or a bound came
# first (``max_repeats``, or the case's share of the run's budget).
Stop = Literal["converged", "max_repeats", "budget"]


def median_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A percentile-bootstrap interval of the median; one value has no spread, so it is its own."""
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return float(data[0]), float(data[0])
    medians = np.median(np.random.default_rng(seed).choice(data, size=(resamples, data.size)), axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return float(low), float(high)


def relative_half_width(values: Sequence[float]) -> float:
    """How far the median's 95% interval reaches from the median, as a fraction of it (the farther
    side): 0.03 means the median is known to within ±3%."""
    median = float(np.median(values))
    low, high = median_interval(values)
    return max(median - low, high - median) / median


def stop_reason(
    seconds: Sequence[float], repeat_until: float, max_repeats: int, out_of_budget: bool
) -> Stop | None:
    """Whether an automatic case stops after the measured ``seconds`` so far, and why; None: repeat."""
    if len(seconds) < MIN_AUTO_REPEATS:
        return None
    if relative_half_width(seconds) <= repeat_until:
        return "converged"
    if len(seconds) >= max_repeats:
        return "max_repeats"
    return "budget" if out_of_budget else None
