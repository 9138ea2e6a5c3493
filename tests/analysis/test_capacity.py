"""The capacity plan's arithmetic on made-up run folders: known costs project exactly, the scaling
laws recover known parameters, intervals widen with noise, and every refusal names what is missing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.rundirs import bench_config, case_rows, result_row, write_run_folder
from udfbench.analysis.capacity import ARITHMETIC_PAST, CapacityPlan, StrategyPlan, fit_scaling, plan_run
from udfbench.errors import UserError
from udfbench.plan.config import PlanConfig, scaled_name
from udfbench.rundir.limits import Limit

SIZES = (100, 300, 1000)
SPARK = "SQL_SCALAR_PANDAS_UDF"


def usl(n: float, lam: float = 50.0, sigma: float = 0.1, kappa: float = 0.01) -> float:
    """Rows per second at ``n`` cores under the Universal Scalability Law."""
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def write_costs(
    folder: Path,
    per_row: dict[int, float],
    fixed: float = 3.0,
    strategy: str = "pandas_udf",
    noise: float = 0.0,
    repeats: int = 3,
    sizes: tuple[int, ...] = SIZES,
    more: list | None = None,
    seed: int = 0,
    meta: dict | None = None,
    **fields: object,
) -> Path:
    """A run whose measured runs at each core count took ``fixed + size x per_row[cores]`` seconds,
    times lognormal ``noise``; several counts are one cluster's scaled copies, as ``scaling`` makes."""
    rng = np.random.default_rng(seed)
    scaled = len(per_row) > 1
    rows = list(more or [])
    values = {"eval_type": SPARK, "python_workers": 2, "worker_peak_rss_mb": 300.0} | fields
    for cores, cost in per_row.items():
        cluster = scaled_name("local", cores) if scaled else "local"
        for size in sizes:
            seconds = [(fixed + size * cost) * f for f in rng.lognormal(0.0, noise, repeats)]
            rows += case_rows(folder.name, strategy, size, seconds, warmup_s=60.0, cluster=cluster,
                              cores=cores, **({"python_workers": cores} | values))  # fmt: skip
    config = bench_config(scaling={"cores": sorted(per_row)}) if scaled else bench_config()
    return write_run_folder(folder, rows, config=config, **(meta or {}))


def only(plan: CapacityPlan, name: str = "pandas_udf") -> StrategyPlan:
    return next(s for s in plan.strategies if s.name == name)


def test_a_strategy_of_known_costs_projects_exactly(tmp_path: Path) -> None:
    """3 s fixed, 10 ms a row on 2 cores: 100 rows/s, 50 per core; on 5 x 4 cores, linear, 1000 rows/s."""
    run = write_costs(tmp_path / "run", {2: 0.01}, fixed=3.0)
    settings = PlanConfig(images=1_000_000, executors=5, cores_per_executor=4, price_per_core_hour=0.1)
    s = only(plan_run(run, settings))
    wall = 3.0 + 1_000_000 / 1000
    assert (s.executors, s.cores) == (5, 20)
    assert s.fixed_s.value == pytest.approx(3.0)
    assert s.wall_s.value == pytest.approx(wall)
    assert s.core_hours.value == pytest.approx(wall * 20 / 3600)
    assert s.cost.value == pytest.approx(wall * 20 / 3600 * 0.1)
    assert s.cost_per_million.value == pytest.approx(wall * 20 / 3600 * 0.1)  # a million images
    assert s.images_per_s_per_core.value == pytest.approx(50.0)
    assert s.measured[0].per_row_s.value == pytest.approx(0.01)
    # Runs that did not vary give an interval of no width, not a missing one.
    assert (s.wall_s.low, s.wall_s.high) == pytest.approx((wall, wall))
    assert s.scaling.law == "linear" and (s.scaling.sigma, s.scaling.kappa) == (0.0, 0.0)
    assert any("scaling assumed linear" in w for w in s.warnings)


