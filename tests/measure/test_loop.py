"""The measuring loop: every row through the model, verified; wrong or short answers fail their case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from tests.conftest import TEST_IMAGE_SIZE
from udfbench.errors import CaseFailed
from udfbench.inputs.seeds import SeedImage, draw_rows
from udfbench.measure import sinks
from udfbench.measure.local_processes import usable_cores
from udfbench.measure.loop import Runner, Session
from udfbench.measure.strategies import get_strategy, registered
from udfbench.measure.strategies.base import LocalStrategy
from udfbench.measure.strategies.pandas_udf import PandasUdf
from udfbench.measure.workload import Workload
from udfbench.model.predictor import LocalTally, Predictor, Tally, tally_width
from udfbench.model.reference import Reference
from udfbench.plan.cases import Case
from udfbench.plan.config import ClusterConfig, axes_grid, parse_config
from udfbench.rundir.events import RunListener
from udfbench.rundir.schema import RunMeta
from udfbench.spark.connect import ship_model


class Recorder(RunListener):
    """Keeps every row the runner reports."""

    def __init__(self) -> None:
        self.rows: list = []
        self.parity: list = []

    def measured(self, row) -> None:
        self.rows.append(row)

    def case_ended(self, row, runs_skipped) -> None:
        self.rows.append(row)

    def parity_checked(self, row) -> None:
        self.parity.append(row)


def make_runner(tmp_path: Path, seeds: list[SeedImage], spec, size: int, **settings) -> Runner:
    raw = {
        "dataset": {
            "sizes": [size],
            "on_bad_image": settings.pop("on_bad_image", "fail"),
            "input_mode": settings.pop("input_mode", "path"),
        },
        "model": {"image_size": TEST_IMAGE_SIZE},
        "strategies": ["python"],
        "warmup": 1,
        "repeats": 2,
        "batch_size": 4,
        **settings,
    }
    config = parse_config(raw, tmp_path / "bench.yaml")
    workload = Workload(
        datasets={size: draw_rows(seeds, size, seed=5)},
        samples=tuple((s.path, s.path) for s in seeds),
        seeds=tuple(seeds),
        spec=spec,
        reference=Reference.compute(spec, [(s.path, s.path) for s in seeds], config.parity.tolerance),
        input_mode=config.dataset.input_mode,
        skip_bad=config.dataset.on_bad_image == "skip",
    )
    return Runner(config, workload, tmp_path, Recorder())


def run_case(runner: Runner, strategy, spark, spec) -> tuple[list, list]:
    """One case of ``strategy`` (registered under its name for the test) through the runner's public API."""
    recorder = runner.listener = Recorder()
    session = Session(spark, ship_model(spark, spec.data, spec.digest)) if strategy.uses_spark else None
    case = Case(ClusterConfig(name="local", kind="local"), strategy.name, runner.config.dataset.sizes[0],
                axes_grid(runner.config)[0])  # fmt: skip
    with registered(strategy):
        runner.run_case(case, session, cores=2, parity=True)
    return recorder.rows, recorder.parity


class DropsHalf(PandasUdf):
    """A broken strategy that silently loses rows."""

    name = "drops_half"

    def transform(self, df, predictor, source):
        return super().transform(df.where(F.col("id") % 2 == 0), predictor, source)


class AnswersWrong(PandasUdf):
    """A broken strategy whose predictions are attached to the wrong rows."""

    name = "answers_wrong"

    def transform(self, df, predictor, source):
        out = super().transform(df, predictor, source)
        return out.withColumn("label", 1 - F.col("label"))


class FlipsLocal(LocalStrategy):
    name = "flips"
    eval_type = "none"

    def predict_local(self, chunks, predictor, source):
        for chunk in get_strategy("python").predict_local(chunks, predictor, source):
            yield chunk.assign(score=chunk["score"] * 0.5)


