"""``check --confirm N``: rerun the cases that regressed before failing on them.

A regression seen once may be a noisy machine. The regressed cases are measured again, N repeats after
the configured warmups, from the current run's own config (meta.json) in a fresh session like the
run's, and the rows are added to the current run's results.csv marked as the next round of
confirmation reruns. ``check.after_reruns`` then judges them. In relative mode the reference
strategy's matching cases are rerun too, so the reruns are divided by a reference measured beside
them. This module only orchestrates (it needs the cluster); the judging stays in ``check``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from udfbench.check import CheckResult
from udfbench.config import BenchConfig, unknown_strategies
from udfbench.errors import UserError
from udfbench.events import Listeners, RunListener
from udfbench.planning import SessionPlan, narrow, plan, runs_per_case
from udfbench.results import (
    CASE_KEY,
    META_FILE,
    ResultsWriter,
    RunMeta,
    planned_case_id,
    read_meta,
    read_parity_rows,
    read_result_rows,
)
from udfbench.runner import Runner
from udfbench.workload import prepare_workload


@dataclass(frozen=True)
class Reruns:
    """What confirming a check reruns: the config (repeats = N), the narrowed plan, which round."""

    meta: RunMeta
    config: BenchConfig
    plans: list[SessionPlan]
    round: int

    @property
    def total_runs(self) -> int:
        return sum(len(session.cases) for session in self.plans) * runs_per_case(self.config)


def plan_reruns(run_dir: Path, result: CheckResult, count: int) -> Reruns:
    """The planned cases behind ``result``'s regressions (and, in relative mode, their reference's)."""
    meta = read_meta(run_dir)
    # The runner sets up every strategy the run names: one removed since the run cannot be rerun.
    if message := unknown_strategies(meta.config.strategies):
        where = f"{run_dir / META_FILE}: config.strategies"
        raise UserError(f"cannot rerun its cases: {message}", where=where)
    config = meta.config.model_copy(update={"repeats": count})
    wanted = {key for verdict in result.regressions for key in verdict.case_keys}
    reference = result.options.relative_to
    if reference:
        strategy = CASE_KEY.index("strategy")
        wanted |= {(*key[:strategy], reference, *key[strategy + 1 :]) for key in wanted}
    plans = narrow(plan(config), lambda case: planned_case_id(case, config) in wanted, lambda _: False)
    done = max((row.confirmation for row in read_result_rows(run_dir)), default=0)
    return Reruns(meta, config, plans, done + 1)


def rerun(run_dir: Path, reruns: Reruns, listener: RunListener, stop: threading.Event) -> None:
    """Measure the reruns into ``run_dir``'s results.csv (its rows kept as they are, then these added).

    meta.json is left alone: it describes the run as planned, and the rows say which are reruns.
    """
    workload, _ = prepare_workload(reruns.config, Path(reruns.meta.config_file), run_dir)
    writer = ResultsWriter(run_dir, read_result_rows(run_dir), read_parity_rows(run_dir))
    listeners = Listeners(writer, listener)
    # The runner records session timings in the meta it is given: a copy, never written back.
    meta = reruns.meta.model_copy(deep=True)
    try:
        Runner(reruns.config, workload, run_dir, listeners, stop, confirmation=reruns.round).run(
            meta, reruns.plans
        )
    finally:
        listeners.finished(meta)
