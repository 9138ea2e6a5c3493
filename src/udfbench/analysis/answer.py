"""The answer a run exists to give: per cluster and dataset size, which strategy to use.

Pure logic over the summary and the measured runs (no I/O): the fastest strategy, how much faster
than the runner-up and than ``python`` (time ratios with bootstrap 95% intervals), how close it came
to the machine's limit, and what bounds it. The fastest is named the winner only when its interval
against the runner-up excludes 1; otherwise the answer is a tie between every strategy whose interval
against the fastest holds 1, and says about how many repeats would separate them. ``report/``
renders it first, in the HTML and the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from udfbench.analysis import stats
from udfbench.plan.names import DRIVER_ONLY
from udfbench.rundir.identity import CASE_KEY, case_ids, case_name, measured_runs, varying_settings
from udfbench.rundir.limits import IMPLAUSIBLE_FRACTION

REFERENCE = "python"


@dataclass(frozen=True)
class Lead:
    """How much slower another case is than the fastest: its time over the fastest's, with an interval."""

    name: str
    ratio: float
    low: float
    high: float
    runs: int  # the fewer measured runs of the two: one run has no interval

    @property
    def within_noise(self) -> bool:
        """Whether the interval holds 1: the data cannot tell this case from the fastest."""
        return self.runs >= 2 and self.low <= 1 <= self.high


@dataclass(frozen=True)
class Answer:
    cluster: str
    size: int
    fastest: str  # the case's name: strategy, plus the settings that vary
    images_per_s: float
    runner_up: Lead | None
    # The cases within noise of the fastest, in rank order (the runner-up first); empty when the
    # fastest wins (its interval against the runner-up excludes 1) or no interval can tell.
    tied: tuple[Lead, ...]
    # About how many repeats each would separate the fastest from the runner-up, from the spread
    # measured; None when not tied, or when the two measured alike (a ratio of 1 separates nothing).
    repeats_to_separate: int | None
    reference: Lead | None  # against ``python`` at the same size, when it ran, is not the fastest nor tied
    fraction_of_limit: float | None
    bound: str  # "decode", "predict", "Spark overhead" or "driver overhead": where most of its wall time goes
    warnings: tuple[str, ...]
    case: tuple[str, ...] = ()  # the fastest case's identity (``identity.case_ids``)


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
    elif row.get("limit_busy") and row.get("fraction_of_limit", 0) > IMPLAUSIBLE_FRACTION:
        found.append(
            f"{row['fraction_of_limit']:.2f} of the machine's limit, but the limit was calibrated on a "
            "busy machine (understated): not judged implausible"
        )
    if row.get("busy_runs"):
        found.append(
            f"{int(row['busy_runs'])} of {int(row['count'])} runs on a busy machine "
            f"(other processes took {row['foreign_cpu_pct']:.0f}% of the CPU, median)"
        )
    if row.get("stopped_because") in ("max_repeats", "budget"):
        bound = "max_repeats" if row["stopped_because"] == "max_repeats" else "its share of the budget"
        found.append(
            f"not converged: {bound} stopped it after {int(row['count'])} runs, its median known to "
            f"±{row['median_half_width']:.1%} (repeat_until asks for less)"
        )
    if row.get("oversubscribed"):
        found.append(
            f"oversubscribed: {int(row['python_workers'])} Python workers x {int(row['worker_threads'])} "
            f"math threads on {int(row['cores'])} cores"
        )
    return tuple(found)


def repeats_note(row: Mapping[str, Any]) -> str:
    """With ``repeats: auto``, how many repeats a converged case took; empty otherwise (a case that did
    not converge says so among its ``flags``)."""
    if row.get("stopped_because") != "converged":
        return ""
    return f"converged after {int(row['count'])} runs (median ±{row['median_half_width']:.1%})"


def _beside_every_cluster(cases: pd.DataFrame) -> pd.DataFrame:
    """``cases`` with each driver-only case also among the cases of every cluster that lacks it: a
    run of several clusters measures it once, but it is a way to run the model beside each cluster's
    (its fraction of the limit then that cluster's). Its ``id`` stays the measured case's."""
    keys = case_ids(cases, [c for c in CASE_KEY if c != "cluster"])
    have = set(zip(cases["cluster"], keys, strict=True))
    limits = cases.groupby("cluster")["limit_images_per_s"].first() if "limit_images_per_s" in cases else None
    extra = []
    for index, key in keys[cases["strategy"].isin(DRIVER_ONLY)].items():
        for cluster in cases["cluster"].unique():
            if (cluster, key) in have:
                continue
            have.add((cluster, key))
            copy = cases.loc[[index]].assign(cluster=cluster)
            if limits is not None:
                copy["limit_images_per_s"] = limits[cluster]
                copy["fraction_of_limit"] = copy["images_per_s"] / limits[cluster]
                if "implausible" in copy:
                    above = copy["fraction_of_limit"] > IMPLAUSIBLE_FRACTION
                    copy["implausible"] = ~copy["limit_busy"] & above
            extra.append(copy)
    return pd.concat([cases, *extra], ignore_index=True) if extra else cases


