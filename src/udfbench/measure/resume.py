"""``run --resume``: what an interrupted run folder holds, and what is left to measure.

A case's measured runs must come from one warm session, so a case counts as finished only when it
holds every warmup and repeat the config asks for; the rows of any other case are dropped and the case
runs whole again. A case that ended failed, parity-failed or unsupported is finished too, and kept as
it is: a failure is a result, and resuming finishes a run, it does not retry it (start a new run for
that). The folder must have been started with the same config, or its cases would mix two benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from udfbench.errors import UserError
from udfbench.plan.cases import SessionPlan, narrow, plan
from udfbench.plan.config import BenchConfig
from udfbench.rundir.files import read_meta, read_parity_rows, read_result_rows, rows_frame
from udfbench.rundir.identity import case_ids, planned_case_id
from udfbench.rundir.schema import ParityRow, RunMeta


@dataclass(frozen=True)
class Resumption:
    """An interrupted run taken up again: its meta, the rows it keeps, the cases left to run."""

    meta: RunMeta
    results: list[Any]  # ResultRow: every row of the finished cases, unchanged
    parity: list[ParityRow]
    plans: list[SessionPlan]  # the config's plan narrowed to the cases not finished

    @property
    def cases_left(self) -> int:
        return sum(len(session.cases) for session in self.plans)


def config_differences(started: BenchConfig, given: BenchConfig) -> list[str]:
    """The dotted names of the fields whose values differ between two parsed configs."""
    return sorted(_differences(started.model_dump(mode="json"), given.model_dump(mode="json"), ""))


def _differences(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            found
            for key in a.keys() | b.keys()
            for found in _differences(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        ]
    return [] if a == b else [where]


def finished_cases(
    results: pd.DataFrame, warmup: int, repeats: int | Literal["auto"]
) -> set[tuple[str, ...]]:
    """Cases (as ``case_ids``) that need nothing more: every planned warmup and repeat ran ok (with
    ``repeats: auto``, a run said why the case stopped repeating), or the case ended with another
    status."""
    if results.empty:
        return set()
    ids = case_ids(results)
    ended = set(ids[results["status"] != "ok"])
    ok = results["status"] == "ok"
    warmups = results.loc[ok, "warmup"].astype(bool).groupby(ids[ok]).agg(["sum", "count"])
    if repeats == "auto":
        stopped = results.loc[ok, "stopped_because"].fillna("").ne("").groupby(ids[ok]).any()
        complete = warmups[(warmups["sum"] == warmup) & stopped]
    else:
        complete = warmups[(warmups["sum"] == warmup) & (warmups["count"] - warmups["sum"] == repeats)]
    return ended | set(complete.index)


def resumption(run_dir: Path, config: BenchConfig) -> Resumption:
    """What resuming ``run_dir`` with ``config`` keeps and runs; a UserError naming the differing
    fields when the folder was started with another config."""
    meta = read_meta(run_dir)
    differences = config_differences(meta.config, config)
    if differences:
        raise UserError(
            f"the config differs from the one this run was started with in {', '.join(differences)}; "
            "resume with that config, or start a new run",
            where=str(run_dir),
        )
    rows = read_result_rows(run_dir, meta.run_id)
    frame = rows_frame(rows)
    done = finished_cases(frame, config.warmup, config.repeats)
    kept = [row for row, key in zip(rows, case_ids(frame), strict=True) if key in done]
    parity = read_parity_rows(run_dir)
    checked = {(p.cluster, p.strategy, p.size) for p in parity}

    def owes_parity(session: SessionPlan) -> bool:
        first = session.cases[0]
        return (first.cluster.name, first.strategy, first.size) not in checked

    plans = narrow(plan(config), lambda case: planned_case_id(case, config) not in done, owes_parity)
    return Resumption(meta, kept, parity, plans)
