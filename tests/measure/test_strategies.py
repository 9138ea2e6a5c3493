"""Every registered strategy, in both input modes: every row seen, the same answers as the `python`
strategy, and the eval type Spark builds is the one the results record."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.measure.test_loop import make_runner, run_case
from udfbench.inputs.seeds import SeedImage
from udfbench.measure import sinks
from udfbench.measure.strategies import STRATEGY_NAMES, get_strategy
from udfbench.measure.strategies.base import EngineStrategy, LocalStrategy, SparkStrategy
from udfbench.model.predictor import Predictor, tally_width
from udfbench.plan.names import DRIVER_ONLY

# The strategies of Spark and the driver. Other engines (Ray Data, Daft) start worker processes of their
# own for every run: tests/measure/test_engines.py checks them with a tiny ONNX model, not the CNN.
SPARK_AND_DRIVER = tuple(n for n in STRATEGY_NAMES if not isinstance(get_strategy(n), EngineStrategy))


def built_eval_types(df) -> set[int]:
    """The eval types of the Python UDFs in ``df``'s optimized plan, as Spark will run them."""
    found: set[int] = set()

    def items(seq) -> list:  # a Scala Seq, through py4j
        return [seq.apply(i) for i in range(seq.size())]

    def walk_expression(expression) -> None:
        if expression.getClass().getSimpleName() == "PythonUDF":
            found.add(expression.evalType())
        for child in items(expression.children()):
            walk_expression(child)

    def walk_plan(plan) -> None:
        for expression in items(plan.expressions()):
            walk_expression(expression)
        for child in items(plan.children()):
            walk_plan(child)

    walk_plan(df._jdf.queryExecution().optimizedPlan())
    return found


@pytest.mark.spark
@pytest.mark.parametrize("mode", ["path", "bytes"])
@pytest.mark.parametrize("name", SPARK_AND_DRIVER)
def test_strategy_sees_every_row_agrees_row_by_row_and_builds_the_eval_type_it_records(
    tmp_path, spark, seeds, tiny_model, name, mode
) -> None:
    from pyspark.util import PythonEvalType

    # The tiny ONNX model: the strategies are the subject (test_loop runs the CNN in Spark's Python
    # workers). Five partitions on two cores: each Python worker runs several tasks, so a strategy that
    # carries anything of one task into the next (Spark caches predict_batch_udf's function per worker)
    # must still count every row.
    runner = make_runner(
        tmp_path, seeds, tiny_model, size=21, input_mode=mode, repeats=1, spark={"partitions": 5}
    )
    results, parity = run_case(runner, get_strategy(name), spark, tiny_model)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert all(r.rows == 21 and r.skipped == 0 for r in results)
    # The reference is the driver's own prediction of every seed image, so agreeing with it row by
    # row is agreeing with every other strategy.
    assert parity[0].status == "ok" and parity[0].rows == 21 and parity[0].label_mismatches == 0
    assert parity[0].max_score_diff <= 1e-4
    strategy = get_strategy(name)
    if isinstance(strategy, SparkStrategy):
        predictor = Predictor.for_spec(
            tiny_model, tiny_model.data, batch_size=4, skip_bad=False, threads=None
        )
        df = runner.workload.spark_input(spark, {}, 21, None)
        out = strategy.transform(df, predictor, runner.workload.source)
        recorded = getattr(PythonEvalType, strategy.eval_type)
        assert built_eval_types(out) == (set() if recorded == PythonEvalType.NON_UDF else {recorded})
        # The timed job, an aggregate of the tally, keeps the model in its plan: nothing is pruned.
        timed = sinks.tally_sum(out, tally_width(predictor.n_classes))
        assert built_eval_types(timed) == built_eval_types(out)
    else:
        assert strategy.eval_type == "none"


def test_every_strategy_is_one_kind_and_names_its_eval_type() -> None:
    from pyspark.util import PythonEvalType

    for name in STRATEGY_NAMES:
        strategy = get_strategy(name)
        assert strategy.name == name
        assert isinstance(strategy, SparkStrategy) != isinstance(strategy, LocalStrategy)
        if strategy.uses_spark:
            assert hasattr(PythonEvalType, strategy.eval_type), strategy.eval_type
        else:
            assert strategy.eval_type == "none"
        # The plan, which imports no strategy, knows which run on the driver alone.
        assert (name in DRIVER_ONLY) == (not strategy.uses_spark)


@pytest.mark.spark
def test_an_unsupported_strategy_is_recorded_with_its_reason(
    tmp_path, spark, seeds, tiny_model, monkeypatch
) -> None:
    from pyspark.sql import functions as F

    monkeypatch.delattr(F, "arrow_udf")
    runner = make_runner(tmp_path, seeds, tiny_model, size=5)
    results, parity = run_case(runner, get_strategy("arrow_udf"), spark, tiny_model)
    assert [r.status for r in results] == ["unsupported"] and "Spark 4.1" in results[0].error
    assert parity == []


@pytest.mark.parametrize("mode", ["skip", "fail"])
def test_python_pipelined_workers_count_bad_images_or_fail_naming_the_file(
    tmp_path, seeds, tiny_model, mode
) -> None:
    broken = tmp_path / "cat.99.jpeg"
    broken.write_bytes(Path(seeds[0].path).read_bytes()[:300])
    runner = make_runner(
        tmp_path, [*seeds, SeedImage(str(broken), "cat")], tiny_model, size=30, on_bad_image=mode
    )
    expected_skips = int((runner.workload.datasets[30]["path"] == str(broken)).sum())
    assert expected_skips > 0
    results, _ = run_case(runner, get_strategy("python_pipelined"), None, tiny_model)
    if mode == "skip":
        assert all(r.status == "ok" and r.rows == 30 and r.skipped == expected_skips for r in results)
    else:
        assert [r.status for r in results] == ["failed"] and "cat.99.jpeg" in results[0].error
    # The workers are fit for the next case, a failed one included.
    results, _ = run_case(
        make_runner(tmp_path, seeds, tiny_model, size=9),
        get_strategy("python_pipelined"),
        None,
        tiny_model,
    )
    assert all(r.status == "ok" and r.rows == 9 for r in results)