def answers(summary: pd.DataFrame, results: pd.DataFrame) -> list[Answer]:
    """One answer per cluster and size that has a successful case."""
    if summary.empty:
        return []
    ok = summary[summary["count"] > 0].copy()
    varying = varying_settings(ok)
    ok["name"] = [case_name(row, varying, with_cluster=False, with_size=False) for _, row in ok.iterrows()]
    ok["id"] = case_ids(ok)
    ok = _beside_every_cluster(ok)
    runs = measured_runs(results).copy()
    runs["id"] = case_ids(runs)
    seconds = {key: group["seconds"].to_numpy() for key, group in runs.groupby("id")}
    found = []
    for (cluster, size), cases in ok.groupby(["cluster", "size"], sort=True):
        ranked = cases.sort_values("median")
        best = ranked.iloc[0]
        leads = [
            _lead(other["name"], seconds[best["id"]], seconds[other["id"]])
            for _, other in ranked[1:].iterrows()
        ]
        runner_up = leads[0] if leads else None
        tied = (
            tuple(lead for lead in leads if lead.within_noise) if runner_up and runner_up.within_noise else ()
        )
        reference = None
        references = ranked[ranked["strategy"] == REFERENCE]
        said = {lead.name for lead in tied} | ({runner_up.name} if runner_up else set())
        if best["strategy"] != REFERENCE and len(references) and references.iloc[0]["name"] not in said:
            reference = next(lead for lead in leads if lead.name == references.iloc[0]["name"])
        fraction = best.get("fraction_of_limit")
        found.append(
            Answer(
                cluster=str(cluster),
                size=int(size),
                fastest=str(best["name"]),
                images_per_s=float(best["images_per_s"]),
                runner_up=runner_up,
                tied=tied,
                repeats_to_separate=_repeats_to_separate(runner_up) if tied else None,
                reference=reference,
                fraction_of_limit=None if fraction is None or math.isnan(fraction) else float(fraction),
                bound=bound_by(best),
                warnings=flags(best),
                case=best["id"],
            )
        )
    return found


# Past this many repeats each, more repeats are no practical way to separate two strategies.
MOST_REPEATS = 1000


def _repeats_to_separate(lead: Lead | None) -> int | None:
    """About how many repeats each would narrow ``lead``'s interval until it excludes 1."""
    if lead is None or lead.ratio == 1:
        return None
    return stats.repeats_for_half_width(lead.low, lead.high, lead.runs, abs(math.log(lead.ratio)))


def _times(lead: Lead) -> str:
    spread = (
        "one run each: no interval" if lead.runs < 2 else f"95% interval {lead.low:.2f} to {lead.high:.2f}"
    )
    return f"{lead.ratio:.2f}x as fast as {lead.name} ({spread})"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _tie(answer: Answer) -> list[str]:
    """A tie in words: who is within noise of whom, by how much, and what would separate them."""
    names = _names([answer.fastest, *(lead.name for lead in answer.tied)])
    measured = f"{answer.fastest} measured fastest at {answer.images_per_s:.1f} images/s, " + ", ".join(
        _times(lead) for lead in answer.tied
    )
    parts = [f"a tie between {names}, within noise of each other: {measured}"]
    pair = "them" if len(answer.tied) == 1 else f"{answer.fastest} from {answer.tied[0].name}"
    needed = answer.repeats_to_separate
    if needed is None or needed > MOST_REPEATS:
        either = "either" if len(answer.tied) == 1 else "any of them"
        parts.append(f"no practical number of repeats would separate {pair}: for speed, take {either}")
    else:
        parts.append(f"about {needed} repeats each would separate {pair}, if the difference is real")
    return parts


def headline(answer: Answer) -> str:
    """The answer in one sentence, as the report and the terminal lead with it."""
    if answer.tied:
        said = _tie(answer)
    else:
        said = [f"{answer.fastest} is fastest at {answer.images_per_s:.1f} images/s"]
        if answer.runner_up is not None:
            said.append(_times(answer.runner_up))
    parts = [f"{answer.cluster}, {answer.size} rows: {said[0]}", *said[1:]]
    if answer.reference is not None:
        parts.append(_times(answer.reference))
    if answer.fraction_of_limit is not None:
        parts.append(f"{answer.fraction_of_limit:.2f} of the machine's limit")
    parts.append(f"bound by {answer.bound}")
    return "; ".join(parts) + "." + "".join(f" Warning: {w}." for w in answer.warnings)
