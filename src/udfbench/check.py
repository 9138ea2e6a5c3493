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
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from udfbench import stats
from udfbench.environment import PACKAGES
from udfbench.errors import UserError
from udfbench.results import CASE_KEY, RunMeta, read_meta, read_results

Status = Literal["regression", "improvement", "unchanged", "undecided"]
# Versions that change what is measured (everything but udfbench itself, the code under test):
# a baseline with other ones is not comparable.
COMPARED_VERSIONS = ("python", *(p for p in PACKAGES if p != "udfbench"), "java")
SETTINGS = [c for c in CASE_KEY if c not in {"cluster", "strategy", "size"}]


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


@dataclass
class CheckResult:
    current: str
    baseline: str
    options: Options
    verdicts: list[Verdict]
    differences: list[str]
    only_in_current: list[str]
    only_in_baseline: list[str]

    @property
    def regressions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == "regression"]

    def exit_status(self) -> int:
        return 1 if self.regressions else 0


def environment_differences(baseline: RunMeta, current: RunMeta) -> list[str]:
    """Versions and cluster settings that differ: such runs measure different things."""
    found = []
    for name in COMPARED_VERSIONS:
        a, b = baseline.versions.get(name), current.versions.get(name)
        if a != b:
            found.append(f"{name}: {a or 'absent'} in the baseline, {b or 'absent'} now")
    for key in ("clusters", "spark"):
        a, b = baseline.config.get(key), current.config.get(key)
        if a != b:
            found.append(
                f"cluster configuration ({key}) differs: {json.dumps(a)} in the baseline, {json.dumps(b)} now"
            )
    return found


def _case_names(frame: pd.DataFrame, varying: list[str]) -> pd.Series:
    """``cluster/strategy/n=size`` plus any setting that varies between cases, e.g. ``/batch_size=2``."""
    names = (
        frame["cluster"].astype(str) + "/" + frame["strategy"].astype(str) + "/n=" + frame["size"].astype(str)
    )
    for column in varying:
        names = names + f"/{column}=" + frame[column].astype(str)
    return names


def _samples(results: pd.DataFrame, relative_to: str | None, where: str) -> pd.DataFrame:
    """Measured, successful runs; in relative mode, seconds divided by the reference's median."""
    measured = results[(results["status"] == "ok") & ~results["warmup"].astype(bool)].copy()
    measured["value"] = measured["seconds"].astype(float)
    if relative_to is None:
        return measured
    others = [c for c in CASE_KEY if c != "strategy"]
    key = measured[others].astype(str).agg("|".join, axis=1)
    is_ref = measured["strategy"] == relative_to
    if not is_ref.any():
        raise UserError(f"no measured runs of the reference strategy {relative_to!r}", where=where)
    ref_median = measured[is_ref].groupby(key[is_ref])["value"].median()
    measured["value"] = measured["value"] / key.map(ref_median)
    return measured[~is_ref & measured["value"].notna()]


def _decide(name: str, measure: str, a: np.ndarray, b: np.ndarray, options: Options) -> Verdict:
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


def _decide_fit(name: str, measure: str, estimate: stats.RatioEstimate, options: Options) -> Verdict:
    threshold = options.threshold_for(name)
    verdict = Verdict(name, measure, "undecided", threshold)
    if np.isnan(estimate.ratio):
        verdict.note = "the baseline's cost is not clearly above zero"
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


def _load(run_dir: Path) -> tuple[RunMeta, pd.DataFrame]:
    if not run_dir.is_dir():
        raise UserError("run folder not found", where=str(run_dir))
    return read_meta(run_dir), read_results(run_dir)


def check_runs(current_dir: Path, baseline_dir: Path, options: Options) -> CheckResult:
    """Compare every case present in both runs; raise UserError when nothing is comparable."""
    meta_b, results_b = _load(baseline_dir)
    meta_c, results_c = _load(current_dir)
    differences = environment_differences(meta_b, meta_c)
    if differences and not options.allow_different_env:
        raise UserError(
            "the baseline was measured on another setup (" + "; ".join(differences) + "); "
            "pass --allow-different-env to compare anyway",
            where=str(baseline_dir),
        )
    a = _samples(results_b, options.relative_to, str(baseline_dir))
    b = _samples(results_c, options.relative_to, str(current_dir))
    both = pd.concat([a, b])
    varying = [c for c in SETTINGS if both[c].astype(str).nunique() > 1]
    a["case"], b["case"] = _case_names(a, varying), _case_names(b, varying)
    common = sorted(set(a["case"]) & set(b["case"]))
    if not common:
        raise UserError(f"no case in common with the baseline {baseline_dir}", where=str(current_dir))
    verdicts = [
        _decide(
            name,
            "time",
            a.loc[a["case"] == name, "value"].to_numpy(),
            b.loc[b["case"] == name, "value"].to_numpy(),
            options,
        )
        for name in common
    ]
    verdicts += _fit_verdicts(a[a["case"].isin(common)], b[b["case"].isin(common)], varying, options)
    return CheckResult(
        current=str(current_dir),
        baseline=str(baseline_dir),
        options=options,
        verdicts=verdicts,
        differences=differences,
        only_in_current=sorted(set(b["case"]) - set(common)),
        only_in_baseline=sorted(set(a["case"]) - set(common)),
    )


