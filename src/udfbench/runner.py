"""The measuring loop: clusters, sessions, strategies, sizes and settings; warmups, then repeats.

Every timed run makes the model see every row (the ``noop`` sink, never ``count()`` or ``show()``)
and is checked against a reference before its time is written: the rows the model saw, the images
skipped, and how the predictions split between classes. Once per strategy the predictions are also
compared row by row. Rows are written as they are measured, so an interrupted run keeps what it
finished, and the report is rebuilt from the files at the end whatever happened.
"""

from __future__ import annotations

import itertools
import re
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench import environment, sinks
from udfbench.cluster import open_cluster, session_conf, spark_session
from udfbench.config import BUILTIN, Axes, BenchConfig, ClusterConfig, axes_grid
from udfbench.dataset import SeedImage, draw_rows, read_seed_folder, write_builtin_seeds
from udfbench.errors import CaseFailed
from udfbench.model import ModelSpec, prepare_model
from udfbench.predictor import LocalTally, Predictor, Tally, VectorParam, tally_width
from udfbench.preprocess import BadImage, load_image
from udfbench.results import (
    PARITY_FILE,
    RESULTS_FILE,
    CsvAppender,
    ParityRow,
    ResultRow,
    RunMeta,
    write_meta,
)
from udfbench.strategies import get_strategy
from udfbench.strategies.base import LocalStrategy, SparkStrategy, Strategy

# A Spark session and its first Python workers with TensorFlow take about this long on 2 cores.
SESSION_START_S = 10.0

# Called after every timed run with a one-line description; the CLI draws a progress bar with it.
ProgressFn = Callable[[str], None]


class ParityFailed(CaseFailed):
    """The strategy's answers differ from the reference: a fast wrong answer is not a result."""


@dataclass(frozen=True)
class Reference:
    """The driver's prediction for each distinct seed image: what every strategy must reproduce."""

    labels: dict[str, int]
    scores: dict[str, float]
    # Images whose predicted class sits within the tolerance of a tie: either class is an honest answer.
    ambiguous: frozenset[str]

    @classmethod
    def compute(cls, spec: ModelSpec, seeds: list[SeedImage], tolerance: float) -> Reference:
        predictor = Predictor.for_spec(spec, spec.data, batch_size=1, skip_bad=True, threads=None)
        model = predictor.model()
        labels, scores, ambiguous = {}, {}, set()
        for seed in seeds:
            try:
                image = load_image(seed.path, spec.image_size)
            except BadImage:
                labels[seed.path], scores[seed.path] = -1, float("nan")
                continue
            probabilities = np.asarray(model.predict_on_batch(image[None]))[0]
            if spec.output == "sigmoid":
                score = float(probabilities[0])
                labels[seed.path], scores[seed.path] = int(score >= 0.5), score
                tie_gap = abs(score - 0.5)
            else:
                top2 = np.sort(probabilities)[-2:]
                labels[seed.path], scores[seed.path] = int(probabilities.argmax()), float(top2[1])
                tie_gap = float(top2[1] - top2[0])
            if tie_gap <= tolerance:
                ambiguous.add(seed.path)
        return cls(labels, scores, frozenset(ambiguous))

    def check_tally(self, tally: Tally, rows: pd.DataFrame, n_classes: int, tolerance: float) -> None:
        """Raise unless a run's tally matches what the reference predicts for ``rows``."""
        paths = rows["path"]
        if tally.rows != len(rows):
            raise CaseFailed(f"the model saw {tally.rows} of {len(rows)} rows")
        labels = paths.map(self.labels).to_numpy()
        skipped = int((labels < 0).sum())
        if tally.skipped != skipped:
            raise CaseFailed(f"{tally.skipped} images skipped, the reference skips {skipped}")
        expected = np.bincount(labels[labels >= 0], minlength=n_classes)
        moved = int(np.abs(np.asarray(tally.class_counts) - expected).sum()) // 2
        if moved > int(paths.isin(self.ambiguous).sum()):
            raise ParityFailed(
                f"class counts {list(tally.class_counts)} differ from the reference {expected.tolist()}"
            )
        expected_sum = float(np.nansum(paths.map(self.scores).to_numpy()))
        if abs(tally.score_sum - expected_sum) > tolerance * max(len(rows), 1):
            raise ParityFailed(f"scores sum to {tally.score_sum:.6f}, the reference to {expected_sum:.6f}")

    def compare_rows(
        self, predicted: pd.DataFrame, rows: pd.DataFrame, tolerance: float
    ) -> tuple[int, float, str]:
        """Row-by-row check: (label mismatches, largest score difference, problem or "")."""
        if len(predicted) != len(rows) or set(predicted["id"]) != set(rows["id"]):
            return 0, float("nan"), f"returned {len(predicted)} rows for {len(rows)} ids, or other ids"
        merged = rows[["id", "path"]].merge(predicted[["id", "label", "score"]], on="id")
        want_label = merged["path"].map(self.labels)
        want_score = merged["path"].map(self.scores)
        clear = ~merged["path"].isin(self.ambiguous)
        mismatches = int(((merged["label"] != want_label) & clear).sum())
        diffs = (merged["score"].astype(float) - want_score).abs()
        both_nan = merged["score"].isna() & want_score.isna()
        max_diff = float(diffs[~both_nan].max()) if (~both_nan).any() else 0.0
        if (diffs.isna() & ~both_nan).any():
            return mismatches, float("nan"), "a score is missing where the reference has one"
        problem = ""
        if mismatches:
            problem = f"{mismatches} labels differ from the reference"
        elif max_diff > tolerance:
            problem = f"scores differ by up to {max_diff:.2e} (tolerance {tolerance:.0e})"
        return mismatches, max_diff, problem


