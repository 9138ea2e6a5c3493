"""``udfbench history``: lasting changes across many runs, found in each case's series of medians.

``check`` judges one run against one baseline; history looks at many runs in time order (one per
commit, say) and asks step detection (``step_detect``) where each case's level moved for good, and
where it crept. Cases are named and measured as ``check`` does (measured, successful runs; the same
case names; relative mode divides by a reference strategy measured in the same run), and runs on
another setup are refused as ``check`` refuses them. Each step is judged as ``check`` judges a case
(``check.judge``): a slowdown or a speed-up beyond the threshold, "unchanged" only when the ratio's
interval over the runs of both levels lies within the threshold, else undecided with the reason (too
noisy, or runs on a busy machine). Values only: rendering is in ``report/history.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from udfbench.analysis import stats
from udfbench.analysis.check import Verdict, judge, samples, unless_busy
from udfbench.analysis.comparable import environment_differences
from udfbench.analysis.step_detect import Changes, Step, detect_changes
from udfbench.errors import UserError
from udfbench.rundir.files import read_meta, read_results, stacked
from udfbench.rundir.identity import case_names, varying_settings
from udfbench.rundir.schema import META_FILE, RunMeta

# The z of a two-sided 95% normal interval: turns an interval's width into a noise estimate.
Z95 = 1.96


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path
    started_at: datetime
    git_commit: str | None

    @property
    def label(self) -> str:
        """A short x-axis label: the commit when known, else the run id."""
        return self.git_commit[:7] if self.git_commit else self.run_id


@dataclass(frozen=True)
class Point:
    """One run of one case: the median of its measured runs, with a 95% bootstrap interval.

    A run with one measured value has no interval (``low`` and ``high`` are None).
    """

    median: float
    low: float | None
    high: float | None
    count: int


@dataclass(frozen=True)
class CaseHistory:
    case: str
    points: list[Point | None]  # one per run, None where the case has no measured run
    changes: Changes


@dataclass(frozen=True)
class StepAt:
    case: str
    index: int  # the first run at the new level
    run_id: str
    ratio: float
    direction: str
    verdict: Verdict  # measure "step": its status, the ratio's interval over both levels' runs, the note


@dataclass(frozen=True)
class DriftAt:
    case: str
    start: int  # the first run off the old level
    end: int  # the first run at the new level
    start_run_id: str
    end_run_id: str
    ratio: float
    direction: str
    kind: str


@dataclass(frozen=True)
class History:
    runs: list[Run]
    series: dict[str, CaseHistory]
    steps: list[StepAt]
    drifts: list[DriftAt]
    threshold: float
    relative_to: str | None
    differences: list[str]
    strict: bool = False  # an undecided step fails the history too

    def is_slowdown(self, change: StepAt | DriftAt) -> bool:
        """A step judged a regression; a drift whose ratio is beyond the threshold."""
        if isinstance(change, StepAt):
            return change.verdict.status == "regression"
        return change.ratio > 1 + self.threshold

    @property
    def slowdowns(self) -> list[StepAt | DriftAt]:
        return [c for c in [*self.steps, *self.drifts] if self.is_slowdown(c)]

    @property
    def undecided(self) -> list[StepAt]:
        return [s for s in self.steps if s.verdict.status == "undecided"]

    def exit_status(self) -> int:
        """1 on a slowdown (with ``strict``, on an undecided step too), else 0."""
        return 1 if self.slowdowns or (self.strict and self.undecided) else 0


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (they hold meta.json) as given, or the run folders inside a folder of runs."""
    found: list[Path] = []
    for path in paths:
        if (path / META_FILE).is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise UserError("folder not found", where=str(path))
        inside = sorted(child for child in path.iterdir() if (child / META_FILE).is_file())
        if not inside:
            raise UserError("not a run folder (no meta.json) nor a folder of run folders", where=str(path))
        found += inside
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if len(unique) < 2:
        raise UserError("a history needs at least two runs", where=str(paths[0]))
    return unique


