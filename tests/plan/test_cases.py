"""The cases a config asks for: every combination once, the driver-only strategies once per run."""

from __future__ import annotations

from pathlib import Path

from tests.commands import write_config
from tests.rundirs import bench_config, case_rows, write_run_folder
from udfbench.plan.cases import cases, estimate_seconds, total_runs
from udfbench.plan.config import load_config
from udfbench.rundir.identity import case_ids

TWO_CLUSTERS = """
    dataset: {sizes: [10, 20]}
    strategies: [python, udf, python_pipelined]
    warmup: 1
    repeats: 2
    clusters:
      - {name: local2, kind: local, cores: 2}
      - {name: sa, kind: standalone}
"""


def test_driver_only_strategies_run_once_not_once_per_cluster(tmp_path: Path) -> None:
    # python never uses a cluster: it was run, and ranked, again on every cluster.
    config = load_config(write_config(tmp_path, TWO_CLUSTERS))
    planned = {(c.cluster.name, c.strategy) for c in cases(config)}
    assert planned == {("local2", "python"), ("local2", "python_pipelined"), ("local2", "udf"), ("sa", "udf")}
    assert total_runs(config) == 4 * 2 * 3
    one_cluster = load_config(write_config(tmp_path, TWO_CLUSTERS.split("    clusters:")[0]))
    assert estimate_seconds(config) < 2 * estimate_seconds(one_cluster)  # 4 strategy runs, not 6


UDF = "SQL_BATCHED_UDF"


def _two_cluster_run(folder: Path) -> Path:
    """python measured once, on the first cluster; udf on both, twice as fast on the second."""
    clusters = [{"name": "local2", "kind": "local", "cores": 2}, {"name": "sa", "kind": "standalone"}]
    rows = [
        *case_rows(folder.name, "python", 20, [0.98, 1.0, 1.0, 1.02], cluster="local2"),
        *case_rows(
            folder.name, "udf", 20, [1.98, 2.0, 2.0, 2.02], cluster="local2", eval_type="SQL_BATCHED_UDF"
        ),
        *case_rows(folder.name, "udf", 20, [0.49, 0.5, 0.5, 0.51], cluster="sa", eval_type="SQL_BATCHED_UDF"),
    ]
    config = bench_config(dataset={"sizes": [20]}, strategies=["python", "udf"], clusters=clusters)
    return write_run_folder(folder, rows, config=config)


def test_every_cluster_is_judged_against_the_driver_only_case_measured_once(tmp_path: Path) -> None:
    from udfbench.analysis.answer import answers, headline
    from udfbench.analysis.check import samples
    from udfbench.analysis.summary import case_summaries
    from udfbench.rundir.files import read_results

    results = read_results(_two_cluster_run(tmp_path / "r"))
    summary = case_summaries(results).set_index(["cluster", "strategy"])
    assert summary.loc[("sa", "udf"), "relative"] == 2.0 and summary.loc[("local2", "udf"), "relative"] == 0.5
    found = {a.cluster: a for a in answers(case_summaries(results), results)}
    assert found["local2"].fastest == "python" and found["sa"].fastest == "udf"
    assert headline(found["sa"]).startswith(
        "sa, 20 rows: udf is fastest at 40.0 images/s; 2.00x as fast as python"
    )
    # check --relative-to python divides the second cluster's cases by it too (they were dropped).
    relative = samples(results, "python", "r")
    judged = set(zip(relative["cluster"], relative["strategy"], strict=True))
    assert judged == {("local2", "udf"), ("sa", "udf")}
    assert relative[relative["cluster"] == "sa"]["value"].between(0.45, 0.55).all()


def test_confirming_a_regression_on_any_cluster_reruns_the_driver_only_reference(tmp_path: Path) -> None:
    from udfbench.measure.confirm import plan_reruns

    run = _two_cluster_run(tmp_path / "r")
    regressed = set(case_ids(read_results_of(run).query("cluster == 'sa' and strategy == 'udf'")))
    reruns = plan_reruns(run, regressed, "python", count=4)
    assert sorted((c.cluster.name, c.strategy) for s in reruns.plans for c in s.cases) == [
        ("local2", "python"),
        ("sa", "udf"),
    ]


def read_results_of(run: Path):
    from udfbench.rundir.files import read_results

    return read_results(run)


def test_automatic_repeats_are_estimated_between_the_minimum_and_max_repeats_within_the_budget(
    tmp_path: Path,
) -> None:
    def estimate(repeats, **more) -> float:
        settings = "".join(f"    {key}: {value}\n" for key, value in {"repeats": repeats, **more}.items())
        return estimate_seconds(
            load_config(write_config(tmp_path, TWO_CLUSTERS.replace("    repeats: 2\n", settings)))
        )

    at_least, at_most = estimate(4), estimate(12)
    assert estimate("auto", max_repeats=12, budget_minutes=600) == at_most  # the budget is no bound
    assert estimate("auto", max_repeats=12, budget_minutes=at_least / 60 / 2) == at_least  # the minimum
    between = (at_least + at_most) / 2
    assert estimate("auto", max_repeats=12, budget_minutes=between / 60) == between  # the budget's


def test_the_estimate_takes_this_machines_limit_per_core_from_a_last_run(tmp_path: Path) -> None:
    from udfbench.plan.cases import SLOWEST_FRACTION_OF_CORE_LIMIT, SLOWEST_IMAGES_PER_S

    config = load_config(write_config(tmp_path, TWO_CLUSTERS))
    # A machine whose limit per core gives the built-in figure estimates what the built-in figure does.
    assert estimate_seconds(
        config, SLOWEST_IMAGES_PER_S / SLOWEST_FRACTION_OF_CORE_LIMIT
    ) == estimate_seconds(config)
    assert estimate_seconds(config, 10.0) > estimate_seconds(config) > estimate_seconds(config, 1000.0)