def test_the_universal_scalability_law_recovers_known_parameters() -> None:
    cores = [1, 2, 4, 8]
    law = fit_scaling(cores, [usl(n) for n in cores])
    assert law.law == "usl"
    assert (law.lam, law.sigma, law.kappa) == pytest.approx((50.0, 0.1, 0.01))
    assert law.peak_cores == pytest.approx(math.sqrt(0.9 / 0.01))
    assert law.images_per_s(16) == pytest.approx(usl(16))


def test_two_core_counts_fit_amdahls_law_and_one_assumes_linear() -> None:
    amdahl = fit_scaling([1, 2], [usl(n, kappa=0.0) for n in (1, 2)])
    assert amdahl.law == "amdahl"
    assert (amdahl.lam, amdahl.sigma, amdahl.kappa) == pytest.approx((50.0, 0.1, 0.0))
    assert amdahl.peak_cores is None
    linear = fit_scaling([2], [80.0])
    assert (linear.law, linear.lam, linear.sigma) == ("linear", pytest.approx(40.0), 0.0)
    assert "assumed linear" in linear.note


def test_more_cores_faster_than_linear_is_projected_as_linear() -> None:
    """Two cores measured 2.5x one: no law extrapolates that, so σ stays at zero and it is said."""
    law = fit_scaling([1, 2], [40.0, 100.0])
    assert law.sigma == 0.0 and law.superlinear
    assert law.images_per_s(4) < 4 * 100.0 / 2 + 1e-9


def test_the_plan_fits_the_law_through_the_measured_core_counts(tmp_path: Path) -> None:
    per_row = {n: 1 / usl(n) for n in (1, 2, 4)}
    plan = plan_run(write_costs(tmp_path / "run", per_row), PlanConfig(images=10_000, cores_per_executor=2))
    s = only(plan)
    assert s.scaling.law == "usl" and s.scaling.cores_measured == (1, 2, 4)
    assert (s.scaling.lam, s.scaling.sigma, s.scaling.kappa) == pytest.approx((50.0, 0.1, 0.01))
    assert s.wall_s.value == pytest.approx(3.0 + 10_000 / usl(2))
    assert plan.measured_cores == (1, 2, 4)


def test_the_interval_widens_with_noise(tmp_path: Path) -> None:
    settings = PlanConfig(images=1_000_000, executors=2, cores_per_executor=2)
    widths = []
    for noise in (0.0, 0.01, 0.1):
        s = only(
            plan_run(write_costs(tmp_path / f"noise-{noise}", {1: 0.02, 2: 0.011}, noise=noise), settings)
        )
        assert s.wall_s.low <= s.wall_s.value <= s.wall_s.high
        widths.append(s.wall_s.high - s.wall_s.low)
    assert widths[0] == pytest.approx(0.0, abs=1e-6)
    assert widths[0] < widths[1] < widths[2]


def test_the_plan_is_reproducible(tmp_path: Path) -> None:
    run = write_costs(tmp_path / "run", {1: 0.02, 2: 0.011}, noise=0.05)
    settings = PlanConfig(images=1_000_000, deadline="1h")
    assert plan_run(run, settings) == plan_run(run, settings)


def test_the_deadline_takes_the_fewest_executors_that_finish_in_time(tmp_path: Path) -> None:
    """10 s fixed, 100 rows/s per core: a million rows on K x 4 cores take 10 + 2500 / K seconds;
    10 minutes need K ≥ 2500 / 590 = 4.2, so 5."""
    run = write_costs(tmp_path / "run", {1: 0.01}, fixed=10.0)
    s = only(plan_run(run, PlanConfig(images=1_000_000, cores_per_executor=4, deadline="10m")))
    assert s.meets_deadline and s.executors == 5
    assert s.wall_s.value == pytest.approx(10 + 2500 / 5)
    assert "5 executor(s) of 4 cores finish in time, by the upper end" in s.deadline_note


def test_the_deadline_is_met_by_the_upper_end_of_the_interval(tmp_path: Path) -> None:
    run = write_costs(tmp_path / "run", {1: 0.01}, fixed=10.0, noise=0.1)
    found = only(plan_run(run, PlanConfig(images=1_000_000, cores_per_executor=4, deadline="10m")))
    fewer = only(
        plan_run(run, PlanConfig(images=1_000_000, cores_per_executor=4, executors=found.executors - 1))
    )
    assert found.wall_s.high <= 600 < fewer.wall_s.high


