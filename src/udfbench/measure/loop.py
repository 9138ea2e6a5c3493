"""The measuring loop: for each planned session and case, warmups then repeats, each verified.

Every timed run makes the model see every row (the ``noop`` sink, never ``count()`` or ``show()``)
and is checked against the reference before it is reported: a run is only ever a listener event,
so what happens to it (the results files, the progress bar) is not the loop's business. Stopping is
a flag the loop checks after every timed run.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench.errors import CaseFailed, short_error
from udfbench.measure import facts, sinks
from udfbench.measure.instruments import executor_cores
from udfbench.measure.strategies import get_strategy
from udfbench.measure.strategies.base import EngineStrategy, LocalStrategy, SparkStrategy, Strategy
from udfbench.measure.workload import Workload
from udfbench.model import reference as verification
from udfbench.model.predictor import LocalTally, Predictor, Tally, forget_models, tally_width
from udfbench.model.reference import ParityFailed
from udfbench.model.runtimes import get_runtime
from udfbench.plan.cases import Case, SessionPlan, plan
from udfbench.plan.config import BenchConfig
from udfbench.plan.repeats import stop_reason
from udfbench.rundir.events import RunListener
from udfbench.rundir.schema import ParityRow, ResultRow, RunMeta
from udfbench.spark.cluster import (
    default_parallelism,
    open_cluster,
    session_conf,
    session_settings,
    spark_session,
)
from udfbench.spark.connect import probe_workers, ship_model


@dataclass
class Session:
    """What the cases of one Spark session share: the session, the model broadcast, cached inputs."""

    spark: Any
    model_data: Any
    inputs: dict[tuple[int, int | None], Any] = field(default_factory=dict)
    # Why no case can run in this session (a Connect server's workers lack a module), or None.
    unusable: str | None = None


def slots(strategy: Strategy, case: Case, cores: int) -> int:
    """Tasks that can run at once: min(cores / task_cpus, partitions); 1 for a driver loop."""
    if not strategy.uses_spark:
        return 1
    return max(1, min(cores // case.axes.task_cpus, case.axes.partitions or cores))


def case_slug(case: Case) -> str:
    """A file-name-safe name that tells cases apart."""
    settings = "-".join(f"{k}{v}" for k, v in case.axes.model_dump().items() if v is not None)
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{case.cluster.name}-{case.strategy}-n{case.size}-{settings}")


class Runner:
    """Runs planned cases and reports each timed run to ``listener``; see the module docstring."""

    def __init__(
        self,
        config: BenchConfig,
        workload: Workload,
        run_dir: Path,
        listener: RunListener,
        stop: threading.Event | None = None,
        confirmation: int = 0,
        before_session: Callable[[int, str], None] | None = None,
    ) -> None:
        """``confirmation``: the round of ``check --confirm`` reruns these runs are (0: none);
        ``before_session``: called with each session's index in the plan and its name before it
        starts (the run takes its calibration rounds there, between sessions)."""
        self.config = config
        self.workload = workload
        self.run_dir = run_dir
        self.run_id = run_dir.name
        self.listener = listener
        self.stop = stop or threading.Event()
        self._threads: dict[str, int] = {}  # by strategy: the math threads its workers last reported
        self.confirmation = confirmation
        self.before_session = before_session
        # What ``run`` sets: when the run's budget ends and how many cases are still to run.
        self._budget_end, self._cases_left = math.inf, 1

    # -- one timed run -------------------------------------------------------------------------
    def _predictor(self, case: Case, session: Session | None) -> Predictor:
        spec = self.workload.spec
        return Predictor.for_spec(
            spec,
            session.model_data if session else spec.data,
            batch_size=case.axes.batch_size,
            skip_bad=self.workload.skip_bad,
            # Unset, a Spark worker gets spark.task.cpus threads, as Spark gives OMP_NUM_THREADS:
            # TensorFlow would size its pools to every core in every worker and oversubscribe.
            threads=case.axes.threads or (case.axes.task_cpus if session is not None else None),
            table_reader=self.workload.table_reader,
        )

    def _output(self, strategy: Strategy, case: Case, session: Session | None, predictor: Predictor):
        """The strategy's predictions: a Spark DataFrame, or for a driver loop an iterator of chunks."""
        w = self.workload
        if isinstance(strategy, SparkStrategy):
            assert session is not None
            df = w.spark_input(session.spark, session.inputs, case.size, case.axes.partitions)
            return strategy.transform(df, predictor, w.source)
        if isinstance(strategy, EngineStrategy):
            rows, read = w.engine_input(case.size)
            return strategy.predict_rows(rows, read, predictor)
        assert isinstance(strategy, LocalStrategy)
        chunks = w.local_chunks(case.size, strategy.chunk_rows(predictor), strategy.chunks_to_many_processes)
        return strategy.predict_local(chunks, predictor, w.source)

    def _timed_run(
        self, strategy: Strategy, case: Case, session: Session | None, predictor: Predictor
    ) -> tuple[float, Tally, dict[str, Any]]:
        width = tally_width(predictor.n_classes)
        target = self.run_dir / "sorted" / case_slug(case)
        classes = self.config.model.classes
        # A Spark strategy's workers count into tallies of their own and hand them on in the output;
        # a driver-side one counts here.
        local = LocalTally(width)
        if session is not None:
            conf = session.spark.conf
            conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(case.axes.arrow_batch_size))
            if case.axes.arrow_max_bytes is not None:
                conf.set("spark.sql.execution.arrow.maxBytesPerBatch", str(case.axes.arrow_max_bytes))
            else:
                conf.unset("spark.sql.execution.arrow.maxBytesPerBatch")
        out = self._output(strategy, case, session, predictor if session else predictor.with_tally(local))
        self.listener.timed_run_started()
        started = time.perf_counter()
        try:
            if session is not None:
                counted = sinks.write_spark(out, self.config.sink, target, classes, width)
            else:
                sinks.consume_local(out, self.config.sink, target, classes)
                counted = local.value
            seconds = time.perf_counter() - started
        finally:
            readings = self.listener.timed_run_ended()
            if isinstance(strategy, LocalStrategy):
                strategy.settle()
                # A JVM still up beside a driver-side strategy is an earlier session's, not its own.
                readings["executor_peak_rss_mb"] = None
        return seconds, Tally.from_vector(np.asarray(counted)), readings

    def _reason(self, err: Exception, case: Case) -> str:
        """Why a timed run failed, in one line. An unreadable image is named by the worker as it saw
        it (a file's path, or for a null table cell nothing at all), so the rows whose images the
        driver could not read either are named by their ids."""
        reason = short_error(err)
        if "BadImage" not in f"{type(err).__name__}: {err}":
            return reason
        rows = self.workload.datasets[case.size]
        ids = rows.loc[rows["path"].map(self.workload.reference.labels).lt(0), "id"].tolist()
        if not ids:
            return reason
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        return f"{reason} (unreadable on the driver too: row id {', '.join(map(str, ids[:5]))}{more})"

    def _resources(self, session: Session | None, tally: Tally, strategy: str, cores: int) -> dict:
        """The executor cores that ran the run, executors lost, and the math threads in each worker:
        whatever loads the model (a Spark worker, the driver loop, the ceiling's processes) reports the
        threads its runtime runs with, and they hold until the next load."""
        lost = None
        if session is not None:
            cores, lost = executor_cores(session.spark)
        if tally.model_loads:
            self._threads[strategy] = round(tally.math_threads / tally.model_loads)
        return {"cores": cores, "lost_executors": lost, "worker_threads": self._threads.get(strategy)}

    def _check_parity(
        self, strategy: Strategy, case: Case, session: Session | None, predictor: Predictor
    ) -> None:
        """Every row's prediction, untimed, compared row by row with the reference."""
        out = self._output(strategy, case, session, predictor)
        try:
            if session is not None:
                predicted = out.select("id", "label", "score").toPandas()
            else:
                predicted = pd.concat(list(out))[["id", "label", "score"]]
        except Exception as err:
            raise CaseFailed(short_error(err)) from err
        finally:
            if isinstance(strategy, LocalStrategy):
                strategy.settle()
        rows = self.workload.datasets[case.size]
        parity = self.workload.reference.compare_rows(predicted, rows)
        accuracy = verification.accuracy(predicted, rows, self.config.model.classes)
        self.listener.parity_checked(
            ParityRow(
                run_id=self.run_id,
                cluster=case.cluster.name,
                strategy=case.strategy,
                size=case.size,
                rows=parity.rows,
                label_mismatches=parity.label_mismatches,
                max_score_diff=None if np.isnan(parity.max_score_diff) else parity.max_score_diff,
                tolerance=self.workload.reference.tolerance,
                accuracy=accuracy,
                status="failed" if parity.problem else "ok",
                detail=parity.problem,
            )
        )
        if parity.problem:
            raise ParityFailed(parity.problem)

    # -- one case ------------------------------------------------------------------------------
    def _row(self, strategy: Strategy, case: Case, cores: int, **values: Any) -> ResultRow:
        defaults = {
            "rows": 0,
            "skipped": 0,
            "model_loads": 0,
            "load_s": 0.0,
            "decode_s": 0.0,
            "predict_s": 0.0,
        }
        return ResultRow(
            run_id=self.run_id,
            cluster=case.cluster.name,
            strategy=case.strategy,
            eval_type=strategy.eval_type,
            size=case.size,
            input_mode=self.workload.input_mode,
            sink=self.config.sink,
            cores=cores,
            slots=slots(strategy, case, cores),
            confirmation=self.confirmation,
            **case.axes.model_dump(),
            **(defaults | values),
        )

    def run_case(self, case: Case, session: Session | None, cores: int, parity: bool = False) -> None:
        """Warmups then repeats of one case, each reported; a failure ends the case, not the run.

        ``parity``: compare the predictions row by row after the timed runs (so that the first warmup
        run stays the true cold start).
        """
        strategy = get_strategy(case.strategy)
        predictor = self._predictor(case, session)
        c = self.config
        runs = [(True, i + 1) for i in range(c.warmup)]
        runs += [(False, i + 1) for i in range(c.most_repeats)]
        # With repeats: auto, past the minimum a case repeats only within its share of what is left
        # of the run's budget, shared equally with the cases still to come.
        share = (self._budget_end - time.monotonic()) / max(self._cases_left, 1)
        self._cases_left -= 1
        deadline, measured_s = time.monotonic() + share, []
        reason = strategy.unsupported_reason(session.spark if session else None)
        if reason:
            row = self._row(strategy, case, cores, repeat=0, warmup=False, status="unsupported",
                            seconds=None, images_per_s=None, error=reason)  # fmt: skip
            self.listener.case_ended(row, runs_skipped=len(runs))
            return
        done = 0
        try:
            if session is not None and session.unusable:
                raise CaseFailed(session.unusable)
            for warmup, repeat in runs:
                if self.stop.is_set():
                    return
                try:
                    seconds, tally, readings = self._timed_run(strategy, case, session, predictor)
                except CaseFailed:
                    raise
                except Exception as err:
                    if self.stop.is_set():  # an interrupted job fails with Spark's error, not the case's
                        return
                    raise CaseFailed(self._reason(err, case)) from err
                rows = self.workload.datasets[case.size]
                self.workload.reference.check_tally(tally, rows, predictor.n_classes)
                if tally.rows and tally.skipped >= tally.rows:  # a time of nothing predicted is no result
                    raise CaseFailed(
                        f"no image could be read: all {tally.rows} rows were skipped as unreadable "
                        "(on_bad_image: skip)"
                    )
                if self.config.sink == "sorted":
                    target = self.run_dir / "sorted" / case_slug(case)
                    sinks.verify_sorted(target, case.size, tally.class_counts, self.config.model.classes)
                resources = self._resources(session, tally, case.strategy, cores)
                workers, threads = readings.get("python_workers"), resources["worker_threads"]
                if workers and threads:
                    readings["oversubscribed"] = workers * threads > resources["cores"]
                measured = {
                    "seconds": seconds,
                    "rows": tally.rows,
                    "skipped": tally.skipped,
                    # Throughput counts the images predicted, not those skipped as unreadable.
                    "images_per_s": (tally.rows - tally.skipped) / seconds if seconds > 0 else None,
                    "model_loads": tally.model_loads,
                    "load_s": tally.load_s,
                    "decode_s": tally.decode_s,
                    "predict_s": tally.predict_s,
                }
                stopped = None
                if c.auto_repeats and not warmup:
                    measured_s.append(seconds)
                    out_of_budget = time.monotonic() > deadline
                    stopped = stop_reason(measured_s, c.repeat_until, c.max_repeats, out_of_budget)
                row = self._row(strategy, case, resources.pop("cores"), repeat=repeat, warmup=warmup,
                                status="ok", stopped_because=stopped, **measured, **readings,
                                **resources)  # fmt: skip
                self.listener.measured(row)
                done += 1
                if stopped:
                    break
            if parity and not self.stop.is_set():
                self._check_parity(strategy, case, session, predictor)
        except CaseFailed as err:
            status = "parity_failed" if isinstance(err, ParityFailed) else "failed"
            warmup, repeat = runs[min(done, len(runs) - 1)]
            row = self._row(strategy, case, cores, repeat=repeat, warmup=warmup, status=status,
                            seconds=None, images_per_s=None, error=str(err))  # fmt: skip
            self.listener.case_ended(row, runs_skipped=len(runs) - done)

    def _run_session(self, session_plan: SessionPlan, session: Session | None, cores: int) -> None:
        strategy = get_strategy(session_plan.strategy)
        if session is None:  # a driver-side strategy starts cold, like a Spark strategy's fresh workers
            forget_models()
            if isinstance(strategy, LocalStrategy):  # its worker processes too, should any be up
                strategy.close()
        try:
            # Row-by-row parity once per session, on its first (smallest) case.
            for index, case in enumerate(session_plan.cases):
                if self.stop.is_set():
                    return
                self.run_case(case, session, cores, parity=session_plan.parity and index == 0)
        finally:
            if isinstance(strategy, LocalStrategy):
                strategy.close()

    # -- the whole run -------------------------------------------------------------------------
    def run(self, meta: RunMeta, plans: list[SessionPlan] | None = None) -> None:
        """Every planned case (or those of ``plans``, a narrowed plan of this config: what a resumed
        run has left, what a check reruns), cluster by cluster; each Spark strategy in a session of
        its own."""
        c = self.config
        self.run_id = meta.run_id  # a folder renamed or copied since keeps its rows' run id
        self._many_session_settings = len({(p.task_cpus, p.threads) for p in plan(c)}) > 1
        plans = plan(c) if plans is None else plans
        self._budget_end = time.monotonic() + c.budget_minutes * 60
        self._cases_left = sum(len(p.cases) for p in plans)
        uses_spark = {name: get_strategy(name).uses_spark for name in c.strategies}
        local_cores = int(facts.machine()["cores"] or 1)
        for cluster in c.cluster_list():
            cluster_plans = [p for p in plans if p.cluster == cluster]
            with ExitStack() as cluster_stack:
                handle = None
                if any(uses_spark[p.strategy] for p in cluster_plans):
                    self.listener.stage(f"starting cluster {cluster.name} ({cluster.kind})")
                    started = time.perf_counter()
                    # A local Connect server's static settings (one task_cpus: see the config's check).
                    server_conf = session_conf(c.spark, cluster_plans[0].task_cpus, None)
                    handle = cluster_stack.enter_context(open_cluster(cluster, server_conf))
                    meta.setup_seconds[cluster.name] = {"cluster_start_s": time.perf_counter() - started}
                for session_plan in cluster_plans:
                    if self.stop.is_set():
                        return
                    if self.before_session is not None:
                        name = f"{cluster.name}/{session_plan.strategy}"
                        self.before_session(plans.index(session_plan), name)
                    if not uses_spark[session_plan.strategy]:
                        self._run_session(session_plan, None, local_cores)
                        continue
                    assert handle is not None
                    self._spark_session(session_plan, handle.master, meta)

    def _spark_session(self, session_plan: SessionPlan, master: str, meta: RunMeta) -> None:
        c = self.config
        cluster = session_plan.cluster
        self.listener.stage(f"starting Spark for {cluster.name}/{session_plan.strategy}")
        started = time.perf_counter()
        conf = session_conf(
            c.spark,
            session_plan.task_cpus,
            session_plan.threads,
            loopback=cluster.kind not in ("external", "connect"),
        )
        with spark_session(master, f"udfbench {c.name} {session_plan.strategy}", conf, self.run_dir) as spark:
            session_s = time.perf_counter() - started
            started = time.perf_counter()
            spec = self.workload.spec
            session = Session(spark, ship_model(spark, spec.data, spec.digest))
            label = (
                session_plan.label
                if self._many_session_settings
                else f"{cluster.name}/{session_plan.strategy}"
            )
            meta.setup_seconds[label] = {"session_s": session_s, "broadcast_s": time.perf_counter() - started}
            meta.spark_conf[cluster.name] = session_settings(spark)
            self.listener.meta_changed(meta)
            if cluster.kind == "connect" and cluster.master:
                # An existing server's workers run a Python of its own; a local server's run this one
                # (and a probe would start them before the cold start it must measure).
                session.unusable = probe_workers(spark, get_runtime(spec.runtime).module)
            self._run_session(session_plan, session, default_parallelism(spark))