@pytest.mark.spark
def test_count_prunes_the_udf_but_the_timed_action_runs_it_on_every_row(tmp_path, spark, seeds, tiny_model):
    """The founding study's pitfall, kept as a test: count() leaves the model out of the plan, while
    the timed action's sum of the tally cannot, and counts every row."""
    rows = draw_rows(seeds, 16, seed=1)
    df = spark.createDataFrame(rows).repartition(2)
    predictor = Predictor.for_spec(tiny_model, tiny_model.data, 4, False, None)
    out = PandasUdf().transform(df, predictor, "path")
    assert "ArrowEvalPython" not in out.groupBy().count()._jdf.queryExecution().executedPlan().toString()
    tally = Tally.from_vector(sinks.write_spark(out, "noop", tmp_path, ["dog", "cat"], tally_width(2)))
    assert tally.rows == 16 and sum(tally.class_counts) == 16 and tally.model_loads >= 1


# This test and the next run the CNN itself (Keras in Spark's Python workers, its model shipped as
# bytes and loaded once per worker); the others here are about the loop, with the tiny ONNX model.
@pytest.mark.spark
@pytest.mark.parametrize("mode", ["path", "bytes"])
@pytest.mark.parametrize("name", ["python", "udf", "pandas_udf"])
def test_each_strategy_sees_every_row_and_matches_the_reference(
    tmp_path, spark, seeds, small_model, name, mode
) -> None:
    runner = make_runner(tmp_path, seeds, small_model, size=14, input_mode=mode)
    results, parity = run_case(runner, get_strategy(name), spark, small_model)
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    assert [r.warmup for r in results] == [True, False, False]
    assert all(r.rows == 14 and r.skipped == 0 for r in results)
    assert [p.status for p in parity] == ["ok"] and parity[0].rows == 14 and parity[0].label_mismatches == 0
    assert results[0].eval_type == get_strategy(name).eval_type


@pytest.mark.spark
def test_model_is_loaded_once_per_python_worker_not_per_row(tmp_path, spark, seeds, small_model) -> None:
    runner = make_runner(tmp_path, seeds, small_model, size=40)
    from dataclasses import replace

    from udfbench.model import predictor as predictor_module

    # A digest no worker has cached yet, so the first run is a true cold start.
    fresh = Predictor.for_spec(small_model, small_model.data, 4, False, None)
    fresh = replace(fresh, digest="never-seen-before")
    loads = []
    for _ in range(3):
        df = spark.createDataFrame(runner.workload.datasets[40]).repartition(8)
        out = get_strategy("udf").transform(df, fresh, "path")
        result = Tally.from_vector(sinks.write_spark(out, "noop", tmp_path, ["dog", "cat"], tally_width(2)))
        assert result.rows == 40
        loads.append(result.model_loads)
    assert 1 <= loads[0] <= 2  # local[2]: at most one load per Python worker
    assert loads[1:] == [0, 0]
    assert "never-seen-before" not in predictor_module.MODEL_CACHE  # the driver never loaded it


@pytest.mark.spark
def test_a_strategy_that_loses_rows_fails_its_case(tmp_path, spark, seeds, tiny_model) -> None:
    runner = make_runner(tmp_path, seeds, tiny_model, size=10)
    results, _ = run_case(runner, DropsHalf(), spark, tiny_model)
    assert [r.status for r in results] == ["failed"]
    assert "the model saw 5 of 10 rows" in results[0].error


@pytest.mark.spark
def test_wrong_answers_fail_parity(tmp_path, spark, seeds, tiny_model) -> None:
    runner = make_runner(tmp_path, seeds, tiny_model, size=10)
    results, parity = run_case(runner, AnswersWrong(), spark, tiny_model)
    assert results[-1].status == "parity_failed"
    assert parity[0].status == "failed" and parity[0].label_mismatches > 0