def test_past_the_laws_peak_no_number_of_executors_meets_the_deadline(tmp_path: Path) -> None:
    per_row = {n: 1 / usl(n, kappa=0.05) for n in (1, 2, 4)}  # peaks at sqrt(0.9 / 0.05) = 4.2 cores
    s = only(plan_run(write_costs(tmp_path / "run", per_row), PlanConfig(images=10_000_000, deadline="1h")))
    assert s.meets_deadline is False and s.executors == 1  # 4 cores: 4.2 is past one executor's
    assert "peaks at 4 cores" in s.deadline_note and s.deadline_note in s.warnings


def test_amdahls_ceiling_is_why_no_number_of_executors_meets_a_deadline(tmp_path: Path) -> None:
    """σ = 0.1 at λ = 50: never above 500 images/s, so 2 million take over an hour however many cores;
    the plan is shown at the fewest executors within 10% of the least time."""
    run = write_costs(tmp_path / "run", {1: 0.02, 2: 0.011})
    s = only(plan_run(run, PlanConfig(images=2_000_000, cores_per_executor=4, deadline="1h")))
    assert s.meets_deadline is False
    assert "Amdahl's law caps the throughput at λ/σ = 500 images/s" in s.deadline_note
    least = 3.0 + 2_000_000 / 500
    assert (
        s.wall_s.value
        <= 1.1 * least
        < only(
            plan_run(run, PlanConfig(images=2_000_000, cores_per_executor=4, executors=s.executors - 1))
        ).wall_s.value
    )


def test_a_strategy_without_spark_runs_on_the_driver_whatever_the_executors(tmp_path: Path) -> None:
    run = write_costs(tmp_path / "run", {2: 0.01}, strategy="python", eval_type="none")
    one, many = (
        only(plan_run(run, PlanConfig(images=100_000, executors=k, cores_per_executor=4)), "python")
        for k in (1, 50)
    )
    assert one.driver_only and one.wall_s == many.wall_s and one.cores == 2 and one.executors == 0
    assert any("executors do not change it" in w for w in one.warnings)
    missed = only(plan_run(run, PlanConfig(images=100_000, deadline="1m")), "python")
    assert missed.meets_deadline is False and "executors do not help" in missed.deadline_note


def test_memory_per_executor_from_the_measured_peaks(tmp_path: Path) -> None:
    """Two Python workers on 2 cores: an executor of 4 cores runs four, each as large as the largest."""
    run = write_costs(tmp_path / "run", {2: 0.01}, executor_peak_rss_mb=900.0, driver_peak_rss_mb=500.0)
    s = only(plan_run(run, PlanConfig(images=100_000, cores_per_executor=4)))
    memory = s.memory
    assert (memory.where, memory.python_workers, memory.worker_mb) == ("per executor", 4, 300.0)
    assert (memory.python_mb, memory.jvm_mb, memory.driver_mb) == (1200.0, 900.0, 500.0)
    assert not any("memory grew" in w for w in s.warnings)


def test_memory_that_grows_with_the_rows_is_said(tmp_path: Path) -> None:
    rows = []
    for size, mb in zip(SIZES, (300.0, 400.0, 700.0), strict=True):
        rows += case_rows("run", "pandas_udf", size, [1 + size * 0.01] * 2, cores=2, eval_type=SPARK,
                          python_workers=2, worker_peak_rss_mb=mb)  # fmt: skip
    run = write_run_folder(tmp_path / "run", rows)
    s = only(plan_run(run, PlanConfig(images=1_000_000, executors=10, cores_per_executor=2)))
    growth = next(g for g in s.memory.growth if g.role == "Python worker")
    assert (growth.first_mb, growth.last_mb, growth.grew) == (300.0, 700.0, True)
    assert any("Python worker's memory grew with the rows" in w and "100,000 rows" in w for w in s.warnings)