def _fit_verdicts(a: pd.DataFrame, b: pd.DataFrame, varying: list[str], options: Options) -> list[Verdict]:
    """Per-row and fixed cost of each case across its sizes, gated apart."""
    verdicts = []
    group = ["cluster", "strategy", *varying]
    for key, base in a.groupby(group, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        cur = b
        for column, value in zip(group, parts, strict=True):
            cur = cur[cur[column] == value]
        if base["size"].nunique() < 2 or cur["size"].nunique() < 2:
            continue
        name = "/".join(
            [str(parts[0]), str(parts[1]), *(f"{c}={v}" for c, v in zip(varying, parts[2:], strict=True))]
        )
        fewest = min(base["size"].value_counts().min(), cur["size"].value_counts().min())
        if fewest < stats.min_repeats(options.alpha):
            note = f"needs at least {stats.min_repeats(options.alpha)} repeats at each size on each side"
            verdicts += [
                Verdict(f"{name}/{m}", m, "undecided", options.threshold_for(f"{name}/{m}"), note=note)
                for m in ("per_row", "fixed")
            ]
            continue
        estimates = stats.slope_intercept_ci(
            (base["size"].to_numpy(), base["value"].to_numpy()),
            (cur["size"].to_numpy(), cur["value"].to_numpy()),
        )
        verdicts += [
            _decide_fit(f"{name}/{measure}", measure, estimates[measure], options)
            for measure in ("per_row", "fixed")
        ]
    return verdicts


# -- output ------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def _row(v: Verdict) -> list[str]:
    interval = f"[{_fmt(v.low)}, {_fmt(v.high)}]" if v.low is not None else "–"
    return [
        v.case,
        v.measure,
        _fmt(v.ratio),
        interval,
        _fmt(v.p_value, ".3g"),
        f"{v.threshold:.0%}",
        v.status,
        v.note,
    ]


HEADERS = ["case", "measure", "ratio now/baseline", "95% interval", "p", "threshold", "verdict", "note"]


def headline(result: CheckResult) -> str:
    counts = {
        s: sum(v.status == s for v in result.verdicts)
        for s in ("regression", "improvement", "unchanged", "undecided")
    }
    o = result.options
    mode = f"relative to {o.relative_to}" if o.relative_to else "absolute seconds"
    return (
        f"{counts['regression']} regression(s), {counts['improvement']} improvement(s), "
        f"{counts['unchanged']} unchanged, {counts['undecided']} undecided "
        f"({o.metric}, {mode}, alpha {o.alpha})"
    )


def print_table(result: CheckResult) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=180)
    table = Table(title=f"udfbench check: {result.current} against {result.baseline}")
    for header in HEADERS:
        table.add_column(header)
    styles = {"regression": "bold red", "improvement": "green", "undecided": "yellow"}
    for verdict in result.verdicts:
        table.add_row(*_row(verdict), style=styles.get(verdict.status))
    console.print(table)
    for line in _notes(result):
        console.print(line, markup=False, highlight=False)
    console.print(headline(result), markup=False, highlight=False)


def _notes(result: CheckResult) -> list[str]:
    notes = [f"allowed difference: {d}" for d in result.differences]
    if result.only_in_current:
        notes.append("only in the current run (not compared): " + ", ".join(result.only_in_current))
    if result.only_in_baseline:
        notes.append("only in the baseline (not compared): " + ", ".join(result.only_in_baseline))
    return notes


def to_markdown(result: CheckResult) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    icon = {"regression": "❌", "improvement": "✅", "unchanged": "➖", "undecided": "⚠️"}
    lines = [
        "## udfbench check",
        "",
        f"**{headline(result)}**",
        "",
        f"Current `{cell(result.current)}` against baseline `{cell(result.baseline)}`.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    for verdict in result.verdicts:
        row = _row(verdict)
        row[6] = f"{icon[verdict.status]} {row[6]}"
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    lines += ["", *(f"- {cell(n)}" for n in _notes(result))]
    return "\n".join(lines).rstrip() + "\n"


def to_json(result: CheckResult) -> str:
    return json.dumps(
        {
            "current": result.current,
            "baseline": result.baseline,
            "options": asdict(result.options),
            "summary": headline(result),
            "exit_status": result.exit_status(),
            "differences": result.differences,
            "only_in_current": result.only_in_current,
            "only_in_baseline": result.only_in_baseline,
            "cases": [asdict(v) for v in result.verdicts],
        },
        indent=2,
        default=lambda x: None if isinstance(x, float) and np.isnan(x) else x,
    )


def to_junit(result: CheckResult) -> str:
    suite = ElementTree.Element(
        "testsuite",
        name="udfbench check",
        tests=str(len(result.verdicts)),
        failures=str(len(result.regressions)),
        skipped=str(sum(v.status == "undecided" for v in result.verdicts)),
    )
    for verdict in result.verdicts:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"udfbench.{verdict.measure}", name=verdict.case
        )
        message = " ".join(c for c in _row(verdict)[2:] if c)
        if verdict.status == "regression":
            ElementTree.SubElement(case, "failure", message=message)
        elif verdict.status == "undecided":
            ElementTree.SubElement(case, "skipped", message=verdict.note)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)


def write_outputs(result: CheckResult, out_dir: Path) -> dict[str, Path]:
    """check.md, check.json and check.xml (JUnit) in ``out_dir``; the Markdown also goes to the CI job
    summary when ``GITHUB_STEP_SUMMARY`` names one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "check.md", "json": out_dir / "check.json", "junit": out_dir / "check.xml"}
    paths["markdown"].write_text(to_markdown(result), encoding="utf-8")
    paths["json"].write_text(to_json(result), encoding="utf-8")
    paths["junit"].write_text(to_junit(result), encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as file:
            file.write(to_markdown(result))
    return paths
