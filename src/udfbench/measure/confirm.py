"""``check --confirm N``: rerun the cases that regressed before failing on them.

A regression seen once may be a noisy machine. The regressed cases are measured again, N repeats after
the configured warmups, from the current run's own config (meta.json) in a fresh session like the
run's, and the rows are added to the current run's results.csv marked as the next round of
confirmation reruns. ``analysis.check.after_reruns`` then judges them. In relative mode the reference
strategy's matching cases are rerun too, so the reruns are divided by a reference measured beside
them. This module only measures (it needs the cluster); the judging stays in ``analysis.check``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from udfbench.errors import UserError
from udfbench.measure.loop import Runner
from udfbench.measure.workload import prepare_workload
from udfbench.plan.cases import Case, SessionPlan, narrow, plan, runs_per_case
from udfbench.plan.config import BenchConfig, unknown_strategies
from udfbench.plan.names import DRIVER_ONLY
from udfbench.rundir.events import Listeners, RunListener
from udfbench.rundir.files import read_meta, read_parity_rows, read_result_rows
from udfbench.rundir.identity import CASE_KEY, planned_case_id
from udfbench.rundir.schema import META_FILE, RunMeta
from udfbench.rundir.writers import ResultsWriter


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


def plan_reruns(run_dir: Path, regressed: set[tuple[str, ...]], reference: str | None, count: int) -> Reruns:
    """The planned cases whose identities (``identity.case_ids``) are ``regressed``, and in relative
    mode (``reference``: the strategy times were divided by) their reference's at the same settings."""
    meta = read_meta(run_dir)
    # The runner sets up every strategy the run names: one removed since the run cannot be rerun.
    if message := unknown_strategies(meta.config.strategies):
        where = f"{run_dir / META_FILE}: config.strategies"
        raise UserError(f"cannot rerun its cases: {message}", where=where)
    config = meta.config.model_copy(update={"repeats": count})
    wanted = set(regressed)
    if reference:
        strategy = CASE_KEY.index("strategy")
        wanted |= {(*key[:strategy], reference, *key[strategy + 1 :]) for key in wanted}
    # A driver-only reference is planned on the first cluster alone: any cluster's regression reruns it.
    cluster = CASE_KEY.index("cluster")

    def elsewhere(key: tuple[str, ...]) -> tuple[str, ...]:
        return key[:cluster] + key[cluster + 1 :]

    anywhere = {elsewhere(key) for key in wanted} if reference in DRIVER_ONLY else set()

    def rerun_it(case: Case) -> bool:
        key = planned_case_id(case, config)
        return key in wanted or (case.strategy == reference and elsewhere(key) in anywhere)

    plans = narrow(plan(config), rerun_it, lambda _: False)
    done = max((row.confirmation for row in read_result_rows(run_dir, meta.run_id)), default=0)
    return Reruns(meta, config, plans, done + 1)


def rerun(run_dir: Path, reruns: Reruns, listener: RunListener, stop: threading.Event) -> None:
    """Measure the reruns into ``run_dir``'s results.csv (its rows kept as they are, then these added).

    meta.json is left alone: it describes the run as planned, and the rows say which are reruns.
    """
    workload, _ = prepare_workload(reruns.config, Path(reruns.meta.config_file), run_dir)
    writer = ResultsWriter(run_dir, read_result_rows(run_dir, reruns.meta.run_id), read_parity_rows(run_dir))
    listeners = Listeners(writer, listener)
    # The runner records session timings in the meta it is given: a copy, never written back.
    meta = reruns.meta.model_copy(deep=True)
    try:
        Runner(reruns.config, workload, run_dir, listeners, stop, confirmation=reruns.round).run(
            meta, reruns.plans
        )
    finally:
        listeners.finished(meta)
