"""Comparing runs and clusters: matched where they overlap, ratios with intervals, differences named."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.commands import run_cli
from tests.rundirs import bench_config, case_rows, result_row, write_run_folder
from udfbench.analysis import stats
from udfbench.analysis.compare import ABSENT, Difference, compare_runs
from udfbench.errors import UserError
from udfbench.plan.config import scaled_name
from udfbench.report.compare import write_comparison

EVIL = '<img src=x onerror="alert(1)">'
VERSIONS = {"python": "3.11.7", "pyspark": "4.3.0", "java": "17"}
MACHINE = {"cpu": "x", "cores": 2, "hostname": "a"}
SPARK_CONF = {"spark.master": "local[2]", "spark.app.id": "local-1", "spark.driver.port": "40001"}


def write_run(
    folder: Path,
    seconds: dict[tuple[str, int], list[float]],
    cluster: str = "local",
    cores: int = 2,
    more_clusters: dict[str, dict[tuple[str, int], list[float]]] | None = None,
    **meta: object,
) -> Path:
    """A run folder whose measured runs of (strategy, size) on ``cluster`` took exactly ``seconds``.

    Each case also gets a slow warmup run and a failed run, which must never count as timings.
    """
    rows = []
    for name, timings in {cluster: seconds, **(more_clusters or {})}.items():
        for (strategy, size), measured in timings.items():
            case = {"cluster": name, "cores": cores}
            rows += case_rows(folder.name, strategy, size, measured, warmup_s=measured[0] * 10, **case)
            rows.append(result_row(folder.name, strategy, size, 0.001, status="failed", error="x", **case))
    values = {
        "config": bench_config(batch_size=32, output_dir=str(folder.parent)),
        "versions": VERSIONS,
        "machine": MACHINE,
        "spark_conf": {cluster: SPARK_CONF},
    }
    return write_run_folder(folder, rows, **(values | meta))


def samples(center: float, seed: int, count: int = 7) -> list[float]:
    return list(center * np.random.default_rng(seed).lognormal(0, 0.05, count))


def cases(strategies=("python", "udf"), sizes=(100, 200), scale: float = 1.0, seed: int = 0) -> dict:
    return {
        (s, n): samples(scale * (0.1 + 0.001 * n) * (1 + i), seed + i * 10 + n)
        for i, s in enumerate(strategies)
        for n in sizes
    }


def test_ratio_interval_and_cost_per_core_on_constructed_data(tmp_path) -> None:
    a_times = cases()
    b_times = {key: [2 * v for v in values] for key, values in cases(seed=99).items()}
    a = write_run(tmp_path / "a", a_times, cores=2)
    b = write_run(tmp_path / "b", b_times, cores=4)
    table = compare_runs([a, b]).table.set_index(["case", "column"])

    first, second = table.loc[("udf/n=200", "a")], table.loc[("udf/n=200", "b")]
    assert first["runs"] == second["runs"] == 7  # neither the warmup nor the failed run counts
    assert first["median_s"] == pytest.approx(np.median(a_times[("udf", 200)]))
    assert math.isnan(first["ratio_to_first"])
    expected = stats.ratio_ci(a_times[("udf", 200)], b_times[("udf", 200)])
    assert second["ratio_to_first"] == pytest.approx(
        np.median(b_times[("udf", 200)]) / np.median(a_times[("udf", 200)])
    )
    assert (second["ratio_low"], second["ratio_high"]) == pytest.approx((expected.low, expected.high))
    assert second["ratio_low"] < second["ratio_to_first"] < second["ratio_high"]
    # Twice the cores: per core, throughput is the plain throughput halved, and a row costs twice the
    # core-seconds for the same time.
    assert second["images_per_s_per_core"] == pytest.approx(200 / second["median_s"] / 4)
    assert second["cost_ratio_to_first"] == pytest.approx(2 * second["ratio_to_first"])
    assert second["cost_ratio_low"] == pytest.approx(2 * second["ratio_low"])


def test_partial_overlap_is_compared_where_it_overlaps_and_the_rest_listed(tmp_path) -> None:
    a = write_run(tmp_path / "a", cases(sizes=(100, 200)))
    b = write_run(tmp_path / "b", cases(strategies=("python",), sizes=(100, 800)))
    comparison = compare_runs([a, b])
    assert set(comparison.table["case"]) == {"python/n=100"}
    assert comparison.only_in_some == [
        "python/n=200: not in b",
        "python/n=800: not in a",
        "udf/n=100: not in b",
        "udf/n=200: not in b",
    ]


def test_a_case_missing_from_the_first_run_is_compared_without_a_ratio(tmp_path) -> None:
    a = write_run(tmp_path / "a", cases(strategies=("python",)))
    b = write_run(tmp_path / "b", cases())
    c = write_run(tmp_path / "c", cases(seed=5))
    table = compare_runs([a, b, c]).table
    udf = table[table["strategy"] == "udf"]
    assert set(udf["column"]) == {"b", "c"} and udf["ratio_to_first"].isna().all()


def test_settings_versions_machine_and_spark_conf_that_differ_are_listed(tmp_path) -> None:
    a = write_run(tmp_path / "a", cases())
    b = write_run(
        tmp_path / "b",
        cases(),
        cores=8,
        config=bench_config(batch_size=64, output_dir="elsewhere"),
        versions={**VERSIONS, "java": "21"},
        machine={**MACHINE, "hostname": "b", "cores": 16},
        spark_conf={"local": {**SPARK_CONF, "spark.app.id": "local-2", "spark.executor.memory": "4g"}},
    )
    assert compare_runs([a, b]).differences == [
        Difference("config.batch_size", ["32", "64"]),
        Difference("executor cores", ["2", "8"]),
        Difference("machine.cores", ["2", "16"]),
        Difference("spark.executor.memory", [ABSENT, "4g"]),
        Difference("versions.java", ["17", "21"]),
    ]  # run identity (app id, driver port, host name, output folder) is not a difference


def test_clusters_of_one_run_are_columns_matched_without_the_cluster(tmp_path) -> None:
    clusters = [
        {"name": "local", "kind": "local", "cores": 2},
        {"name": "standalone", "kind": "standalone", "workers": 3, "worker_cores": 1},
    ]
    meta = {
        "config": bench_config(batch_size=32, clusters=clusters),
        "spark_conf": {"local": SPARK_CONF, "standalone": {**SPARK_CONF, "spark.master": "spark://h:7077"}},
    }
    run = write_run(tmp_path / "r", cases(), more_clusters={"standalone": cases(scale=1.5)}, **meta)
    alone = compare_runs([run])
    assert [c.label for c in alone.columns] == ["local", "standalone"]
    assert len(alone.table) == 2 * 4 and alone.only_in_some == []
    assert {d.setting for d in alone.differences} == {
        "cluster.kind",
        "cluster.cores",
        "cluster.workers",  # settings read back through the config models: defaults count, 2 against 3
        "spark.master",
    }
    other = write_run(tmp_path / "o", cases())
    labels = [c.label for c in compare_runs([other, run]).columns]
    assert labels == ["o", "r/local", "r/standalone"]
    assert set(compare_runs([other, run]).summary["cluster"]) == set(labels)  # a plot series each


def test_the_scaled_copies_of_one_cluster_are_told_apart_by_their_cores(tmp_path) -> None:
    """``scaling`` runs a cluster once per core count: comparing the run puts the counts side by side."""
    one, two = scaled_name("local", 1), scaled_name("local", 2)
    rows = []
    for name, cores, scale in ((one, 1, 1.0), (two, 2, 0.55)):
        for (strategy, size), measured in cases(scale=scale).items():
            rows += case_rows("r", strategy, size, measured, cluster=name, cores=cores)
    config = bench_config(batch_size=32, scaling={"cores": [1, 2]})
    run = write_run_folder(tmp_path / "r", rows, config=config, versions=VERSIONS, machine=MACHINE)
    compared = compare_runs([run])
    assert [c.label for c in compared.columns] == [one, two]
    assert {d.setting: d.values for d in compared.differences}["cluster.cores"] == ["1", "2"]
    per_core = compared.table.set_index(["case", "column"])["images_per_s_per_core"]
    assert per_core[("udf/n=100", two)] < per_core[("udf/n=100", one)]  # 0.55 of the time on twice the cores


def test_html_escapes_names_embeds_every_plot_and_needs_no_network(tmp_path) -> None:
    folder = tmp_path / "<b>run-a"
    a = write_run(folder, cases(strategies=("python", EVIL)), cluster=EVIL)
    # A run named after its folder may hold "$": matplotlib must draw it, not parse it as a formula.
    b = write_run(tmp_path / "run-b $\\bogus{$", cases(strategies=("python", EVIL), seed=3))
    html = write_comparison(compare_runs([a, b]), tmp_path / "out").read_text()
    assert "<img src=x" not in html and "<b>run-a" not in html
    assert "&lt;img src=x" in html and "&lt;b&gt;run-a" in html
    # time, throughput, throughput per core, speed-up, cold start, where the time goes
    assert html.count("data:image/png;base64,") == 6 and "Not shown" not in html
    assert "http://" not in html and "https://" not in html
    written = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert len(written) == 2 * 4 and set(written["column"]) == {"<b>run-a", "run-b $\\bogus{$"}


def test_nothing_to_compare_is_a_user_error(tmp_path) -> None:
    a = write_run(tmp_path / "a", cases(strategies=("python",)))
    with pytest.raises(UserError, match="needs two runs"):
        compare_runs([a])
    c = write_run(tmp_path / "c", cases(strategies=("udf",)))
    with pytest.raises(UserError, match="no case"):
        compare_runs([a, c])


def test_cli_writes_next_to_the_first_run_and_refuses_bad_folders_in_one_line(tmp_path) -> None:
    a = write_run(tmp_path / "reports" / "a", cases())
    b = write_run(tmp_path / "reports" / "b", cases(scale=1.5))
    result = run_cli("compare", str(a), str(b), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "udf/n=200" in result.stdout and "×1.5" in result.stdout
    assert len(list((tmp_path / "reports").glob("compare-*/compare.html"))) == 1

    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    no_overlap = write_run(tmp_path / "u", cases(strategies=("bogus",)))
    for args, message in [
        ((str(a), str(tmp_path / "nope")), "run folder not found"),
        ((str(a), str(not_a_run)), "meta.json"),
        ((str(a), str(no_overlap)), "no case"),
    ]:
        failed = run_cli("compare", *args, "--out", str(tmp_path / "x"), timeout=120)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    in_the_way = run_cli("compare", str(a), str(b), "--out", str(a / "meta.json"), timeout=120)
    assert in_the_way.returncode == 2 and in_the_way.stderr.strip() == (
        f"udfbench: error: --out: {a / 'meta.json'} is a file, not a folder"
    )


@pytest.mark.slow
def test_two_real_runs_compare_end_to_end(real_runs, tmp_path) -> None:
    out = tmp_path / "cmp"
    result = run_cli("compare", str(real_runs[0]), str(real_runs[1]), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(out / "compare.csv")
    assert sorted(set(table["case"])) == sorted(
        f"{s}/n={n}" for s in ("pandas_udf", "python", "udf") for n in (8, 16)
    )
    second = table[table["column"] == "second"]
    assert len(second) == 6  # 3 strategies x 2 sizes: the checks below are over every case
    assert (second["runs"] == 4).all() and second["ratio_to_first"].gt(0).all()
    assert (second["ratio_low"] <= second["ratio_to_first"]).all()
    assert (second["ratio_to_first"] <= second["ratio_high"]).all()
    # Same config, same machine: nothing differs once ports, app ids and folders are set aside.
    assert (
        "Settings, versions, machine and Spark settings are the same." in (out / "compare.html").read_text()
    )
    assert "differs:" not in result.stdout


def test_runs_of_different_sizes_are_compared_by_their_per_row_cost(tmp_path) -> None:
    # seconds = (0.1 + 0.001 n) * (1 + strategy index): udf costs 2 ms a row; b is twice as slow.
    a = write_run(tmp_path / "a", cases(sizes=(100, 200)))
    b = write_run(tmp_path / "b", cases(sizes=(300, 600), scale=2.0))
    comparison = compare_runs([a, b])
    assert comparison.table.empty
    costs = comparison.costs.set_index(["case", "column"])
    assert costs.loc[("udf", "a"), "per_row_s"] == pytest.approx(0.002, rel=0.15)
    assert costs.loc[("udf", "b"), "per_row_ratio_to_first"] == pytest.approx(2.0, rel=0.2)
    assert math.isnan(costs.loc[("udf", "a"), "per_row_ratio_to_first"])
    html = write_comparison(comparison, tmp_path / "out").read_text()
    assert "No case has the same size" in html and "Cost model per column" in html
    assert (tmp_path / "out" / "compare-costs.csv").exists()
    result = run_cli("compare", str(a), str(b), "--out", str(tmp_path / "cli"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "No case has the same size" in result.stdout and "per row ×2" in result.stdout


def test_a_comparison_that_cannot_be_written_is_one_line_naming_the_file(tmp_path) -> None:
    a = write_run(tmp_path / "a", cases())
    b = write_run(tmp_path / "b", cases(scale=1.5))
    (tmp_path / "out" / "compare.csv").mkdir(parents=True)
    result = run_cli("compare", str(a), str(b), "--out", str(tmp_path / "out"), timeout=120)
    in_the_way = tmp_path / "out" / "compare.csv"
    assert result.returncode == 2
    assert result.stderr == f"udfbench: error: {in_the_way}: cannot write it: Is a directory\n"


@pytest.mark.filterwarnings("error::FutureWarning")
def test_runs_with_a_column_empty_in_one_compare_without_pandas_warnings(tmp_path) -> None:
    # The driver loop has no worker memory: stacking its run with one that has printed pandas'
    # FutureWarning about all-NA columns on every compare.
    a = write_run_folder(tmp_path / "a", case_rows("a", "python", 100, [1.0, 1.1, 1.2]))
    measured = {"worker_peak_rss_mb": 300.0, "python_workers": 2, "oversubscribed": False}
    rows = [
        *case_rows("b", "python", 100, [1.0, 1.2, 1.1]),
        *case_rows("b", "udf", 100, [2.0, 2.1], **measured),
    ]
    comparison = compare_runs([a, write_run_folder(tmp_path / "b", rows)])
    assert comparison.results["worker_peak_rss_mb"].max() == 300.0 and len(comparison.results) == 8
