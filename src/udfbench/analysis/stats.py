"""Pure statistics over lists of timings: no I/O, no run folder, easy to test on made-up numbers.

A summary (best, median, mean, spread), a straight-line cost model ``seconds = fixed_s + per_row_s
* rows``, bootstrap intervals of ratios and rank tests. ``summary`` applies them to a results table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Summary:
    count: int
    min: float
    median: float
    mean: float
    max: float
    std: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def summarize(values: Sequence[float]) -> Summary:
    """Order statistics and moments of one case's measured seconds (std is the sample std, ddof=1)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to summarize")
    q1, median, q3 = np.percentile(data, [25, 50, 75])
    std = float(data.std(ddof=1)) if data.size > 1 else 0.0
    return Summary(
        count=int(data.size),
        min=float(data.min()),
        median=float(median),
        mean=float(data.mean()),
        max=float(data.max()),
        std=std,
        q1=float(q1),
        q3=float(q3),
    )


# What a fitted fixed cost's 95% interval supports: above zero; not distinguishable from zero (the
# interval holds it); below zero, which no job pays, so the straight line does not fit (the per-row
# cost rises with size: seconds grew faster than the rows); or unknown (a line through two points
# has no interval).
FixedReading = Literal["positive", "zero", "negative", "unknown"]


@dataclass(frozen=True)
class LinearFit:
    """Cost as fixed seconds plus seconds per row, with standard errors and the fixed cost's 95%
    interval (NaN without one); r2 says how straight it is."""

    fixed_s: float
    per_row_s: float
    fixed_stderr: float
    per_row_stderr: float
    r2: float
    points: int
    fixed_low: float
    fixed_high: float

    @property
    def fixed_reading(self) -> FixedReading:
        if math.isnan(self.fixed_low) or math.isnan(self.fixed_high):
            return "unknown"
        if self.fixed_low > 0:
            return "positive"
        return "negative" if self.fixed_high < 0 else "zero"


def linear_fit(
    sizes: Sequence[float], seconds: Sequence[float], confidence: float = 0.95
) -> LinearFit | None:
    """Least-squares line through every (size, seconds) point; None with fewer than two sizes.

    The fixed cost's interval is Student's t with n - 2 degrees of freedom (none through two points).
    """
    x, y = np.asarray(sizes, dtype=float), np.asarray(seconds, dtype=float)
    if np.unique(x).size < 2:
        return None
    fit = sps.linregress(x, y)
    freedom = x.size - 2
    spread = float(sps.t.ppf((1 + confidence) / 2, freedom)) * fit.intercept_stderr if freedom else math.nan
    return LinearFit(
        fixed_s=float(fit.intercept),
        per_row_s=float(fit.slope),
        fixed_stderr=float(fit.intercept_stderr),
        per_row_stderr=float(fit.stderr),
        r2=float(fit.rvalue**2),
        points=int(x.size),
        fixed_low=float(fit.intercept - spread),
        fixed_high=float(fit.intercept + spread),
    )


@dataclass(frozen=True)
class RatioEstimate:
    """current / baseline for one statistic, with a bootstrap confidence interval."""

    ratio: float
    low: float
    high: float
    confidence: float


