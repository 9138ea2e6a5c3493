"""``udfbench check``: a regression gate on timings that does not cry wolf.

A case regresses only when its change is larger than the threshold *and* statistically significant
given the repeats (two-sided Mann-Whitney U at ``alpha`` on the runs left after setting aside slow
outliers beyond Tukey's fence; the bootstrap interval of the ratio is shown beside it). Cases with
too few repeats to ever reach significance are "undecided", never "fine".
Relative mode divides each run's times by a reference strategy measured in the same run, so a slower
or faster CI machine does not read as a change in the code. The straight-line cost model is gated
too: per-row cost and fixed cost apart.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from udfbench import stats
from udfbench.environment import PACKAGES
from udfbench.errors import UserError
from udfbench.results import (
    BUSY_FOREIGN_CPU_PCT,
    CASE_KEY,
    RunMeta,
    case_ids,
    case_names,
    load_run,
    measured_runs,
    setting_text,
    varying_settings,
)

# "unconfirmed": a regression that ``--confirm`` reruns did not reproduce (not a failure).
Status = Literal["regression", "improvement", "unchanged", "undecided", "unconfirmed"]
# Versions that change what is measured (everything but udfbench itself, the code under test):
# a baseline with other ones is not comparable.
COMPARED_VERSIONS = ("python", *(p for p in PACKAGES if p != "udfbench"), "java")


def parse_threshold(text: str, where: str) -> float:
    """``10%`` or ``0.1`` -> 0.1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", text)
    if not match:
        raise UserError(f"expected a threshold like 10% or 0.1, got {text!r}", where=where)
    value = float(match.group(1)) / (100 if match.group(2) else 1)
    if value <= 0:
        raise UserError("a threshold must be above zero", where=where)
    return value


def parse_rules(rules: list[str]) -> list[tuple[str, float]]:
    parsed = []
    for rule in rules:
        pattern, sep, threshold = rule.rpartition("=")
        if not sep or not pattern:
            raise UserError(f"expected PATTERN=THRESHOLD, got {rule!r}", where="--rule")
        parsed.append((pattern, parse_threshold(threshold, f"--rule {rule}")))
    return parsed


@dataclass(frozen=True)
class Options:
    threshold: float = 0.10
    metric: Literal["median", "mean", "min"] = "median"
    rules: list[tuple[str, float]] = field(default_factory=list)
    relative_to: str | None = None
    alpha: float = 0.05
    allow_different_env: bool = False

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
    # The identities (``results.case_ids``) of the current run's cases judged: one for a time, every
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

    def exit_status(self) -> int:
        return 1 if self.regressions else 0


def _work_differences(baseline: RunMeta, current: RunMeta) -> list[str]:
    """What defines the work itself: the model, the seed images, the input mode and the draw of rows.

    A digest missing on one side (a run folder from before it was recorded) cannot be compared and
    is not reported. The sizes are not compared: a size's rows depend only on the seed and the size,
    and sizes in one run only are listed as cases not compared.
    """
    found = []
    models = (baseline.model, current.model)
    if all(m.get("digest") for m in models) and models[0]["digest"] != models[1]["digest"]:
        a, b = (f"{m.get('name')} (digest {m['digest']})" for m in models)
        found.append(f"model: {a} in the baseline, {b} now")
    seeds = (baseline.seed_images, current.seed_images)
    if all(s.get("digest") for s in seeds) and seeds[0]["digest"] != seeds[1]["digest"]:
        a, b = (f"{s.get('count')} images (digest {s['digest']})" for s in seeds)
        found.append(f"seed images: {a} in the baseline, {b} now")
    for field_name in ("input_mode", "seed", "on_bad_image"):
        a, b = getattr(baseline.config.dataset, field_name), getattr(current.config.dataset, field_name)
        if a != b:
            found.append(f"dataset.{field_name}: {a} in the baseline, {b} now")
    return found


def environment_differences(baseline: RunMeta, current: RunMeta) -> list[str]:
    """The work (model, seed images, input mode, draw), versions and cluster settings that differ:
    such runs measure different things."""
    found = _work_differences(baseline, current)
    for name in COMPARED_VERSIONS:
        a, b = baseline.versions.get(name), current.versions.get(name)
        if a != b:
            found.append(f"{name}: {a or 'absent'} in the baseline, {b or 'absent'} now")
    for key in ("clusters", "spark"):
        a, b = getattr(baseline.config, key), getattr(current.config, key)
        if a != b:
            dump = {"clusters": lambda c: [x.model_dump(mode="json") for x in c or []]}.get(
                key, lambda c: c.model_dump(mode="json")
            )
            found.append(
                f"cluster configuration ({key}) differs: {json.dumps(dump(a))} in the baseline, "
                f"{json.dumps(dump(b))} now"
            )
    return found


def samples(
    results: pd.DataFrame, relative_to: str | None, where: str, confirmation: int = 0
) -> pd.DataFrame:
    """Measured, successful runs (of the run as planned, or of a round of confirmation reruns); in
    relative mode, seconds divided by the reference's median in the same runs.

    ``foreign`` is the CPU share other processes took while the run was on; in relative mode the
    larger of the run's and the reference's median, since a busy reference skews every ratio.
    """
    measured = measured_runs(results, confirmation).copy()
    measured["value"] = measured["seconds"]
    measured["foreign"] = measured["foreign_cpu_pct"].astype(float).fillna(0.0)
    if relative_to is None:
        return measured
    key = case_ids(measured, [c for c in CASE_KEY if c != "strategy"])
    is_ref = measured["strategy"] == relative_to
    if not is_ref.any():
        raise UserError(f"no measured runs of the reference strategy {relative_to!r}", where=where)
    reference = measured[is_ref].groupby(key[is_ref])
    measured["value"] = measured["value"] / key.map(reference["value"].median())
    measured["foreign"] = np.maximum(measured["foreign"], key.map(reference["foreign"].median()).fillna(0.0))
    return measured[~is_ref & measured["value"].notna()]


