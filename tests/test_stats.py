"""Pure statistics on made-up numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from udfbench.stats import case_summaries, cost_fits, linear_fit, ratio_ci, summarize


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