def test_a_driver_loop_with_wrong_scores_fails_parity(tmp_path, seeds, tiny_model) -> None:
    runner = make_runner(tmp_path, seeds, tiny_model, size=10)
    results, parity = run_case(runner, FlipsLocal(), None, tiny_model)
    assert results[-1].status == "parity_failed"
    assert parity[0].status == "failed" and parity[0].max_score_diff > 0.1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda right: {"rows": 9}, "the model saw 9 of 10 rows"),
        (lambda right: {"skipped": 1}, "1 images skipped, the reference skips 0"),
        (lambda right: {"score_sum": right["score_sum"] + 1.0}, "scores sum to"),
        (lambda right: {"class_counts": right["class_counts"][::-1]}, "differ from the reference"),
    ],
)
def test_the_tally_check_catches_each_count_that_differs(tmp_path, seeds, tiny_model, change, words) -> None:
    runner = make_runner(tmp_path, seeds, tiny_model, size=10)
    reference, rows = runner.workload.reference, runner.workload.datasets[10]
    labels = rows["path"].map(reference.labels).to_numpy()
    right = {"rows": 10, "skipped": 0, "score_sum": float(rows["path"].map(reference.scores).sum()),
             "class_counts": tuple(np.bincount(labels, minlength=2).tolist()), "model_loads": 0, "load_s": 0,
             "decode_s": 0, "predict_s": 0, "math_threads": 0}  # fmt: skip
    reference.check_tally(Tally(**right), rows, 2)
    # Reversed counts move every row of one class, more than the near-ties the check forgives.
    assert right["class_counts"][0] != right["class_counts"][1] and not reference.ambiguous
    with pytest.raises(CaseFailed) as caught:
        reference.check_tally(Tally(**(right | change(right))), rows, 2)
    assert words in str(caught.value)


class Spy:
    """A predictor stand-in recording how many images each call asked for."""

    batch_size = 3

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, sources):
        self.calls.append(len(sources))
        return np.zeros(len(sources), dtype=np.int32), np.zeros(len(sources), dtype=np.float32)


def test_python_loop_streams_one_batch_at_a_time(seeds) -> None:
    rows = draw_rows(seeds, 10, seed=1)
    spy = Spy()
    read = []

    def stream():
        for start in range(0, len(rows), 3):
            read.append(start)
            yield rows.iloc[start : start + 3]

    chunks = get_strategy("python").predict_local(stream(), spy, "path")
    next(chunks)
    assert spy.calls == [3] and read == [0]  # lazily: nothing beyond the first batch is read or decoded
    assert sum(len(c) for c in chunks) == 7 and spy.calls == [3, 3, 3, 1]


@pytest.mark.spark
@pytest.mark.parametrize("mode", ["skip", "fail"])
def test_bad_images_are_counted_or_fail_naming_the_file(tmp_path, seeds, tiny_model, spark, mode) -> None:
    broken = tmp_path / "cat.99.jpeg"
    broken.write_bytes(Path(seeds[0].path).read_bytes()[:300])
    with_bad = [*seeds, SeedImage(str(broken), "cat")]
    runner = make_runner(tmp_path, with_bad, tiny_model, size=30, on_bad_image=mode)
    expected_skips = int((runner.workload.datasets[30]["path"] == str(broken)).sum())
    assert expected_skips > 0
    for name in ["python", "pandas_udf"]:
        results, _ = run_case(runner, get_strategy(name), spark, tiny_model)
        if mode == "skip":
            assert all(r.status == "ok" and r.rows == 30 and r.skipped == expected_skips for r in results)
            # Throughput counts the predicted images only.
            assert all(r.images_per_s * r.seconds == pytest.approx(30 - expected_skips) for r in results)
        else:
            assert [r.status for r in results] == ["failed"] and "cat.99.jpeg" in results[0].error


def test_a_taken_tally_starts_again_from_zero() -> None:
    tally = LocalTally(tally_width(2))
    tally.add(np.ones(tally_width(2)))
    tally.add(np.ones(tally_width(2)))
    assert Tally.from_vector(np.array(tally.take())).rows == 2
    assert Tally.from_vector(tally.value).rows == 0


@pytest.mark.spark
@pytest.mark.parametrize("name", ["python", "pandas_udf"])
def test_sorted_sink_writes_every_row_into_its_class_folder(tmp_path, spark, seeds, tiny_model, name) -> None:
    import pyarrow.dataset as ds

    runner = make_runner(tmp_path, seeds, tiny_model, size=18, sink="sorted")
    results, _ = run_case(runner, get_strategy(name), spark, tiny_model)
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    (target,) = (tmp_path / "sorted").iterdir()
    written = ds.dataset(target, format="parquet", partitioning="hive").to_table().to_pandas()
    assert sorted(written["id"]) == list(range(18))
    expected = (
        runner.workload.datasets[18]["path"].map(runner.workload.reference.labels).map({0: "dog", 1: "cat"})
    )
    got = written.set_index("id").sort_index()["class"].astype(str)
    assert (got.to_numpy() == expected.to_numpy()).all()