def busy_note(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """Why a case's change cannot be read as the code's, when other processes took the machine."""
    sides = [
        (side, float(frame["foreign"].median())) for side, frame in (("baseline", a), ("current run", b))
    ]
    busy = [f"{pct:.0f}% in the {side}" for side, pct in sides if pct > BUSY_FOREIGN_CPU_PCT]
    if not busy:
        return ""
    return (
        f"measured on a busy machine (other processes took {' and '.join(busy)} of the CPU, "
        f"median; over {BUSY_FOREIGN_CPU_PCT:.0f}% is busy): rerun on a quiet machine"
    )


def decide_case(name: str, measure: str, a: np.ndarray, b: np.ndarray, options: Options) -> Verdict:
    threshold = options.threshold_for(name)
    verdict = Verdict(name, measure, "undecided", threshold, n_baseline=len(a), n_current=len(b))
    if len(a) == 0 or len(b) == 0:
        verdict.note = "no successful measured runs on one side"
        return verdict
    estimate = stats.ratio_ci(a, b, statistic=options.metric)
    verdict.ratio, verdict.low, verdict.high = estimate.ratio, estimate.low, estimate.high
    reduce = {"median": np.median, "mean": np.mean, "min": np.min}[options.metric]
    verdict.baseline, verdict.current = float(reduce(a)), float(reduce(b))
    kept_a, kept_b = stats.without_slow_outliers(a), stats.without_slow_outliers(b)
    set_aside = len(a) + len(b) - len(kept_a) - len(kept_b)
    if set_aside:
        verdict.note = f"{set_aside} slow outlier(s) left out of the rank test"
    if stats.smallest_p_value(len(kept_a), len(kept_b)) >= options.alpha:
        needs = f"needs at least {stats.min_repeats(options.alpha)} repeats on each side"
        verdict.note = f"{needs} ({verdict.note})" if set_aside else needs
        return verdict
    verdict.p_value = stats.mann_whitney_p(kept_a, kept_b)
    significant = verdict.p_value < options.alpha
    if significant and estimate.ratio > 1 + threshold:
        verdict.status = "regression"
    elif significant and estimate.ratio < 1 / (1 + threshold):
        verdict.status = "improvement"
    else:
        verdict.status = "unchanged"
    return verdict


def decide_fit(name: str, measure: str, estimate: stats.RatioEstimate, options: Options) -> Verdict:
    threshold = options.threshold_for(name)
    verdict = Verdict(name, measure, "undecided", threshold)
    if np.isnan(estimate.ratio):
        whose = "the baseline's cost" + (" or the reference's" if options.relative_to else "")
        verdict.note = f"{whose} is not clearly above zero"
        return verdict
    verdict.ratio, verdict.low, verdict.high = estimate.ratio, estimate.low, estimate.high
    # Significant when the whole bootstrap interval lies on one side of "no change".
    if estimate.low > 1 and estimate.ratio > 1 + threshold:
        verdict.status = "regression"
    elif estimate.high < 1 and estimate.ratio < 1 / (1 + threshold):
        verdict.status = "improvement"
    else:
        verdict.status = "unchanged"
    return verdict


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
    a = samples(results_b, options.relative_to, str(baseline_dir))
    b = samples(results_c, options.relative_to, str(current_dir), confirmation)
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
        _unless_busy(verdict, case_a, case_b)
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
        fewest = min(base["size"].value_counts().min(), cur["size"].value_counts().min())
        estimates = stats.slope_intercept_ci(
            *((frame["size"].to_numpy(), frame["seconds"].to_numpy()) for frame in (base, cur)),
            references=tuple((r["size"].to_numpy(), r["seconds"].to_numpy()) for r in reference_runs) or None,
        )
        for measure in ("per_row", "fixed"):
            verdict = decide_fit(f"{name}/{measure}", measure, estimates[measure], options)
            if fewest < stats.min_repeats(options.alpha) and not np.isnan(estimates[measure].ratio):
                # The estimate stays (--confirm's few reruns are judged by it); a verdict needs more runs.
                verdict.status = "undecided"
                verdict.note = (
                    f"needs at least {stats.min_repeats(options.alpha)} repeats at each size on each side"
                )
            _unless_busy(verdict, base, cur)
            verdict.case_keys = keys
            verdicts.append(verdict)
    return verdicts


def _unless_busy(verdict: Verdict, a: pd.DataFrame, b: pd.DataFrame) -> None:
    """A change measured while other processes took the machine is not the code's: ``verdict``
    becomes undecided, saying why (a cost model's fit spans every size's runs, so all of them count)."""
    busy = busy_note(a, b)
    if busy and verdict.status in {"regression", "improvement"}:
        verdict.status, verdict.note = "undecided", f"{busy} (looked like an {verdict.status})"


def after_reruns(first: CheckResult, reruns: CheckResult, count: int) -> CheckResult:
    """``first``'s verdicts, each regression judged again on its ``count`` confirmation reruns alone
    (``reruns``: the check of that round against the same baseline).

    A regression survives when its reruns are a regression too, or are too few to decide and still
    slower than the threshold allows (the first runs' rank test gave the significance); otherwise it
    is "unconfirmed", which does not fail the check. Reruns with nothing to judge (no ratio) leave it
    standing, saying so. The verdict keeps the first runs' figures; the note gives the reruns'.
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
            survives = rerun.status == "regression" or (rerun.status == "undecided" and slower)
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