def _started(meta: RunMeta, run_dir: Path) -> datetime:
    try:
        moment = datetime.fromisoformat(meta.started_at)
    except ValueError:
        raise UserError(
            f"not an ISO 8601 time: {meta.started_at!r}", where=f"{run_dir / META_FILE}: started_at"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _point(values: pd.Series) -> Point:
    data = values.to_numpy(dtype=float)
    if data.size == 1:
        return Point(float(data[0]), None, None, 1)
    # Against a reference of one value (which does not vary) the ratio's bootstrap interval is the
    # interval of the median itself.
    estimate = stats.ratio_ci([1.0], data)
    return Point(estimate.ratio, estimate.low, estimate.high, int(data.size))


def _noise(point: Point | None) -> float | None:
    """A run's relative noise (standard deviation of the log) read from its 95% interval."""
    if point is None or point.low is None or point.high is None or point.low <= 0:
        return None
    return math.log(point.high / point.low) / (2 * Z95)


def _judged_step(
    case: str, step: Step, points: list[Point | None], rows: pd.DataFrame, threshold: float, column: str
) -> Verdict:
    """A step judged on the medians of the runs at its two levels (found by step detection, so a
    change; its ratio the fitted levels'), unless a run at either level was on a busy machine."""
    before = [p.median for p in points[step.since : step.index] if p]
    after = [p.median for p in points[step.index : step.until] if p]
    estimate = replace(stats.ratio_ci(before, after), ratio=step.ratio)
    verdict = Verdict(case, "step", "undecided", threshold, n_baseline=len(before), n_current=len(after))
    judge(verdict, estimate, True, min(len(before), len(after)), "runs at each level")
    at = rows["run_index"]
    unless_busy(
        verdict,
        rows[(at >= step.since) & (at < step.index)],
        rows[(at >= step.index) & (at < step.until)],
        ("the runs before the step", "the runs after the step"),
        judged_on=column,
    )
    return verdict


def history(
    run_dirs: list[Path],
    threshold: float,
    relative_to: str | None = None,
    allow_different_env: bool = False,
    strict: bool = False,
    metric: str = "median",
) -> History:
    """Every case's series of medians over the runs (oldest first) and the steps and drifts in it.

    ``run_dirs`` are run folders or folders of run folders. A slowdown is a step judged a regression
    (its ratio above ``1 + threshold``, on quiet runs) or a drift whose ratio is above it; ``strict``
    makes an undecided step fail too; ``metric`` "cpu" follows the CPU seconds of the runs' own
    processes (cpu_s) instead of their wall seconds. Raises UserError for a folder that holds no
    run, for runs on setups that differ from the oldest run's (unless ``allow_different_env``), and
    when no case is measured.
    """
    found = sorted(
        ((read_meta(path), path) for path in find_runs(run_dirs)),
        key=lambda item: (_started(*item), item[0].run_id),
    )
    runs = [Run(meta.run_id, path, _started(meta, path), meta.git_commit) for meta, path in found]
    oldest = found[0][0]
    differences = [
        f"{meta.run_id} against {oldest.run_id}: {d}"
        for meta, _ in found[1:]
        for d in environment_differences(oldest, meta)
    ]
    if differences and not allow_different_env:
        raise UserError(
            "the runs were measured on different setups (" + "; ".join(differences) + "); "
            "pass --allow-different-env to compare them anyway",
            where=str(runs[0].path),
        )

    column = "cpu_s" if metric == "cpu" else "seconds"
    frame = stacked(
        [
            samples(read_results(run.path, run.run_id), relative_to, str(run.path), column=column).assign(
                run_index=index
            )
            for index, run in enumerate(runs)
        ]
    )
    if frame.empty:
        raise UserError("no successful measured runs in any of these runs", where=str(runs[0].path))
    frame["case"] = case_names(frame, varying_settings(frame))

    series: dict[str, CaseHistory] = {}
    steps: list[StepAt] = []
    drifts: list[DriftAt] = []
    for case, rows in frame.groupby("case", sort=True):
        by_run = {int(i): _point(group["value"]) for i, group in rows.groupby("run_index")}
        points = [by_run.get(i) for i in range(len(runs))]
        changes = detect_changes([p.median if p else None for p in points], noise=[_noise(p) for p in points])
        series[str(case)] = CaseHistory(str(case), points, changes)
        steps += [
            StepAt(
                str(case),
                s.index,
                runs[s.index].run_id,
                s.ratio,
                s.direction,
                _judged_step(str(case), s, points, rows, threshold, column),
            )
            for s in changes.steps
        ]
        drifts += [
            DriftAt(
                str(case),
                d.start,
                d.end,
                runs[d.start].run_id,
                runs[d.end].run_id,
                d.ratio,
                d.direction,
                d.kind,
            )
            for d in changes.drifts
        ]
    return History(runs, series, steps, drifts, threshold, relative_to, differences, strict)


def default_out_dir(found: History) -> Path:
    """A new folder next to the newest run: ``history-<UTC time>``."""
    return found.runs[-1].path.parent / f"history-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