def short_error(err: BaseException) -> str:
    """One line from an exception, digging the Python error out of a Java stack trace."""
    text = str(err)
    found = re.findall(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|BadImage)\b:? .*)$", text, re.MULTILINE)
    python_side = [line for line in found if "udfbench" in line or "Error:" in line]
    line = (python_side or found or [text.strip().splitlines()[0] if text.strip() else type(err).__name__])[
        -1
    ]
    return line.strip()[:400]


@dataclass
class Case:
    cluster: ClusterConfig
    strategy: Strategy
    size: int
    axes: Axes
    cores: int

    @property
    def slots(self) -> int:
        if not self.strategy.uses_spark:
            return 1
        return max(1, min(self.cores // self.axes.task_cpus, self.axes.partitions or self.cores))

    def slug(self) -> str:
        """A file-name-safe name that tells cases apart."""
        settings = "-".join(f"{k}{v}" for k, v in self.axes.model_dump().items() if v is not None)
        return re.sub(
            r"[^A-Za-z0-9_.=-]+", "_", f"{self.cluster.name}-{self.strategy.name}-n{self.size}-{settings}"
        )

    def row(self, run_id: str, input_mode: str, sink: str, **values: Any) -> ResultRow:
        defaults = {
            "rows": 0,
            "skipped": 0,
            "model_loads": 0,
            "load_s": 0.0,
            "decode_s": 0.0,
            "predict_s": 0.0,
        }
        return ResultRow(
            run_id=run_id,
            cluster=self.cluster.name,
            strategy=self.strategy.name,
            eval_type=self.strategy.eval_type,
            size=self.size,
            input_mode=input_mode,
            sink=sink,
            cores=self.cores,
            slots=self.slots,
            **self.axes.model_dump(),
            **(defaults | values),
        )


@dataclass
class Session:
    """What the cases of one Spark session share: the session, the model broadcast, cached inputs."""

    spark: Any
    model_data: Any
    inputs: dict[tuple[int, int | None], Any] = field(default_factory=dict)


class Runner:
    def __init__(self, config: BenchConfig, config_path: Path, run_dir: Path, progress: ProgressFn) -> None:
        self.config = config
        self.config_path = config_path
        self.run_dir = run_dir
        self.progress = progress
        self.run_id = run_dir.name
        self.tolerance = config.parity.tolerance
        self.classes = tuple(config.model.classes)
        self.datasets: dict[int, pd.DataFrame] = {}

    def total_runs(self) -> int:
        c = self.config
        cases = len(c.cluster_list()) * len(axes_grid(c)) * len(c.strategies) * len(c.dataset.sizes)
        return cases * (c.warmup + c.repeats)

    def estimate_seconds(self) -> float:
        """A deliberately pessimistic guess at the run's length, to refuse sweeps that would not end today.

        It assumes the slowest strategy's rate on a 2-core machine for every case (row-at-a-time at
        192x192: about 25 images/s), scaled by the model's input area, plus a session per strategy.
        """
        c = self.config
        per_row = (1 / 25) * (c.model.image_size / 192) ** 2 if c.model.path is None else 1 / 25
        per_run = sum(0.5 + size * per_row for size in c.dataset.sizes)
        parity = min(c.dataset.sizes) * per_row
        per_strategy = len(axes_grid(c)) * (c.warmup + c.repeats) * per_run + parity + SESSION_START_S
        return 30 + len(c.cluster_list()) * len(c.strategies) * per_strategy

    # -- setup -------------------------------------------------------------------------------
    def _seeds(self) -> list[SeedImage]:
        d = self.config.dataset
        if d.seed_images == BUILTIN:
            return write_builtin_seeds(self.run_dir / "seed_images", seed=d.seed)
        return read_seed_folder(Path(d.seed_images), list(self.config.model.classes))

    # -- one timed run -------------------------------------------------------------------------
    def _source(self) -> str:
        return "content" if self.config.dataset.input_mode == "bytes" else "path"

    def _spark_input(self, session: Session, size: int, partitions: int | None) -> Any:
        """The dataset's rows, built once per session and cached; in bytes mode joined to the files.

        Only the small table of paths is cached: in bytes mode reading the files (Spark's binaryFile
        source) and moving their bytes to Python is part of every timed run, as it would be in production.
        """
        key = (size, partitions)
        if key not in session.inputs:
            spark = session.spark
            df = spark.createDataFrame(self.datasets[size], schema="id long, path string, truth string")
            df = df.repartition(partitions or spark.sparkContext.defaultParallelism).cache()
            df.count()
            session.inputs[key] = df
        df = session.inputs[key]
        if self.config.dataset.input_mode == "bytes":
            paths = sorted(set(self.datasets[size]["path"]))
            files = session.spark.read.format("binaryFile").load(paths)
            files = files.selectExpr("regexp_replace(path, '^file:', '') AS path", "content")
            # A left join keeps rows whose file could not be read: they reach the model as missing bytes.
            df = df.join(files.hint("broadcast"), on="path", how="left").select(
                "id", "path", "truth", "content"
            )
        return df

    def _sink_target(self, case: Case) -> Path:
        return self.run_dir / "sorted" / case.slug()

    def _run_once(self, case: Case, session: Session | None, predictor: Predictor) -> tuple[float, Tally]:
        width = tally_width(predictor.n_classes)
        rows = self.datasets[case.size]
        if isinstance(case.strategy, SparkStrategy):
            assert session is not None
            df = self._spark_input(session, case.size, case.axes.partitions)
            session.spark.conf.set(
                "spark.sql.execution.arrow.maxRecordsPerBatch", str(case.axes.arrow_batch_size)
            )
            tally = session.spark.sparkContext.accumulator(np.zeros(width), VectorParam())
            out = case.strategy.transform(df, predictor.with_tally(tally), self._source())
            started = time.perf_counter()
            sinks.write_spark(out, self.config.sink, self._sink_target(case), self.classes)
            seconds = time.perf_counter() - started
        else:
            assert isinstance(case.strategy, LocalStrategy)
            tally = LocalTally(width)
            started = time.perf_counter()
            chunks = case.strategy.predict_local(rows, predictor.with_tally(tally), self._source())
            sinks.consume_local(chunks, self.config.sink, self._sink_target(case), self.classes)
            seconds = time.perf_counter() - started
        return seconds, Tally.from_vector(np.asarray(tally.value))

    def _predictions(self, case: Case, session: Session | None, predictor: Predictor) -> pd.DataFrame:
        """Every row's prediction, untimed, for the row-by-row parity check."""
        rows = self.datasets[case.size]
        if isinstance(case.strategy, SparkStrategy):
            assert session is not None
            df = self._spark_input(session, case.size, case.axes.partitions)
            out = case.strategy.transform(df, predictor, self._source())
            return out.select("id", "label", "score").toPandas()
        assert isinstance(case.strategy, LocalStrategy)
        chunks = list(case.strategy.predict_local(rows, predictor, self._source()))
        return pd.concat(chunks)[["id", "label", "score"]]

    # -- cases -------------------------------------------------------------------------------
    def _check_parity(
        self, case: Case, session: Session | None, predictor: Predictor, out: CsvAppender
    ) -> None:
        rows = self.datasets[case.size]
        try:
            predicted = self._predictions(case, session, predictor)
        except Exception as err:
            raise CaseFailed(short_error(err)) from err
        mismatches, max_diff, problem = self.reference.compare_rows(predicted, rows, self.tolerance)
        out.append(
            ParityRow(
                run_id=self.run_id,
                cluster=case.cluster.name,
                strategy=case.strategy.name,
                size=case.size,
                rows=len(predicted),
                label_mismatches=mismatches,
                max_score_diff=None if np.isnan(max_diff) else max_diff,
                tolerance=self.tolerance,
                status="failed" if problem else "ok",
                detail=problem,
            )
        )
        if problem:
            raise ParityFailed(problem)

    def _run_case(
        self,
        case: Case,
        session: Session | None,
        predictor: Predictor,
        results: CsvAppender,
        parity: CsvAppender | None,
    ) -> None:
        c = self.config
        row = partial(case.row, self.run_id, c.dataset.input_mode, c.sink)
        runs = [(True, i + 1) for i in range(c.warmup)] + [(False, i + 1) for i in range(c.repeats)]
        reason = case.strategy.unsupported_reason(session.spark if session else None)
        if reason:
            results.append(
                row(
                    repeat=0,
                    warmup=False,
                    status="unsupported",
                    seconds=None,
                    images_per_s=None,
                    error=reason,
                )
            )
            self.progress(f"{case.strategy.name}: unsupported")
            for _ in runs[1:]:
                self.progress("")
            return
        done = 0
        try:
            for warmup, repeat in runs:
                try:
                    seconds, tally = self._run_once(case, session, predictor)
                except (KeyboardInterrupt, CaseFailed):
                    raise
                except Exception as err:
                    raise CaseFailed(short_error(err)) from err
                self.reference.check_tally(
                    tally, self.datasets[case.size], predictor.n_classes, self.tolerance
                )
                if c.sink == "sorted":
                    sinks.verify_sorted(self._sink_target(case), case.size, tally.class_counts, self.classes)
                results.append(
                    row(
                        repeat=repeat,
                        warmup=warmup,
                        status="ok",
                        seconds=seconds,
                        rows=tally.rows,
                        skipped=tally.skipped,
                        images_per_s=tally.rows / seconds if seconds > 0 else None,
                        model_loads=tally.model_loads,
                        load_s=tally.load_s,
                        decode_s=tally.decode_s,
                        predict_s=tally.predict_s,
                    )
                )
                done += 1
                kind = "warmup" if warmup else "run"
                self.progress(
                    f"{case.cluster.name} {case.strategy.name} n={case.size} {kind} {repeat}: {seconds:.2f}s"
                )
            # After the timed runs, so that the first warmup run is the cold start.
            if parity is not None:
                self._check_parity(case, session, predictor, parity)
        except CaseFailed as err:
            status = "parity_failed" if isinstance(err, ParityFailed) else "failed"
            warmup, repeat = runs[min(done, len(runs) - 1)]
            results.append(
                row(
                    repeat=repeat,
                    warmup=warmup,
                    status=status,
                    seconds=None,
                    images_per_s=None,
                    error=str(err),
                )
            )
            for _ in runs[done:]:
                self.progress(f"{case.strategy.name} n={case.size}: {status}")

    def _strategy_cases(
        self,
        cluster: ClusterConfig,
        strategy: Strategy,
        session: Session | None,
        cores: int,
        axes: list[Axes],
        spec: ModelSpec,
        results: CsvAppender,
        parity: CsvAppender,
    ) -> None:
        c = self.config
        for index, (size, case_axes) in enumerate(itertools.product(sorted(c.dataset.sizes), axes)):
            predictor = Predictor.for_spec(
                spec,
                session.model_data if session else spec.data,
                batch_size=case_axes.batch_size,
                skip_bad=c.dataset.on_bad_image == "skip",
                threads=case_axes.threads,
            )
            case = Case(cluster, strategy, size, case_axes, cores)
            # Row-by-row parity once per strategy, on its first (smallest) case.
            self._run_case(case, session, predictor, results, parity if index == 0 else None)

    def _prepare(self, meta: RunMeta) -> ModelSpec:
        c = self.config
        started = time.perf_counter()
        seeds = self._seeds()
        self.datasets = {size: draw_rows(seeds, size, c.dataset.seed) for size in c.dataset.sizes}
        spec, model_load_s = prepare_model(c.model, c.dataset.seed, str(self.config_path))
        self.reference = Reference.compute(spec, seeds, self.tolerance)
        meta.model = {
            "name": spec.name,
            "digest": spec.digest,
            "parameters": spec.parameters,
            "image_size": list(spec.image_size),
            "output": spec.output,
            "classes": list(spec.classes),
        }
        meta.setup_seconds["driver"] = {
            "model_load_s": model_load_s,
            "setup_s": time.perf_counter() - started,
        }
        write_meta(self.run_dir, meta)
        return spec

    def run(self, meta: RunMeta, results: CsvAppender, parity: CsvAppender) -> None:
        c = self.config
        spec = self._prepare(meta)
        by_session: dict[tuple[int, int | None], list[Axes]] = {}
        for axes in axes_grid(c):
            by_session.setdefault((axes.task_cpus, axes.threads), []).append(axes)
        strategies = [get_strategy(name) for name in c.strategies]
        local_cores = int(environment.machine()["cores"] or 1)
        for cluster in c.cluster_list():
            with ExitStack() as cluster_stack:
                handle = None
                if any(s.uses_spark for s in strategies):
                    t0 = time.perf_counter()
                    handle = cluster_stack.enter_context(open_cluster(cluster))
                    meta.setup_seconds[cluster.name] = {"cluster_start_s": time.perf_counter() - t0}
                for (task_cpus, threads), axes in by_session.items():
                    for strategy in strategies:
                        if not strategy.uses_spark:
                            self._strategy_cases(
                                cluster, strategy, None, local_cores, axes, spec, results, parity
                            )
                            continue
                        assert handle is not None
                        # A session of its own per strategy: every strategy starts on fresh Python
                        # workers, so cold starts compare fairly whatever the order in the config.
                        label = f"{cluster.name}/{strategy.name}" + (
                            f"/task_cpus={task_cpus},threads={threads}" if len(by_session) > 1 else ""
                        )
                        t0 = time.perf_counter()
                        conf = session_conf(c.spark, task_cpus, threads, loopback=cluster.kind != "external")
                        with spark_session(
                            handle.master, f"udfbench {c.name} {strategy.name}", conf, self.run_dir
                        ) as spark:
                            session_s = time.perf_counter() - t0
                            t0 = time.perf_counter()
                            session = Session(spark, spark.sparkContext.broadcast(spec.data))
                            meta.setup_seconds[label] = {
                                "session_s": session_s,
                                "broadcast_s": time.perf_counter() - t0,
                            }
                            meta.spark_conf[cluster.name] = dict(spark.sparkContext.getConf().getAll())
                            write_meta(self.run_dir, meta)
                            cores = spark.sparkContext.defaultParallelism
                            self._strategy_cases(
                                cluster, strategy, session, cores, axes, spec, results, parity
                            )


def new_run_dir(config: BenchConfig, out: Path | None) -> Path:
    if out is not None:
        run_dir = out
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name).strip("-") or "run"
        run_dir = Path(config.output_dir) / f"{stamp}-{safe}"
    if run_dir.exists() and any(run_dir.iterdir()):
        from udfbench.errors import UserError

        raise UserError("folder exists and is not empty; choose another --out", where=str(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def run_benchmark(config: BenchConfig, config_path: Path, run_dir: Path, progress: ProgressFn) -> RunMeta:
    """Measure everything the config asks for into ``run_dir``; the meta says how it ended."""
    shutil.copyfile(config_path, run_dir / "config.yaml")
    meta = RunMeta(
        run_id=run_dir.name,
        name=config.name,
        status="running",
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        config_file=str(config_path),
        config=config.model_dump(mode="json"),
        versions=environment.versions(),
        machine=environment.machine(),
        git_commit=environment.git_commit(),
    )
    write_meta(run_dir, meta)
    runner = Runner(config, config_path, run_dir, progress)
    results = CsvAppender(run_dir / RESULTS_FILE, ResultRow)
    parity = CsvAppender(run_dir / PARITY_FILE, ParityRow)
    try:
        runner.run(meta, results, parity)
        meta.status = "complete"
    except KeyboardInterrupt:
        meta.status = "interrupted"
        raise
    except BaseException as err:
        meta.status = "failed"
        meta.error = short_error(err)
        raise
    finally:
        results.close()
        parity.close()
        meta.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        write_meta(run_dir, meta)
    return meta