def test_sorted_sink_check_notices_a_lost_file(tmp_path) -> None:
    import pandas as pd

    from udfbench.measure.sinks import consume_local, verify_sorted

    chunks = [
        pd.DataFrame({"id": [0, 1], "path": ["a", "b"], "label": [0, 1], "score": [0.1, 0.9]}),
        pd.DataFrame({"id": [2], "path": ["c"], "label": [1], "score": [0.8]}),
    ]
    consume_local(iter(chunks), "sorted", tmp_path / "out", ["dog", "cat"])
    verify_sorted(tmp_path / "out", 3, [1, 2], ["dog", "cat"])
    next((tmp_path / "out" / "class=cat").iterdir()).unlink()
    with pytest.raises(CaseFailed, match="holds . rows"):
        verify_sorted(tmp_path / "out", 3, [1, 2], ["dog", "cat"])


def test_a_driver_loop_starts_cold_with_its_model_load(tmp_path, seeds, tiny_model) -> None:
    # The reference answers loaded the model in this process; the loop must not inherit it, nor the
    # pipelined strategy's processes that a case before it left up. Each of them loads it once, in the
    # first run, whether or not 6 rows give it a chunk to predict.
    run_case(
        make_runner(tmp_path, seeds, tiny_model, size=6), get_strategy("python_pipelined"), None, tiny_model
    )
    runner = make_runner(tmp_path, seeds, tiny_model, size=6, strategies=["python", "python_pipelined"])
    meta = RunMeta(run_id="r", name="t", status="running", started_at="t", config_file="b.yaml",
                   config=runner.config)  # fmt: skip
    runner.run(meta)
    rows = runner.listener.rows
    for strategy, loads in (("python", 1), ("python_pipelined", usable_cores())):
        first, *later = [r for r in rows if r.strategy == strategy]
        assert first.warmup and first.model_loads == loads and first.load_s > 0
        assert all(r.model_loads == 0 for r in later)


def test_every_listener_hears_every_event_as_it_was_sent() -> None:
    from udfbench.rundir.events import Listeners

    first, second = Recorder(), Recorder()
    both = Listeners(first, second)
    both.measured("a run")
    both.case_ended("a failure", runs_skipped=3)  # by keyword, as the runner sends it
    both.parity_checked("a parity row")
    assert first.rows == second.rows == ["a run", "a failure"] and first.parity == ["a parity row"]


def test_a_case_that_predicted_no_image_fails_with_the_reason(tmp_path, seeds, tiny_model) -> None:
    # on_bad_image: skip over only unreadable images reported "python is fastest at 0.0 images/s".
    broken = []
    for seed in seeds:
        path = tmp_path / Path(seed.path).name
        path.write_bytes(b"not an image")
        broken.append(SeedImage(str(path), seed.truth))
    runner = make_runner(tmp_path, broken, tiny_model, size=6, on_bad_image="skip")
    results, _ = run_case(runner, get_strategy("python"), None, tiny_model)
    assert [(r.status, r.warmup, r.repeat) for r in results] == [("failed", True, 1)]
    assert results[0].error == (
        "no image could be read: all 6 rows were skipped as unreadable (on_bad_image: skip)"
    )


@pytest.mark.parametrize(("budget_minutes", "runs", "why"), [(60.0, 5, "max_repeats"), (1e-6, 4, "budget")])
def test_automatic_repeats_stop_at_a_bound_and_say_which(
    tmp_path, seeds, tiny_model, budget_minutes, runs, why
) -> None:
    # No real timings come within ±1e-9 of their median: only a bound can stop the case, never
    # before the rank test's minimum of 4 (converging is plan/repeats.py's, on made-up numbers).
    runner = make_runner(tmp_path, seeds, tiny_model, size=4, repeats="auto", max_repeats=5,
                         repeat_until=1e-9, budget_minutes=budget_minutes)  # fmt: skip
    meta = RunMeta(run_id="r", name="t", status="running", started_at="t", config_file="b.yaml",
                   config=runner.config)  # fmt: skip
    runner.run(meta)
    measured = [r for r in runner.listener.rows if not r.warmup]
    assert [r.repeat for r in measured] == list(range(1, runs + 1))
    assert [r.stopped_because for r in measured] == [None] * (runs - 1) + [why]
