"""``udfbench check``: a regression gate on timings that does not cry wolf.

Three answers, never two. A case regresses (or improves) only when its change is larger than the
threshold *and* statistically significant given the repeats (two-sided Mann-Whitney U at ``alpha``
on the runs left after setting aside slow outliers beyond Tukey's fence). It is "unchanged" only
when the ratio's whole 95% bootstrap interval lies within the band of no change, [1/(1+t), 1+t]: an
equivalence test, since "not significant" is no evidence of "no change". Everything else is
"undecided", with the reason in words: too few repeats to reach significance at all, an interval
too wide to tell a change of the threshold's size (with about how many repeats would resolve it),
or a machine that other processes kept busy.
Relative mode divides each run's times by a reference strategy measured in the same run, so a slower
or faster CI machine does not read as a change in the code. The straight-line cost model is gated
too: per-row cost and fixed cost apart.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from udfbench.analysis import stats
from udfbench.analysis.comparable import environment_differences
from udfbench.errors import UserError
from udfbench.plan.names import DRIVER_ONLY
from udfbench.rundir.files import load_run
from udfbench.rundir.identity import (
    CASE_KEY,
    case_ids,
    case_names,
    measured_runs,
    setting_text,
    varying_settings,
)
from udfbench.rundir.schema import BUSY_FOREIGN_CPU_PCT

# "unconfirmed": a regression that ``--confirm`` reruns did not reproduce (not a failure).
Status = Literal["regression", "improvement", "unchanged", "undecided", "unconfirmed"]
# Why a verdict is undecided (its note says it in words): nothing to judge (no runs on a side, or a
# cost not above zero), too few repeats for the rank test, an interval too wide, a busy machine.
Undecided = Literal["", "nothing to judge", "few repeats", "noisy", "busy"]


@dataclass(frozen=True)
class Options:
    threshold: float = 0.10
    # "cpu": the median CPU time of the run's own processes (cpu_s) instead of its seconds.
    metric: Literal["median", "mean", "min", "cpu"] = "median"
    rules: list[tuple[str, float]] = field(default_factory=list)
    relative_to: str | None = None
    alpha: float = 0.05
    allow_different_env: bool = False
    strict: bool = False  # an undecided verdict fails the check too

    @property
    def column(self) -> str:
        """The results column judged: wall seconds, or CPU seconds for ``--metric cpu``."""
        return "cpu_s" if self.metric == "cpu" else "seconds"

    @property
    def statistic(self) -> Literal["median", "mean", "min"]:
        return "median" if self.metric == "cpu" else self.metric

    def threshold_for(self, name: str) -> float:
        return next((t for pattern, t in self.rules if fnmatch.fnmatchcase(name, pattern)), self.threshold)


@dataclass
class Verdict:
    case: str
    measure: str  # "time" (per size), or the cost model's "per_row" / "fixed"
    status: Status
    threshold: float
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    baseline: float | None = None
    current: float | None = None
    n_baseline: int = 0
    n_current: int = 0
    note: str = ""
    undecided_because: Undecided = ""
    # The identities (``identity.case_ids``) of the current run's cases judged: one for a time, every
    # size for the cost model. They map a verdict back to the planned cases, to rerun them.
    case_keys: list[tuple[str, ...]] = field(default_factory=list)


@dataclass
class CheckResult:
    current: str
    baseline: str
    options: Options
    verdicts: list[Verdict]
    differences: list[str]
    only_in_current: list[str]
    only_in_baseline: list[str]
    reruns: int = 0  # how many times each regression was rerun by ``--confirm`` (0: not)

    @property
    def regressions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == "regression"]

    @property
    def undecided(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == "undecided"]

    def exit_status(self) -> int:
        """1 on a regression (with ``strict``, on an undecided verdict too), else 0."""
        return 1 if self.regressions or (self.options.strict and self.undecided) else 0


def samples(
    results: pd.DataFrame,
    relative_to: str | None,
    where: str,
    confirmation: int = 0,
    column: str = "seconds",
) -> pd.DataFrame:
    """Measured, successful runs (of the run as planned, or of a round of confirmation reruns) with
    ``column`` (seconds, or cpu_s) as their value; in relative mode divided by the reference's
    median in the same runs.

    ``foreign`` is the CPU share other processes took while the run was on; in relative mode the
    larger of the run's and the reference's median, since a busy reference skews every ratio.
    """
    measured = measured_runs(results, confirmation).copy()
    if column != "seconds":
        values = measured[column].astype(float) if column in measured else pd.Series(dtype=float)
        if not values.notna().any():
            raise UserError(
                f"no measured run has {column} (a run made before udfbench recorded CPU time, or on "
                "an external cluster whose processes it cannot see): judge it with --metric median",
                where=where,
            )
        measured = measured[values.notna()].astype({column: float})
    measured["value"] = measured[column]
    measured["foreign"] = measured["foreign_cpu_pct"].astype(float).fillna(0.0)
    if relative_to is None:
        return measured
    is_ref = measured["strategy"] == relative_to
    if not is_ref.any():
        raise UserError(f"no measured runs of the reference strategy {relative_to!r}", where=where)

    def reference_median(column: str, dropped: set[str]) -> pd.Series:
        key = case_ids(measured, [c for c in CASE_KEY if c not in dropped])
        return key.map(measured[is_ref].groupby(key[is_ref])[column].median()).astype(float)

    def reference(column: str) -> pd.Series:
        """The reference's median at the same cluster, size and settings; a driver-only one, which a
        run of several clusters measures once, at the same size and settings on the cluster it ran."""
        median = reference_median(column, {"strategy"})
        if relative_to in DRIVER_ONLY:
            median = median.fillna(reference_median(column, {"strategy", "cluster"}))
        return median

    measured["value"] = measured["value"] / reference("value")
    measured["foreign"] = np.maximum(measured["foreign"], reference("foreign").fillna(0.0))
    return measured[~is_ref & measured["value"].notna()]


def busy_note(
    a: pd.DataFrame, b: pd.DataFrame, sides: tuple[str, str] = ("the baseline", "the current run")
) -> str:
    """Why a change cannot be read as the code's, when other processes took the machine while ``a``
    or ``b`` (named by ``sides``) were measured; empty when neither was busy."""
    found = [(side, float(frame["foreign"].median())) for side, frame in zip(sides, (a, b), strict=True)]
    busy = [f"{pct:.0f}% of the CPU in {side}" for side, pct in found if pct > BUSY_FOREIGN_CPU_PCT]
    if not busy:
        return ""
    return (
        f"measured on a busy machine (other processes took {' and '.join(busy)}, median; over "
        f"{BUSY_FOREIGN_CPU_PCT:.0f}% is busy): rerun on a quiet machine"
    )


def undecided(verdict: Verdict, because: Undecided, note: str) -> Verdict:
    """``verdict`` made undecided for ``because``, ``note`` saying it before any note it had."""
    verdict.status, verdict.undecided_because = "undecided", because
    verdict.note = "; ".join(n for n in (note, verdict.note) if n)
    return verdict


def judge(
    verdict: Verdict, estimate: stats.RatioEstimate, significant: bool, repeats: int, unit: str
) -> Verdict:
    """Three answers from the ratio's ``estimate``: a significant change beyond the threshold is a
    regression or an improvement; "unchanged" needs the whole interval within the band of no change,
    [1/(1+t), 1+t]; anything else is undecided, saying how far the interval reaches and about how
    many ``unit`` ("repeats a side": ``repeats`` now) would resolve it."""
    ratio, low, high, threshold = estimate.ratio, estimate.low, estimate.high, verdict.threshold
    verdict.ratio, verdict.low, verdict.high = ratio, low, high
    if significant and ratio > 1 + threshold:
        verdict.status = "regression"
    elif significant and ratio < 1 / (1 + threshold):
        verdict.status = "improvement"
    elif 1 / (1 + threshold) <= low and high <= 1 + threshold:
        verdict.status = "unchanged"
    else:
        undecided(verdict, "noisy", too_noisy(ratio, low, high, threshold, repeats, unit))
    return verdict


# More repeats than anyone runs: past it, the note says repeats will hardly resolve the ratio.
MOST_REPEATS = 1000


def too_noisy(ratio: float, low: float, high: float, threshold: float, repeats: int, unit: str) -> str:
    """Why an interval cannot be read either way, and about how many repeats would resolve it: as
    "unchanged" when the ratio lies within the band (the interval must shrink inside it), as a change
    when it lies beyond (the interval must clear 1)."""
    band, off = math.log1p(threshold), abs(math.log(ratio))
    needed = stats.repeats_for_half_width(low, high, repeats, band - off if off < band else off)
    if low <= 1 <= high:
        reach = f"holds both no change and a change of more than {threshold:.0%}"
    else:
        reach = f"reaches past the band of no change [{1 / (1 + threshold):.3f}, {1 + threshold:.3f}]"
    if needed is None or needed > MOST_REPEATS:
        more = f"the ratio sits at the {threshold:.0%} threshold, where more repeats will hardly resolve it"
    else:
        more = f"about {needed} {unit} would resolve it (from the spread measured)"
    shown = f"[{low:.3f}, {high:.3f}]"
    return f"too noisy to tell a {threshold:.0%} change: the 95% interval {shown} {reach}; {more}"


def decide_case(name: str, measure: str, a: np.ndarray, b: np.ndarray, options: Options) -> Verdict:
    threshold = options.threshold_for(name)
    verdict = Verdict(name, measure, "undecided", threshold, n_baseline=len(a), n_current=len(b))
    if len(a) == 0 or len(b) == 0:
        return undecided(verdict, "nothing to judge", "no successful measured runs on one side")
    estimate = stats.ratio_ci(a, b, statistic=options.statistic)
    verdict.ratio, verdict.low, verdict.high = estimate.ratio, estimate.low, estimate.high
    reduce = {"median": np.median, "mean": np.mean, "min": np.min}[options.statistic]
    verdict.baseline, verdict.current = float(reduce(a)), float(reduce(b))
    kept_a, kept_b = stats.without_slow_outliers(a), stats.without_slow_outliers(b)
    set_aside = len(a) + len(b) - len(kept_a) - len(kept_b)
    if set_aside:
        verdict.note = f"{set_aside} slow outlier(s) left out of the rank test"
    if stats.smallest_p_value(len(kept_a), len(kept_b)) >= options.alpha:
        needs = f"needs at least {stats.min_repeats(options.alpha)} repeats on each side"
        return undecided(verdict, "few repeats", needs)
    verdict.p_value = stats.mann_whitney_p(kept_a, kept_b)
    return judge(verdict, estimate, verdict.p_value < options.alpha, min(len(a), len(b)), "repeats a side")


def decide_fit(
    name: str, measure: str, estimate: stats.RatioEstimate, options: Options, repeats: int
) -> Verdict:
    """A cost model's verdict from its ratio's bootstrap interval; ``repeats`` is the fewest measured
    runs at any size on either side. With too few, the estimate stays (``--confirm``'s few reruns are
    judged by it) but the verdict is undecided."""
    threshold = options.threshold_for(name)
    verdict = Verdict(name, measure, "undecided", threshold)
    if np.isnan(estimate.ratio):
        whose = "the baseline's or the current run's" + (" or a reference's" if options.relative_to else "")
        return undecided(verdict, "nothing to judge", f"{whose} cost is not clearly above zero")
    verdict.ratio, verdict.low, verdict.high = estimate.ratio, estimate.low, estimate.high
    if repeats < stats.min_repeats(options.alpha):
        needs = f"needs at least {stats.min_repeats(options.alpha)} repeats at each size on each side"
        return undecided(verdict, "few repeats", needs)
    # Significant when the whole bootstrap interval lies on one side of "no change".
    significant = estimate.low > 1 or estimate.high < 1
    return judge(verdict, estimate, significant, repeats, "repeats at each size on each side")


def check_runs(current_dir: Path, baseline_dir: Path, options: Options, confirmation: int = 0) -> CheckResult:
    """Compare every case present in both runs; raise UserError when nothing is comparable.

    ``confirmation``: judge the current run's k-th round of ``--confirm`` reruns instead of its
    runs as planned."""
    meta_b, results_b = load_run(baseline_dir)
    meta_c, results_c = load_run(current_dir)
    differences = environment_differences(meta_b, meta_c)
    if differences and not options.allow_different_env:
        raise UserError(
            "the baseline was measured on another setup (" + "; ".join(differences) + "); "
            "pass --allow-different-env to compare anyway",
            where=str(baseline_dir),
        )
    a = samples(results_b, options.relative_to, str(baseline_dir), column=options.column)
    b = samples(results_c, options.relative_to, str(current_dir), confirmation, options.column)
    # As objects: a setting column that is all NA in one run would make pandas guess types (a FutureWarning).
    varying = varying_settings(pd.concat([a.astype(object), b.astype(object)]))
    a["case"], b["case"] = case_names(a, varying), case_names(b, varying)
    b["key"] = case_ids(b)
    common = sorted(set(a["case"]) & set(b["case"]))
    if not common:
        raise UserError(f"no case in common with the baseline {baseline_dir}", where=str(current_dir))
    verdicts = []
    for name in common:
        case_a, case_b = a[a["case"] == name], b[b["case"] == name]
        verdict = decide_case(name, "time", case_a["value"].to_numpy(), case_b["value"].to_numpy(), options)
        unless_busy(verdict, case_a, case_b, judged_on=options.column)
        verdict.case_keys = sorted(set(case_b["key"]))
        verdicts.append(verdict)
    references = None
    if options.relative_to:
        # The cost models are fitted to seconds, each side's then taken as multiples of its
        # reference's: a ratio to the reference's median at each size is no straight line in size.
        references = tuple(
            raw[raw["strategy"] == options.relative_to]
            for raw in (measured_runs(results_b), measured_runs(results_c, confirmation))
        )
    common_a, common_b = a[a["case"].isin(common)], b[b["case"].isin(common)]
    verdicts += _fit_verdicts(common_a, common_b, varying, options, references)
    return CheckResult(
        current=str(current_dir),
        baseline=str(baseline_dir),
        options=options,
        verdicts=verdicts,
        differences=differences,
        only_in_current=sorted(set(b["case"]) - set(common)),
        only_in_baseline=sorted(set(a["case"]) - set(common)),
    )


def _fit_verdicts(
    a: pd.DataFrame,
    b: pd.DataFrame,
    varying: list[str],
    options: Options,
    references: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> list[Verdict]:
    """Per-row and fixed cost of each case across its sizes, gated apart; with ``references`` (the
    reference strategy's measured runs in the baseline and the current run), as multiples of the
    reference's costs under the same settings."""
    verdicts = []
    group = ["cluster", "strategy", *varying]
    shared = [group[0], *group[2:]]  # what a case shares with its reference: all but the strategy

    def matching(frame: pd.DataFrame, columns: list[str], values: tuple) -> pd.DataFrame:
        for column, value in zip(columns, values, strict=True):
            frame = frame[frame[column] == value]
        return frame

    for key, base in a.groupby(group, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        cur = matching(b, group, parts)
        reference_runs = (
            [matching(r, shared, (parts[0], *parts[2:])) for r in references] if references else []
        )
        if any(frame["size"].nunique() < 2 for frame in (base, cur, *reference_runs)):
            continue
        # The cost model spans the sizes: the case's name without its size.
        name = "/".join(
            [
                str(parts[0]),
                str(parts[1]),
                *(f"{c}={setting_text(v)}" for c, v in zip(varying, parts[2:], strict=True)),
            ]
        )
        keys = sorted(set(cur["key"]))
        fewest = int(min(base["size"].value_counts().min(), cur["size"].value_counts().min()))
        estimates = stats.slope_intercept_ci(
            *((frame["size"].to_numpy(), frame[options.column].to_numpy()) for frame in (base, cur)),
            references=tuple(
                (r["size"].to_numpy(), r[options.column].astype(float).to_numpy()) for r in reference_runs
            )
            or None,
        )
        for measure in ("per_row", "fixed"):
            verdict = decide_fit(f"{name}/{measure}", measure, estimates[measure], options, fewest)
            unless_busy(verdict, base, cur, judged_on=options.column)
            verdict.case_keys = keys
            verdicts.append(verdict)
    return verdicts


LOOKED = {
    "regression": "looked like a regression",
    "improvement": "looked like an improvement",
    "unchanged": "looked unchanged",
}


def unless_busy(
    verdict: Verdict,
    a: pd.DataFrame,
    b: pd.DataFrame,
    sides: tuple[str, str] = ("the baseline", "the current run"),
    judged_on: str = "seconds",
) -> None:
    """A verdict measured while other processes took the machine is not the code's, whichever way it
    went: ``verdict`` becomes undecided, saying why and what it looked like (a cost model's fit spans
    every size's runs, so all of them count). A verdict on CPU time (``judged_on`` cpu_s) stands:
    neighbours take wall time from a run, not the CPU time its own processes spend."""
    if judged_on == "cpu_s":
        return
    busy = busy_note(a, b, sides)
    if not busy:
        return
    looked = LOOKED.get(verdict.status, verdict.note)
    verdict.status, verdict.undecided_because = "undecided", "busy"
    verdict.note = f"{busy} ({looked})" if looked else busy


def after_reruns(first: CheckResult, reruns: CheckResult, count: int) -> CheckResult:
    """``first``'s verdicts, each regression judged again on its ``count`` confirmation reruns alone
    (``reruns``: the check of that round against the same baseline).

    A regression survives when its reruns are a regression too, or could not be judged (too few of
    them, or on a busy machine) and are still slower than the threshold allows (the first runs' rank
    test gave the significance); otherwise it is "unconfirmed", which does not fail the check (reruns
    that are too noisy to tell dismiss it, as reruns that look unchanged do). Reruns with nothing to
    judge (no ratio) leave it standing, saying so. The verdict keeps the first runs' figures; the
    note gives the reruns'.
    """
    again = {(v.case, v.measure): v for v in reruns.verdicts}
    verdicts = []
    for verdict in first.verdicts:
        rerun = again.get((verdict.case, verdict.measure))
        if verdict.status != "regression" or rerun is None:
            verdicts.append(verdict)
            continue
        if rerun.ratio is None:
            # The reruns measured nothing to judge (every one failed, or a cost not above zero): the
            # regression stands, and the note says why it was not confirmed either way.
            survives = True
            note = f"the {count} reruns could not tell ({rerun.status}: {rerun.note or 'no measured runs'})"
        else:
            slower = rerun.ratio > 1 + verdict.threshold
            unjudged = rerun.undecided_because in {"few repeats", "busy"}
            survives = rerun.status == "regression" or (unjudged and slower)
            outcome = "confirmed" if survives else "not confirmed"
            note = f"{outcome} by {count} reruns ({rerun.status}, ratio {rerun.ratio:.3f})"
        verdicts.append(
            replace(
                verdict,
                status="regression" if survives else "unconfirmed",
                note="; ".join(n for n in (verdict.note, note) if n),
            )
        )
    return replace(first, verdicts=verdicts, reruns=count)