def test_far_past_the_measured_cores_a_projection_is_only_arithmetic(tmp_path: Path) -> None:
    run = write_costs(tmp_path / "run", {1: 0.02, 2: 0.011})
    near = only(
        plan_run(run, PlanConfig(images=1000, executors=1, cores_per_executor=2 * int(ARITHMETIC_PAST)))
    )
    far = only(plan_run(run, PlanConfig(images=1000, executors=10, cores_per_executor=4)))
    assert any("past the 2 measured: extrapolated" in w for w in near.warnings)
    assert not any("only arithmetic" in w for w in near.warnings)
    assert any("projected at 40 cores from runs on at most 2 (20x more)" in w and "only arithmetic" in w
               for w in far.warnings)  # fmt: skip


def test_busy_implausible_and_crooked_runs_are_warned_of(tmp_path: Path) -> None:
    crooked = [result_row("run", "udf", size, s, cores=2, eval_type="SQL_BATCHED_UDF", repeat=r)
               for size, seconds in ((100, (1.0, 9.0)), (300, (2.0, 2.5)), (1000, (12.0, 30.0)))
               for r, s in enumerate(seconds, start=1)]  # fmt: skip
    limits = {"limits": {"local": Limit(20.0, None)}}  # images/s: every pandas_udf case is far above
    run = write_costs(tmp_path / "run", {2: 0.01}, more=crooked, meta=limits, foreign_cpu_pct=40.0)
    plan = plan_run(run, PlanConfig(images=1000))
    s = only(plan)
    assert any("9 of 9 measured runs were on a busy machine" in w for w in s.warnings)
    assert any("implausibly fast at n=1000 on local" in w for w in s.warnings)
    assert any("the cost model fits poorly at 2 cores" in w for w in only(plan, "udf").warnings)


def test_a_fixed_cost_fitted_below_zero_is_warned_of_and_a_positive_one_is_not(tmp_path: Path) -> None:
    # Seconds that grow faster than the rows (the larger runs slower per row): a negative intercept.
    rising = plan_run(
        write_costs(tmp_path / "rising", {2: 0.02}, fixed=-1.0, noise=0.01), PlanConfig(images=1000)
    )
    steady = plan_run(write_costs(tmp_path / "steady", {2: 0.01}, noise=0.01), PlanConfig(images=1000))
    assert any(w.startswith("the fixed cost fitted below zero (-1") for w in only(rising).warnings)
    assert not any("below zero" in w for w in only(steady).warnings)


def test_a_failed_strategy_is_left_out_and_listed(tmp_path: Path) -> None:
    failed = [result_row("run", "udf", 1000, 0.001, cores=2, status="failed", error="out of memory")]
    plan = plan_run(write_costs(tmp_path / "run", {2: 0.01}, more=failed), PlanConfig(images=1000))
    assert [s.name for s in plan.strategies] == ["pandas_udf"]
    assert [(item.name, item.reason) for item in plan.left_out] == [
        ("udf", "failed at n=1000 on local: out of memory")
    ]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"sizes": (100,)},
            "pandas_udf: a cost model needs measured runs at 2 or more sizes; has only n=100",
        ),
        ({"repeats": 1}, "pandas_udf: an interval needs 2 or more measured runs per size; has 1 at n=100"),
    ],
)
def test_a_run_without_enough_sizes_or_repeats_is_refused_naming_what_is_missing(
    tmp_path: Path, kwargs: dict, words: str
) -> None:
    run = write_costs(tmp_path / "run", {2: 0.01}, **kwargs)
    with pytest.raises(UserError) as caught:
        plan_run(run, PlanConfig(images=1000))
    assert caught.value.where == str(run / "results.csv")
    assert words in caught.value.message and "no strategy can be planned" in caught.value.message


def test_a_deadline_shorter_than_every_fixed_cost_is_refused(tmp_path: Path) -> None:
    run = write_costs(tmp_path / "run", {2: 0.01}, fixed=30.0)
    with pytest.raises(UserError) as caught:
        plan_run(run, PlanConfig(images=1000, deadline="20s"))
    assert caught.value.where == "deadline"
    assert "shorter than the fixed cost of every strategy" in caught.value.message
