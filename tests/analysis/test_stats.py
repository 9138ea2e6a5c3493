"""Pure statistics on made-up numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from udfbench.analysis.answer import flags
from udfbench.analysis.check import Options, decide_fit
from udfbench.analysis.stats import (
    linear_fit,
    min_repeats,
    ratio_ci,
    slope_intercept_ci,
    smallest_p_value,
    summarize,
    without_slow_outliers,
)
from udfbench.analysis.summary import case_summaries, cost_fits


def test_summarize_order_statistics() -> None:
    s = summarize([4.0, 1.0, 3.0, 2.0, 100.0])
    assert (s.count, s.min, s.median, s.max) == (5, 1.0, 3.0, 100.0)
    assert s.mean == pytest.approx(22.0)
    assert s.iqr == pytest.approx(4.0 - 2.0)
    assert s.std == pytest.approx(np.std([4, 1, 3, 2, 100], ddof=1))
    assert summarize([2.5]).std == 0.0
    with pytest.raises(ValueError):
        summarize([])


def test_linear_fit_recovers_fixed_and_per_row_cost() -> None:
    sizes = [100, 100, 500, 500, 1000, 1000]
    seconds = [3.0 + 0.02 * n for n in sizes]
    fit = linear_fit(sizes, seconds)
    assert fit is not None
    assert (
        fit.fixed_s == pytest.approx(3.0)
        and fit.per_row_s == pytest.approx(0.02)
        and fit.r2 == pytest.approx(1.0)
    )
    assert linear_fit([100, 100], [1.0, 2.0]) is None


def test_a_fixed_cost_interval_says_whether_it_is_above_below_or_not_distinguishable_from_zero() -> None:
    rng = np.random.default_rng(1)
    sizes = np.repeat([100, 200, 400], 4)
    noise = rng.normal(0, 0.05, sizes.size)
    clear = linear_fit(sizes, 1.0 + 0.01 * sizes + noise)
    assert clear.fixed_low < clear.fixed_s < clear.fixed_high and clear.fixed_low < 1.0 < clear.fixed_high
    assert clear.fixed_reading == "positive"
    assert linear_fit(sizes, 0.01 * sizes + noise).fixed_reading == "zero"
    assert linear_fit(sizes, -1.0 + 0.01 * sizes + noise).fixed_reading == "negative"
    assert linear_fit([100, 200], [2.0, 3.0]).fixed_reading == "unknown"  # two points: no interval


def test_repeats_for_half_width_scales_as_one_over_the_square_root() -> None:
    from udfbench.analysis.stats import repeats_for_half_width

    # An interval of +-20% (in logs) from 5 repeats narrows to +-10% with about 4 times as many.
    low, high = math.exp(-0.2), math.exp(0.2)
    assert repeats_for_half_width(low, high, 5, 0.1) == 20
    assert repeats_for_half_width(low, high, 5, 0.4) == 6  # already narrow enough: one more at least
    assert repeats_for_half_width(low, high, 5, 0.0) is None


def test_ratio_ci_brackets_the_true_ratio_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    base, cur = rng.normal(10, 0.3, 9), rng.normal(12.5, 0.3, 9)
    est = ratio_ci(base, cur, seed=1)
    assert est.low < est.ratio < est.high
    assert est.low > 1.15 and est.high < 1.35
    assert ratio_ci(base, cur, seed=1) == est


def _rows(
    strategy: str, size: int, seconds: list[float], warmup: float | None = 9.0, skipped: int = 0
) -> list[dict]:
    base = {
        "skipped": skipped,
        "cluster": "local",
        "strategy": strategy,
        "size": size,
        "input_mode": "path",
        "sink": "noop",
        "batch_size": 32,
        "arrow_batch_size": 10000,
        "partitions": None,
        "task_cpus": 1,
        "threads": None,
        "eval_type": "none",
        "cores": 2,
        "slots": 2,
        "error": "",
        "load_s": 0.0,
        "decode_s": 0.0,
        "predict_s": 0.0,
    }
    rows = [dict(base, repeat=1, warmup=True, status="ok", seconds=warmup)] if warmup else []
    rows += [dict(base, repeat=i + 1, warmup=False, status="ok", seconds=s) for i, s in enumerate(seconds)]
    return rows


def test_case_summaries_relative_to_python_ignores_warmups() -> None:
    results = pd.DataFrame(
        _rows("python", 100, [2.0, 2.2, 1.8])
        + _rows("udf", 100, [4.0, 4.4, 3.6])
        + _rows("udf", 200, [8.0, 8.0])
    )
    table = case_summaries(results).set_index(["strategy", "size"])
    assert table.loc[("udf", 100), "median"] == pytest.approx(4.0)
    assert table.loc[("udf", 100), "relative"] == pytest.approx(0.5)
    assert table.loc[("udf", 100), "cold_s"] == 9.0
    # Cold start is the first warmup of a strategy's session only: its later cases start warm.
    assert math.isnan(table.loc[("udf", 200), "cold_s"])
    assert table.loc[("udf", 100), "images_per_s"] == pytest.approx(25.0)
    assert math.isnan(table.loc[("udf", 200), "relative"])  # no python at 200 rows
    fits = cost_fits(results).set_index("strategy")
    assert fits.loc["udf", "per_row_s"] == pytest.approx(0.04)


def test_skipped_images_are_not_throughput() -> None:
    # 8 of 30 rows unreadable and skipped: 22 images predicted in a median of 2 seconds.
    table = case_summaries(pd.DataFrame(_rows("python", 30, [2.0, 2.0, 2.0], skipped=8)))
    assert table["skipped"].tolist() == [8]
    assert table["images_per_s"].tolist() == [pytest.approx(11.0)]


def test_without_slow_outliers_drops_only_slow_runs_beyond_the_fence() -> None:
    runs = [1.0, 1.1, 0.9, 1.05, 0.95, 9.0]
    assert sorted(without_slow_outliers(runs)) == sorted(runs[:-1])
    assert list(without_slow_outliers([0.1, 1.0, 1.1, 1.05, 0.95])) == [
        0.1,
        1.0,
        1.1,
        1.05,
        0.95,
    ]  # fast: kept
    assert list(without_slow_outliers([1.0, 50.0, 1.2])) == [1.0, 50.0, 1.2]  # too few to fence


def test_min_repeats_is_the_fewest_that_can_reach_the_level() -> None:
    # 3 against 3 can at best give p = 0.1; 4 against 4 gives 2/70 < 0.05.
    assert smallest_p_value(3, 3) == pytest.approx(0.1)
    assert min_repeats(0.05) == 4 and min_repeats(0.2) == 3
    assert smallest_p_value(min_repeats(0.01), min_repeats(0.01)) < 0.01


def test_slope_intercept_ci_recovers_a_doubled_per_row_cost_and_an_equal_fixed_cost() -> None:
    rng = np.random.default_rng(1)
    sizes = np.repeat([100, 200, 400], 5)
    before = 2.0 + 0.01 * sizes + rng.normal(0, 0.05, sizes.size)
    after = 2.0 + 0.02 * sizes + rng.normal(0, 0.05, sizes.size)
    found = slope_intercept_ci((sizes, before), (sizes, after))
    assert found["per_row"].low < 2.0 < found["per_row"].high and found["per_row"].low > 1.5
    assert found["fixed"].low < 1.0 < found["fixed"].high


def test_a_fixed_cost_fitted_below_zero_on_either_side_gives_no_ratio() -> None:
    # Noisy runs of a cheap case can fit a negative intercept; a ratio to it means nothing, and the
    # gate must say so rather than take its logarithm.
    sizes = np.repeat([100, 200, 400], 4)
    before = 0.5 + 0.01 * sizes + np.tile([0.0, 0.02, -0.02, 0.01], 3)
    after = -0.5 + 0.01 * sizes + np.tile([0.0, 0.02, -0.02, 0.01], 3)
    for baseline, current in (((sizes, before), (sizes, after)), ((sizes, after), (sizes, before))):
        found = slope_intercept_ci(baseline, current)
        assert math.isnan(found["fixed"].ratio) and found["per_row"].ratio == pytest.approx(1.0, rel=0.01)
        verdict = decide_fit("c/fixed", "fixed", found["fixed"], Options(), repeats=4)
        assert verdict.status == "undecided" and "not clearly above zero" in verdict.note


def test_a_fraction_of_the_limit_above_the_plausible_is_flagged() -> None:
    # 100 rows in a median of 2 s is 50 images/s: 0.5 of a limit of 100, 1.25 of a limit of 40.
    results = pd.DataFrame(_rows("python", 100, [2.0, 2.0, 2.0]) + _rows("udf", 100, [2.0, 2.0, 2.0]))
    results["cluster"] = ["fast"] * 4 + ["slow"] * 4
    table = case_summaries(results, limits={"fast": 100.0, "slow": 40.0}).set_index("cluster")
    assert (
        table.loc["fast", "fraction_of_limit"] == pytest.approx(0.5) and not table.loc["fast", "implausible"]
    )
    assert table.loc["slow", "fraction_of_limit"] == pytest.approx(1.25) and table.loc["slow", "implausible"]
    assert math.isnan(case_summaries(results)["fraction_of_limit"].iloc[0])  # not calibrated: no figure
    assert "implausible" in " ".join(flags(table.loc["slow"].to_dict()))


def test_busy_runs_and_oversubscription_are_counted_and_flagged() -> None:
    results = pd.DataFrame(_rows("pandas_udf", 100, [2.0, 2.0, 2.0]))
    results["foreign_cpu_pct"] = [0.0, 35.0, 40.0, 2.0]  # the warmup first, then three measured runs
    results["python_workers"], results["worker_threads"], results["oversubscribed"] = 2, 2, True
    row = case_summaries(results).iloc[0].to_dict()
    assert row["busy_runs"] == 2 and row["foreign_cpu_pct"] == pytest.approx(35.0) and row["oversubscribed"]
    warnings = " ".join(flags(row))
    assert "2 of 3 runs on a busy machine" in warnings and "2 Python workers x 2 math threads" in warnings
