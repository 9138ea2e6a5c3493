"""Every registered strategy, in both input modes: every row seen, the same answers as the reference."""

from __future__ import annotations

import pytest
from tests.test_runner import make_runner, run_case

from udfbench.strategies import STRATEGY_NAMES, get_strategy
from udfbench.strategies.base import LocalStrategy, SparkStrategy


@pytest.mark.spark
@pytest.mark.parametrize("mode", ["path", "bytes"])
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_strategy_sees_every_row_and_agrees_row_by_row(
    tmp_path, spark, seeds, small_model, name, mode
) -> None:
    runner = make_runner(tmp_path, seeds, small_model, size=21, input_mode=mode, repeats=1)
    results, parity = run_case(runner, get_strategy(name), spark, small_model)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert all(r.rows == 21 and r.skipped == 0 for r in results)
    assert parity[0].status == "ok" and parity[0].rows == 21 and parity[0].label_mismatches == 0
    assert parity[0].max_score_diff <= 1e-4


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


@pytest.mark.spark
def test_an_unsupported_strategy_is_recorded_with_its_reason(
    tmp_path, spark, seeds, small_model, monkeypatch
) -> None:
    from pyspark.sql import functions as F

    monkeypatch.delattr(F, "arrow_udf")
    runner = make_runner(tmp_path, seeds, small_model, size=5)
    results, parity = run_case(runner, get_strategy("arrow_udf"), spark, small_model)
    assert [r.status for r in results] == ["unsupported"] and "Spark 4.1" in results[0].error
    assert parity == []
