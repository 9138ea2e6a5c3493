"""Pure statistics over timings: no I/O, no Spark, easy to test on made-up numbers.

The summary follows Spark's own benchmark tables (best, median, mean, spread, rate, relative) and
the cost model is a straight line through the sizes: ``seconds = fixed_s + per_row_s * rows``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from udfbench.limits import IMPLAUSIBLE_FRACTION
from udfbench.results import (
    BUSY_FOREIGN_CPU_PCT,
    CASE_KEY,
    case_ids,
    cold_runs,
    measured_runs,
    runs_of_round,
)


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


@dataclass(frozen=True)
class LinearFit:
    """Cost as fixed seconds plus seconds per row, with standard errors; r2 says how straight it is."""

    fixed_s: float
    per_row_s: float
    fixed_stderr: float
    per_row_stderr: float
    r2: float
    points: int


def linear_fit(sizes: Sequence[float], seconds: Sequence[float]) -> LinearFit | None:
    """Least-squares line through every (size, seconds) point; None with fewer than two sizes."""
    x, y = np.asarray(sizes, dtype=float), np.asarray(seconds, dtype=float)
    if np.unique(x).size < 2:
        return None
    fit = sps.linregress(x, y)
    return LinearFit(
        fixed_s=float(fit.intercept),
        per_row_s=float(fit.slope),
        fixed_stderr=float(fit.intercept_stderr),
        per_row_stderr=float(fit.stderr),
        r2=float(fit.rvalue**2),
        points=int(x.size),
    )


def _group_key(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in frame.columns]


def _speed_against(table: pd.DataFrame, key: list[str], reference: str) -> pd.Series:
    """``reference``'s median over each case's median, at the same cluster, size and settings."""
    others = case_ids(table, [c for c in key if c != "strategy"])
    is_ref = table["strategy"] == reference
    ref_median = dict(zip(others[is_ref], table.loc[is_ref, "median"], strict=True))
    return others.map(ref_median) / table["median"]


def case_summaries(
    results: pd.DataFrame,
    reference: str = "python",
    ceiling: str = "python_pipelined",
    limits: Mapping[str, float | None] | None = None,
) -> pd.DataFrame:
    """One row per case: count, min, median, mean, std, IQR, images/s, cold start, relative speed.

    ``relative`` is the reference strategy's median divided by this case's median for the same
    cluster, size and settings (above 1 means faster than the reference), and ``of_ceiling`` the
    same against the single-process ceiling strategy. ``cold_s`` is the session's cold start
    (``results.cold_runs``: the first warmup run of a strategy's first case, with fresh Python
    workers and the model load), NaN for its other cases. ``skipped`` is the dataset's images left
    out as unreadable (``on_bad_image: skip``); ``images_per_s`` counts predicted images only.
    ``load_s``, ``decode_s`` and ``predict_s`` are medians over measured runs of the worker-side time
    (summed over workers), ``cold_load_s``, ``cold_decode_s`` and ``cold_predict_s`` the same in the
    cold start.

    Against the machine: ``fraction_of_limit`` is images/s over the cluster's limit in ``limits``
    (``implausible`` above ``IMPLAUSIBLE_FRACTION``); ``busy_runs`` counts measured runs during which
    other processes took more than ``BUSY_FOREIGN_CPU_PCT`` of the CPU; ``oversubscribed`` says that
    Python workers times their math threads passed the cores; peak memory columns are the largest
    over the measured runs.
    """
    results = runs_of_round(results)
    key = _group_key(results, CASE_KEY)
    all_cold = cold_runs(results)
    rows = []
    for case, group in results.groupby(key, dropna=False, sort=True):
        measured = measured_runs(group)
        cold = all_cold.loc[all_cold.index.intersection(group.index)]
        row = dict(zip(key, case, strict=True))
        row["eval_type"] = group["eval_type"].iloc[0]
        row["cores"] = int(group["cores"].iloc[0])
        failed = group[group["status"] != "ok"]
        row["status"] = failed["status"].iloc[0] if len(failed) else "ok"
        row["error"] = next((e for e in failed["error"] if e), "")
        for part in ("seconds", "load_s", "decode_s", "predict_s"):
            name = "cold_s" if part == "seconds" else f"cold_{part}"
            row[name] = float(cold[part].iloc[0]) if len(cold) else np.nan
        row["slots"] = int(group["slots"].iloc[0])
        row.update(_resources(measured))
        for part in ("load_s", "decode_s", "predict_s"):
            row[part] = float(measured[part].median()) if len(measured) else np.nan
        if len(measured):
            s = summarize(measured["seconds"])
            row.update({k: v for k, v in asdict(s).items() if k not in {"q1", "q3"}})
            row["iqr"] = s.iqr
            row["skipped"] = int(measured["skipped"].max())
            row["images_per_s"] = (row["size"] - row["skipped"]) / s.median if s.median > 0 else np.nan
            row["images_per_s_per_core"] = row["images_per_s"] / row["cores"]
        else:
            row.update(dict.fromkeys(["count", "min", "median", "mean", "max", "std", "iqr"], np.nan))
            row["count"] = row["skipped"] = 0
            row["images_per_s"] = row["images_per_s_per_core"] = np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["relative"] = _speed_against(table, key, reference)
    table["of_ceiling"] = _speed_against(table, key, ceiling)
    limit = table["cluster"].map(dict(limits or {})).astype(float)
    table["limit_images_per_s"] = limit
    table["fraction_of_limit"] = table["images_per_s"] / limit
    table["implausible"] = table["fraction_of_limit"] > IMPLAUSIBLE_FRACTION
    return table


def _resources(measured: pd.DataFrame) -> dict[str, Any]:
    """Memory, threads and neighbours over a case's measured runs (empty where nothing was read)."""

    def largest(column: str) -> float:
        values = measured[column].astype(float) if column in measured else pd.Series(dtype=float)
        return float(values.max()) if values.notna().any() else np.nan

    foreign = measured["foreign_cpu_pct"].astype(float) if "foreign_cpu_pct" in measured else pd.Series()
    return {
        "driver_peak_rss_mb": largest("driver_peak_rss_mb"),
        "worker_peak_rss_mb": largest("worker_peak_rss_mb"),
        "executor_peak_rss_mb": largest("executor_peak_rss_mb"),
        "python_workers": largest("python_workers"),
        "worker_threads": largest("worker_threads"),
        # True where a run was oversubscribed; unknown (NaN) and False alike are not.
        "oversubscribed": bool(measured.get("oversubscribed", pd.Series(dtype=object)).eq(True).any()),
        "foreign_cpu_pct": float(foreign.median()) if foreign.notna().any() else np.nan,
        "busy_runs": int((foreign > BUSY_FOREIGN_CPU_PCT).sum()),
    }


def cost_fits(results: pd.DataFrame) -> pd.DataFrame:
    """One straight-line cost fit per case without its size: fixed seconds and seconds per row."""
    key = [c for c in _group_key(results, CASE_KEY) if c != "size"]
    measured = measured_runs(results)
    rows = []
    for case, group in measured.groupby(key, dropna=False, sort=True):
        fit = linear_fit(group["size"], group["seconds"])
        if fit is not None:
            rows.append({**dict(zip(key, case, strict=True)), **asdict(fit)})
    return pd.DataFrame(rows)


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
    reference's, fitted the same way: a machine slower at everything is no change. A ratio whose
    baseline cost, or a reference's, is not positive is NaN.
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
    denominators = [0, 2, 3] if references else [0]

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
        if np.any(point[denominators, index] <= 0) or np.any(boots[:, denominators, index] <= 0):
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
