"""The answer a run exists to give: per cluster and dataset size, which strategy to use.

Pure logic over the summary and the measured runs (no I/O): the fastest strategy, how much faster
than the runner-up and than ``python`` (time ratios with bootstrap 95% intervals), how close it came
to the machine's limit, and what bounds it. ``report/`` renders it first, in the HTML and the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from udfbench import stats
from udfbench.results import case_ids, case_name, measured_runs, varying_settings

REFERENCE = "python"


@dataclass(frozen=True)
class Lead:
    """How much slower another case is than the fastest: its time over the fastest's, with an interval."""

    name: str
    ratio: float
    low: float
    high: float
    runs: int  # the fewer measured runs of the two: one run has no interval


@dataclass(frozen=True)
class Answer:
    cluster: str
    size: int
    fastest: str  # the case's name: strategy, plus the settings that vary
    images_per_s: float
    runner_up: Lead | None
    reference: Lead | None  # against ``python`` at the same size, when it ran and is not the fastest
    fraction_of_limit: float | None
    bound: str  # "decode", "predict", "Spark overhead" or "driver overhead": where most of its wall time goes
    warnings: tuple[str, ...]


def _lead(name: str, fastest: np.ndarray, other: np.ndarray) -> Lead:
    estimate = stats.ratio_ci(fastest, other)
    return Lead(name, estimate.ratio, estimate.low, estimate.high, min(len(fastest), len(other)))


def bound_by(row: Mapping[str, Any]) -> str:
    """What takes most of a case's wall time: decode or predict in the workers (per task slot), or the
    rest: what Spark adds (scheduling, serialization, Arrow transfer, idle slots) or, for a strategy
    without Spark (eval type ``none``), what the driver adds (reading rows, handing them to processes)."""
    slots = max(float(row.get("slots") or 1), 1.0)
    decode = float(row.get("decode_s") or 0.0) / slots
    predict = float(row.get("predict_s") or 0.0) / slots
    rest = max(float(row["median"]) - decode - predict, 0.0)
    overhead = "driver overhead" if row.get("eval_type") == "none" else "Spark overhead"
    return max((("decode", decode), ("predict", predict), (overhead, rest)), key=lambda p: p[1])[0]


def flags(row: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes a case's figure doubtful: implausibly fast, measured on a busy machine, oversubscribed."""
    found = []
    if row.get("implausible"):
        found.append(
            f"{row['fraction_of_limit']:.2f} of the machine's limit is implausible: check the calibration "
            "and that every row was predicted"
        )
    if row.get("busy_runs"):
        found.append(
            f"{int(row['busy_runs'])} of {int(row['count'])} runs on a busy machine "
            f"(other processes took {row['foreign_cpu_pct']:.0f}% of the CPU, median)"
        )
    if row.get("oversubscribed"):
        found.append(
            f"oversubscribed: {int(row['python_workers'])} Python workers x {int(row['worker_threads'])} "
            f"math threads on {int(row['cores'])} cores"
        )
    return tuple(found)


def answers(summary: pd.DataFrame, results: pd.DataFrame) -> list[Answer]:
    """One answer per cluster and size that has a successful case."""
    if summary.empty:
        return []
    ok = summary[summary["count"] > 0].copy()
    varying = varying_settings(ok)
    ok["name"] = [case_name(row, varying, with_cluster=False, with_size=False) for _, row in ok.iterrows()]
    ok["id"] = case_ids(ok)
    runs = measured_runs(results).copy()
    runs["id"] = case_ids(runs)
    seconds = {key: group["seconds"].to_numpy() for key, group in runs.groupby("id")}
    found = []
    for (cluster, size), cases in ok.groupby(["cluster", "size"], sort=True):
        ranked = cases.sort_values("median")
        best = ranked.iloc[0]
        runner_up = None
        if len(ranked) > 1:
            second = ranked.iloc[1]
            runner_up = _lead(second["name"], seconds[best["id"]], seconds[second["id"]])
        reference = None
        references = ranked[ranked["strategy"] == REFERENCE]
        said = runner_up is not None and ranked.iloc[1]["strategy"] == REFERENCE
        if best["strategy"] != REFERENCE and len(references) and not said:
            ref = references.iloc[0]
            reference = _lead(ref["name"], seconds[best["id"]], seconds[ref["id"]])
        fraction = best.get("fraction_of_limit")
        found.append(
            Answer(
                cluster=str(cluster),
                size=int(size),
                fastest=str(best["name"]),
                images_per_s=float(best["images_per_s"]),
                runner_up=runner_up,
                reference=reference,
                fraction_of_limit=None if fraction is None or math.isnan(fraction) else float(fraction),
                bound=bound_by(best),
                warnings=flags(best),
            )
        )
    return found


def _times(lead: Lead) -> str:
    spread = (
        "one run each: no interval" if lead.runs < 2 else f"95% interval {lead.low:.2f} to {lead.high:.2f}"
    )
    return f"{lead.ratio:.2f}x as fast as {lead.name} ({spread})"


def headline(answer: Answer) -> str:
    """The answer in one sentence, as the report and the terminal lead with it."""
    fastest = f"{answer.fastest} is fastest at {answer.images_per_s:.1f} images/s"
    parts = [f"{answer.cluster}, {answer.size} rows: {fastest}"]
    for lead in (answer.runner_up, answer.reference):
        if lead is not None:
            parts.append(_times(lead))
    if answer.fraction_of_limit is not None:
        parts.append(f"{answer.fraction_of_limit:.2f} of the machine's limit")
    parts.append(f"bound by {answer.bound}")
    return "; ".join(parts) + "." + "".join(f" Warning: {w}." for w in answer.warnings)