def ratio_ci(
    baseline: Sequence[float],
    current: Sequence[float],
    statistic: str = "median",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> RatioEstimate:
    """Ratio of ``statistic`` (median, mean or min) of current over baseline, with a percentile bootstrap CI.

    Each sample is resampled on its own (the runs are independent); the seed makes the interval
    reproducible. With one value on a side that side does not vary, so the interval is narrow: callers
    decide whether there were enough repeats to trust it.
    """
    reduce = {"median": np.median, "mean": np.mean, "min": np.min}[statistic]
    a, b = np.asarray(baseline, dtype=float), np.asarray(current, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("both samples need at least one value")
    rng = np.random.default_rng(seed)
    boot_a = reduce(rng.choice(a, size=(resamples, a.size), replace=True), axis=1)
    boot_b = reduce(rng.choice(b, size=(resamples, b.size), replace=True), axis=1)
    ratios = boot_b / boot_a
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return RatioEstimate(float(reduce(b) / reduce(a)), float(low), float(high), confidence)


def repeats_for_half_width(low: float, high: float, repeats: int, half_width: float) -> int | None:
    """About how many repeats would narrow a ratio's interval ``[low, high]``, measured with
    ``repeats``, to ``half_width`` either side (in log terms): an interval's width shrinks about as one
    over the square root of the repeats. At least one more than now; None when ``half_width`` is not
    positive (no number of repeats gets there)."""
    if half_width <= 0:
        return None
    measured = (math.log(high) - math.log(low)) / 2
    return max(math.ceil(repeats * (measured / half_width) ** 2), repeats + 1)


def smallest_p_value(n_baseline: int, n_current: int) -> float:
    """The smallest two-sided p-value a Mann-Whitney U test can give with these sample sizes.

    With few repeats even perfectly separated samples are not significant (3 against 3: p = 0.1),
    so a gate must say "needs more repeats" instead of "no change".
    """
    return 2.0 / math.comb(n_baseline + n_current, n_baseline) if n_baseline and n_current else 1.0


def min_repeats(alpha: float) -> int:
    """The fewest repeats per side for which a two-sided Mann-Whitney U test can reach ``alpha``."""
    n = 1
    while smallest_p_value(n, n) >= alpha:
        n += 1
    return n


def mann_whitney_p(baseline: Sequence[float], current: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (exact for small samples without ties)."""
    return float(sps.mannwhitneyu(current, baseline, alternative="two-sided").pvalue)


def slope_intercept_ci(
    baseline: tuple[Sequence[float], Sequence[float]],
    current: tuple[Sequence[float], Sequence[float]],
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    references: tuple[tuple[Sequence[float], Sequence[float]], tuple[Sequence[float], Sequence[float]]]
    | None = None,
) -> dict[str, RatioEstimate]:
    """Ratios current/baseline of the per-row cost and the fixed cost, with bootstrap intervals.

    Each sample is (sizes, seconds) over measured runs; runs are resampled within each size so every
    resample still spans the sizes. With ``references`` (the same, of a reference strategy in the
    baseline and in the current run), each side's costs are first taken as multiples of its
    reference's, fitted the same way: a machine slower at everything is no change. A ratio with a
    cost that is not positive in some fit (a fixed cost fitted below zero from noisy runs, on any
    side) is NaN: no ratio of such costs means anything.
    """
    rng = np.random.default_rng(seed)

    def fit(sizes: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
        slope, intercept = np.polyfit(sizes, seconds, 1)
        return float(slope), float(intercept)

    def resample(sizes: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.concatenate(
            [rng.choice(np.flatnonzero(sizes == s), size=int((sizes == s).sum())) for s in np.unique(sizes)]
        )
        return sizes[index], seconds[index]

    samples = [
        tuple(np.asarray(v, dtype=float) for v in sample)
        for sample in (baseline, current, *(references or ()))
    ]
    # Fits by [(resample,) sample, cost]: samples 0 the baseline, 1 the current run, 2-3 their references.
    point = np.array([fit(*sample) for sample in samples])
    boots = np.array([[fit(*resample(*sample)) for sample in samples] for _ in range(resamples)])

    def ratio(fits: np.ndarray) -> np.ndarray:
        base, cur = fits[..., 0, :], fits[..., 1, :]
        if references:
            base, cur = base / fits[..., 2, :], cur / fits[..., 3, :]
        return cur / base

    tail = (1 - confidence) / 2
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        point_ratios, boot_ratios = ratio(point), ratio(boots)
    for index, name in enumerate(("per_row", "fixed")):
        if np.any(point[:, index] <= 0) or np.any(boots[:, :, index] <= 0):
            out[name] = RatioEstimate(float("nan"), float("nan"), float("nan"), confidence)
            continue
        low, high = np.quantile(boot_ratios[:, index], [tail, 1 - tail])
        out[name] = RatioEstimate(float(point_ratios[index]), float(low), float(high), confidence)
    return out


def without_slow_outliers(values: Sequence[float]) -> np.ndarray:
    """``values`` less those above Tukey's upper fence (Q3 + 1.5 IQR).

    Timing noise is one-sided: a garbage collection, a noisy neighbour or a page-cache miss makes a
    run slower, never faster. One such run in a baseline of five would otherwise outrank every run
    of a real slowdown and hide it from a rank test.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 4:
        return data
    q1, q3 = np.percentile(data, [25, 75])
    return data[data <= q3 + 1.5 * (q3 - q1)]
