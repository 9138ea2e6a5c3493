"""The measuring loop: for each planned session and case, warmups then repeats, each verified.

Every timed run makes the model see every row (the ``noop`` sink, never ``count()`` or ``show()``)
and is checked against the reference before it is reported: a run is only ever a listener event,
so what happens to it (the results files, the progress bar) is not the loop's business. Stopping is
a flag the loop checks after every timed run.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench import environment, sinks, verification
from udfbench.cluster import open_cluster, session_conf, spark_session
from udfbench.config import BenchConfig
from udfbench.errors import CaseFailed, short_error
from udfbench.events import RunListener
from udfbench.instruments import executor_cores
from udfbench.planning import Case, SessionPlan, plan
from udfbench.predictor import LocalTally, Predictor, Tally, VectorParam, forget_models, tally_width
from udfbench.results import ParityRow, ResultRow, RunMeta
from udfbench.strategies import get_strategy
from udfbench.strategies.base import LocalStrategy, SparkStrategy, Strategy
from udfbench.verification import ParityFailed
from udfbench.workload import Workload


@dataclass
class Session:
    """What the cases of one Spark session share: the session, the model broadcast, cached inputs."""

    spark: Any
    model_data: Any
    inputs: dict[tuple[int, int | None], Any] = field(default_factory=dict)


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
    ) -> None:
        """``confirmation``: the round of ``check --confirm`` reruns these runs are (0: none)."""
        self.config = config
        self.workload = workload
        self.run_dir = run_dir
        self.run_id = run_dir.name
        self.listener = listener
        self.stop = stop or threading.Event()
        self._threads: dict[str, int] = {}  # by strategy: the math threads its workers last reported
        self.confirmation = confirmation

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
        assert isinstance(strategy, LocalStrategy)
        chunks = w.local_chunks(case.size, strategy.chunk_rows(predictor), strategy.chunks_to_many_processes)
        return strategy.predict_local(chunks, predictor, w.source)

    def _timed_run(
        self, strategy: Strategy, case: Case, session: Session | None, predictor: Predictor
    ) -> tuple[float, Tally, dict[str, Any]]:
        width = tally_width(predictor.n_classes)
        target = self.run_dir / "sorted" / case_slug(case)
        classes = self.config.model.classes
        if session is not None:
            conf = session.spark.conf
            conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(case.axes.arrow_batch_size))
            if case.axes.arrow_max_bytes is not None:
                conf.set("spark.sql.execution.arrow.maxBytesPerBatch", str(case.axes.arrow_max_bytes))
            else:
                conf.unset("spark.sql.execution.arrow.maxBytesPerBatch")
            tally = session.spark.sparkContext.accumulator(np.zeros(width), VectorParam())
        else:
            tally = LocalTally(width)
        out = self._output(strategy, case, session, predictor.with_tally(tally))
        self.listener.timed_run_started()
        started = time.perf_counter()
        try:
            if session is not None:
                sinks.write_spark(out, self.config.sink, target, classes)
            else:
                sinks.consume_local(out, self.config.sink, target, classes)
            seconds = time.perf_counter() - started
        finally:
            readings = self.listener.timed_run_ended()
        return seconds, Tally.from_vector(np.asarray(tally.value)), readings

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
        runs = [(True, i + 1) for i in range(self.config.warmup)]
        runs += [(False, i + 1) for i in range(self.config.repeats)]
        reason = strategy.unsupported_reason(session.spark if session else None)
        if reason:
            row = self._row(strategy, case, cores, repeat=0, warmup=False, status="unsupported",
                            seconds=None, images_per_s=None, error=reason)  # fmt: skip
            self.listener.case_ended(row, runs_skipped=len(runs))
            return
        done = 0
        try:
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
                    raise CaseFailed(short_error(err)) from err
                rows = self.workload.datasets[case.size]
                self.workload.reference.check_tally(tally, rows, predictor.n_classes)
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
                row = self._row(strategy, case, resources.pop("cores"), repeat=repeat, warmup=warmup,
                                status="ok", **measured, **readings, **resources)  # fmt: skip
                self.listener.measured(row)
                done += 1
            if parity and not self.stop.is_set():
                self._check_parity(strategy, case, session, predictor)
        except CaseFailed as err:
            status = "parity_failed" if isinstance(err, ParityFailed) else "failed"
            warmup, repeat = runs[min(done, len(runs) - 1)]
            row = self._row(strategy, case, cores, repeat=repeat, warmup=warmup, status=status,
                            seconds=None, images_per_s=None, error=str(err))  # fmt: skip
            self.listener.case_ended(row, runs_skipped=len(runs) - done)

    def _run_session(self, session_plan: SessionPlan, session: Session | None, cores: int) -> None:
        if session is None:  # a driver-side strategy starts cold, like a Spark strategy's fresh workers
            forget_models()
        try:
            # Row-by-row parity once per session, on its first (smallest) case.
            for index, case in enumerate(session_plan.cases):
                if self.stop.is_set():
                    return
                self.run_case(case, session, cores, parity=session_plan.parity and index == 0)
        finally:
            strategy = get_strategy(session_plan.strategy)
            if isinstance(strategy, LocalStrategy):
                strategy.close()

    # -- the whole run -------------------------------------------------------------------------
    def run(self, meta: RunMeta, plans: list[SessionPlan] | None = None) -> None:
        """Every planned case (or those of ``plans``, a narrowed plan of this config: what a resumed
        run has left, what a check reruns), cluster by cluster; each Spark strategy in a session of
        its own."""
        c = self.config
        self._many_session_settings = len({(p.task_cpus, p.threads) for p in plan(c)}) > 1
        plans = plan(c) if plans is None else plans
        uses_spark = {name: get_strategy(name).uses_spark for name in c.strategies}
        local_cores = int(environment.machine()["cores"] or 1)
        for cluster in c.cluster_list():
            cluster_plans = [p for p in plans if p.cluster == cluster]
            with ExitStack() as cluster_stack:
                handle = None
                if any(uses_spark[p.strategy] for p in cluster_plans):
                    self.listener.stage(f"starting cluster {cluster.name} ({cluster.kind})")
                    started = time.perf_counter()
                    handle = cluster_stack.enter_context(open_cluster(cluster))
                    meta.setup_seconds[cluster.name] = {"cluster_start_s": time.perf_counter() - started}
                for session_plan in cluster_plans:
                    if self.stop.is_set():
                        return
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
            c.spark, session_plan.task_cpus, session_plan.threads, loopback=cluster.kind != "external"
        )
        with spark_session(master, f"udfbench {c.name} {session_plan.strategy}", conf, self.run_dir) as spark:
            session_s = time.perf_counter() - started
            started = time.perf_counter()
            session = Session(spark, spark.sparkContext.broadcast(self.workload.spec.data))
            label = (
                session_plan.label
                if self._many_session_settings
                else f"{cluster.name}/{session_plan.strategy}"
            )
            meta.setup_seconds[label] = {"session_s": session_s, "broadcast_s": time.perf_counter() - started}
            meta.spark_conf[cluster.name] = dict(spark.sparkContext.getConf().getAll())
            self.listener.meta_changed(meta)
            self._run_session(session_plan, session, spark.sparkContext.defaultParallelism)
