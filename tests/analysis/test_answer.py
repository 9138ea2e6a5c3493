"""The answer: the fastest strategy per size, by how much, how close to the limit, what bounds it."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.rundirs import result_row
from udfbench.analysis.answer import answers, bound_by, headline
from udfbench.analysis.summary import case_summaries


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


def test_a_winner_is_named_only_when_its_interval_against_the_runner_up_excludes_1() -> None:
    results = runs(
        {"python": [4.0, 4.1, 3.9, 4.05], "udf": [2.0, 2.1, 1.9, 2.05], "pandas_udf": [1.0, 1.05, 0.95, 1.02]}
    )
    (answer,) = answers(case_summaries(results), results)
    assert answer.runner_up.low > 1 and answer.tied == () and answer.repeats_to_separate is None
    assert "pandas_udf is fastest" in headline(answer) and "tie" not in headline(answer)


def test_strategies_within_noise_of_the_fastest_are_a_tie_that_says_what_would_separate_them() -> None:
    # pandas_udf and udf overlap run for run; python is clearly slower.
    results = runs(
        {
            "python": [4.0, 4.1, 3.9, 4.05],
            "udf": [1.02, 1.3, 0.9, 1.15],
            "pandas_udf": [1.0, 1.25, 0.92, 1.1],
        }
    )
    (answer,) = answers(case_summaries(results), results)
    assert answer.fastest == "pandas_udf" and [lead.name for lead in answer.tied] == ["udf"]
    assert answer.tied[0].low <= 1 <= answer.tied[0].high
    assert answer.repeats_to_separate is not None and answer.repeats_to_separate > 4
    line = headline(answer)
    assert line.startswith(
        "local, 100 rows: a tie between pandas_udf and udf, within noise of each other: "
        "pandas_udf measured fastest at"
    )
    assert "is fastest" not in line
    assert f"about {answer.repeats_to_separate} repeats each would separate them" in line
    assert answer.reference.name == "python" and "as fast as python (95% interval" in line
    # Three alike: all are named, and python (one of them) is not named twice.
    alike = runs(
        {
            "python": [1.01, 1.2, 0.95, 1.1],
            "udf": [1.02, 1.3, 0.9, 1.15],
            "pandas_udf": [1.0, 1.25, 0.92, 1.1],
        }
    )
    (answer,) = answers(case_summaries(alike), alike)
    assert {lead.name for lead in answer.tied} == {"python", "udf"} and answer.reference is None
    assert "pandas_udf, " in headline(answer) and headline(answer).count("as fast as python") == 1


def test_identical_timings_are_a_tie_no_repeats_would_separate() -> None:
    results = runs({"udf": [1.0, 1.1, 0.9], "pandas_udf": [1.0, 1.1, 0.9]})
    (answer,) = answers(case_summaries(results), results)
    assert answer.tied and answer.repeats_to_separate is None
    assert "no practical number of repeats would separate them: for speed, take either" in headline(answer)


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


def test_a_case_above_a_busy_calibrations_limit_is_not_called_implausible() -> None:
    from udfbench.analysis.answer import flags

    results = runs({"python": [1.0, 1.05, 0.95]})  # 100 images/s against a limit of 80
    quiet = case_summaries(results, limits={"local": 80.0}).iloc[0]
    busy = case_summaries(results, limits={"local": 80.0}, limit_busy=True).iloc[0]
    assert quiet["implausible"] and "is implausible" in flags(quiet)[0]
    assert not busy["implausible"] and busy["fraction_of_limit"] == pytest.approx(1.25)
    assert flags(busy) == (
        "1.25 of the machine's limit, but the limit was calibrated on a busy machine (understated): "
        "not judged implausible",
    )


def test_automatic_repeats_say_how_many_runs_a_case_took_and_whether_it_converged() -> None:
    from udfbench.analysis.answer import flags, repeats_note

    def case(strategy: str, values: list[float], why: str) -> list[dict]:
        return [
            result_row(
                "r", strategy, 100, s, repeat=i + 1, stopped_because=why if i == len(values) - 1 else None
            ).model_dump()
            for i, s in enumerate(values)
        ]

    results = pd.DataFrame(
        case("python", [1.0, 1.01, 0.99, 1.0, 1.005], "converged")
        + case("udf", [1.0, 1.4, 0.7, 1.2, 0.9, 1.3], "max_repeats")
    )
    table = case_summaries(results).set_index("strategy")
    assert table.loc["python", "count"] == 5 and table.loc["python", "converged"] == True  # noqa: E712
    assert table.loc["udf", "count"] == 6 and table.loc["udf", "converged"] == False  # noqa: E712
    assert table.loc["udf", "stopped_because"] == "max_repeats"
    python, udf = table.loc["python"], table.loc["udf"]
    assert repeats_note(python).startswith("converged after 5 runs (median ±") and not repeats_note(udf)
    assert any(f.startswith("not converged: max_repeats stopped it after 6 runs") for f in flags(udf))
    fixed = case_summaries(runs({"python": [1.0, 1.1, 0.9]})).iloc[0]
    assert fixed["stopped_because"] == "" and pd.isna(fixed["converged"]) and not repeats_note(fixed)


def test_a_driver_only_case_beside_another_cluster_is_judged_against_that_clusters_limit() -> None:
    # python ran once, on the big cluster (100 images/s, 0.25 of its limit); beside the small cluster,
    # whose limit is 50 images/s, the same speed is 2.0 of its limit: implausible there.
    results = pd.concat(
        [
            runs({"python": [1.0, 1.05, 0.95]}, cluster="big"),
            runs({"pandas_udf": [4.0, 4.1, 3.9]}, cluster="small"),
        ]
    )
    by_cluster = {
        a.cluster: a for a in answers(case_summaries(results, limits={"big": 400.0, "small": 50.0}), results)
    }
    beside = by_cluster["small"]
    assert beside.fastest == "python" and beside.fraction_of_limit == pytest.approx(2.0)
    assert any("implausible" in warning for warning in beside.warnings)
    assert by_cluster["big"].fraction_of_limit == pytest.approx(0.25)
    assert not any("implausible" in warning for warning in by_cluster["big"].warnings)
