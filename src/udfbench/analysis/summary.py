"""A results table summarised: one row per case (Spark's benchmark tables: best, median, mean, spread,
rate, relative) and one cost model per case without its size, from ``stats``'s pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from udfbench.analysis.stats import linear_fit, summarize
from udfbench.plan.names import DRIVER_ONLY
from udfbench.plan.repeats import relative_half_width
from udfbench.rundir.identity import CASE_KEY, case_ids, cold_runs, measured_runs, runs_of_round
from udfbench.rundir.limits import IMPLAUSIBLE_FRACTION
from udfbench.rundir.schema import BUSY_FOREIGN_CPU_PCT


def _group_key(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in frame.columns]


def _speed_against(table: pd.DataFrame, key: list[str], reference: str) -> pd.Series:
    """``reference``'s median over each case's median, at the same cluster, size and settings; a
    driver-only reference, which a run of several clusters measures once, at the same size and
    settings on whichever cluster it ran."""
    is_ref = table["strategy"] == reference

    def reference_median(columns: list[str]) -> pd.Series:
        others = case_ids(table, columns)
        return others.map(dict(zip(others[is_ref], table.loc[is_ref, "median"], strict=True)))

    median = reference_median([c for c in key if c != "strategy"]).astype(float)
    if reference in DRIVER_ONLY:
        median = median.fillna(reference_median([c for c in key if c not in {"strategy", "cluster"}]))
    return median / table["median"]


def case_summaries(
    results: pd.DataFrame,
    reference: str = "python",
    ceiling: str = "python_pipelined",
    limits: Mapping[str, float | None] | None = None,
    limit_busy: bool = False,
) -> pd.DataFrame:
    """One row per case: count, min, median, mean, std, IQR, images/s, cold start, relative speed.

    ``relative`` is the reference strategy's median divided by this case's median for the same
    cluster, size and settings (above 1 means faster than the reference), and ``of_ceiling`` the
    same against the single-process ceiling strategy. ``cold_s`` is the session's cold start
    (``identity.cold_runs``: the first warmup run of a strategy's first case, with fresh Python
    workers and the model load), NaN for its other cases. ``skipped`` is the dataset's images left
    out as unreadable (``on_bad_image: skip``); ``images_per_s`` counts predicted images only.
    ``load_s``, ``decode_s`` and ``predict_s`` are medians over measured runs of the worker-side time
    (summed over workers), ``cold_load_s``, ``cold_decode_s`` and ``cold_predict_s`` the same in the
    cold start. ``cpu_ms_per_row`` is the median CPU time of the run's own processes per row (NaN
    where it was not read: an external cluster, an older run). With ``repeats: auto``,
    ``stopped_because`` says why the case stopped repeating (converged, max_repeats, budget),
    ``converged`` whether its median's 95% interval came within ``repeat_until``, and
    ``median_half_width`` how far that interval reaches from the median, a fraction of it; ``count``
    is how many repeats it took.

    Against the machine: ``fraction_of_limit`` is images/s over the cluster's limit in ``limits``
    (``implausible`` above ``IMPLAUSIBLE_FRACTION``, never with ``limit_busy``: a limit calibrated
    while other processes took the machine is understated, and a correct case would pass it);
    ``busy_runs`` counts measured runs during which
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
        cpu = measured["cpu_s"].astype(float) if "cpu_s" in measured else pd.Series(dtype=float)
        row["cpu_ms_per_row"] = float(cpu.median()) / row["size"] * 1000 if cpu.notna().any() else np.nan
        row.update(_repeats(measured))
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
    table["limit_busy"] = limit_busy
    table["implausible"] = ~table["limit_busy"] & (table["fraction_of_limit"] > IMPLAUSIBLE_FRACTION)
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


def _repeats(measured: pd.DataFrame) -> dict[str, Any]:
    """With ``repeats: auto``: why the case stopped repeating (its last run says), whether its median
    converged, and how closely it is known (its 95% interval's reach, a fraction of it). Empty and NaN
    for a fixed number of repeats."""
    stopped = measured["stopped_because"].fillna("") if "stopped_because" in measured else pd.Series()
    reason = str(stopped.iloc[-1]) if len(stopped) else ""
    if not reason:
        return {"stopped_because": "", "converged": np.nan, "median_half_width": np.nan}
    return {
        "stopped_because": reason,
        "converged": reason == "converged",
        "median_half_width": relative_half_width(measured["seconds"]),
    }


def cost_fits(results: pd.DataFrame) -> pd.DataFrame:
    """One straight-line cost fit per case without its size: fixed seconds (with its 95% interval and
    what it supports, ``fixed_reading``) and seconds per row."""
    key = [c for c in _group_key(results, CASE_KEY) if c != "size"]
    measured = measured_runs(results)
    rows = []
    for case, group in measured.groupby(key, dropna=False, sort=True):
        fit = linear_fit(group["size"], group["seconds"])
        if fit is not None:
            rows.append(
                {**dict(zip(key, case, strict=True)), **asdict(fit), "fixed_reading": fit.fixed_reading}
            )
    return pd.DataFrame(rows)
