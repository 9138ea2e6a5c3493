"""The answer: the fastest strategy per size, by how much, how close to the limit, what bounds it."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.conftest import result_row

from udfbench.answer import answers, bound_by, headline
from udfbench.stats import case_summaries


def runs(times: dict[str, list[float]], size: int = 100, **columns) -> pd.DataFrame:
    rows = [
        result_row("r", strategy, size, seconds, repeat=index + 1, **columns).model_dump()
        for strategy, values in times.items()
        for index, seconds in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_the_fastest_is_named_with_its_margins_and_the_fraction_of_the_limit() -> None:
    results = runs({"python": [4.0, 4.1, 3.9], "udf": [2.0, 2.1, 1.9], "pandas_udf": [1.0, 1.05, 0.95]})
    (answer,) = answers(case_summaries(results, limits={"local": 125.0}), results)
    assert answer.fastest == "pandas_udf" and answer.images_per_s == pytest.approx(100.0)
    assert answer.runner_up.name == "udf" and answer.runner_up.ratio == pytest.approx(2.0)
    assert answer.reference.name == "python" and answer.reference.ratio == pytest.approx(4.0)
    assert answer.runner_up.low <= 2.0 <= answer.runner_up.high
    assert answer.fraction_of_limit == pytest.approx(0.8)
    line = headline(answer)
    assert line.startswith("local, 100 rows: pandas_udf is fastest") and "0.80 of the machine's limit" in line


def test_python_as_the_runner_up_is_named_once_and_one_run_has_no_interval() -> None:
    results = runs({"python": [2.0], "map_in_arrow": [1.0]})
    (answer,) = answers(case_summaries(results), results)
    assert answer.reference is None and answer.fraction_of_limit is None
    line = headline(answer)
    assert line.count("as fast as python") == 1 and "one run each: no interval" in line


def test_what_bounds_a_case_is_where_most_of_its_wall_time_goes() -> None:
    # Worker-side seconds are summed over task slots: 2 slots doing 3 s of predict is 1.5 s of wall.
    assert bound_by({"median": 2.0, "slots": 2, "decode_s": 1.0, "predict_s": 3.0}) == "predict"
    assert bound_by({"median": 2.0, "slots": 1, "decode_s": 1.2, "predict_s": 0.5}) == "decode"
    spark = {
        "median": 5.0,
        "slots": 2,
        "decode_s": 1.0,
        "predict_s": 1.0,
        "eval_type": "SQL_SCALAR_PANDAS_UDF",
    }
    assert bound_by(spark) == "Spark overhead"
    # The driver loop and its processes have no Spark to blame: what they add is the driver's.
    assert bound_by(spark | {"eval_type": "none"}) == "driver overhead"
