"""The report is a function of the results files: every plot present, every string escaped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import bench_config, result_row

from udfbench.report.build import build_report
from udfbench.results import RESULTS_FILE, CsvAppender, ResultRow, RunMeta, read_results, write_meta

EVIL = '<script>alert("x")</script>'


def make_run(folder: Path, strategies: list[str], sizes: list[int], sweep: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_meta(
        folder,
        RunMeta(
            run_id=folder.name,
            name=EVIL,
            status="complete",
            started_at="t",
            config_file=f"/x/{EVIL}.yaml",
            config=bench_config(name=EVIL),
        ),
    )
    out = CsvAppender(folder / RESULTS_FILE, ResultRow)
    rng = np.random.default_rng(0)
    for strategy_index, strategy in enumerate(strategies):
        for size in sizes:
            for batch_size in (sweep or {}).get("batch_size", [32]):
                for repeat, warmup in [(1, True), (1, False), (2, False), (3, False)]:
                    seconds = (
                        (1 + strategy_index)
                        * (0.5 + size / 100)
                        * rng.uniform(0.9, 1.1)
                        * (3 if warmup else 1)
                    )
                    row = result_row(folder.name, strategy, size, seconds, repeat=repeat, warmup=warmup)
                    out.append(row.model_copy(update={"batch_size": batch_size}))
    out.close()
    return folder


def test_report_has_every_plot_and_table(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", ["python", "pandas_udf"], [10, 50, 100], sweep={"batch_size": [2, 32]})
    html = build_report(run).read_text()
    # time, throughput, speed-up, cold start, time breakdown, and throughput against the swept batch size
    assert html.count("data:image/png;base64,") == 6
    assert "Not shown" not in html
    for heading in ["Summary", "How cost grows with size", "Prediction parity", "Machine and versions"]:
        assert heading in html
    assert (run / "summary.csv").exists() and (run / "fits.csv").exists()


def test_report_says_why_a_plot_is_missing(tmp_path: Path) -> None:
    html = build_report(make_run(tmp_path / "r", ["udf"], [10, 20])).read_text()
    assert "Not shown: needs the python strategy" in html


def test_the_report_leads_with_the_answer_and_one_size_gets_ranked_bars(tmp_path: Path) -> None:
    # make_run's strategies cost 1x, 2x, 3x: python is fastest, twice as fast as udf.
    html = build_report(make_run(tmp_path / "r", ["python", "udf", "pandas_udf"], [50])).read_text()
    answer = html[html.index('id="answer"') : html.index("</section>")]
    assert html.index('id="answer"') < html.index("<h2>Summary</h2>")
    assert "50 rows: python is fastest" in answer and "as fast as udf" in answer
    assert "Throughput, ranked" in html and "Time against size" not in html


def test_every_string_is_escaped(tmp_path: Path) -> None:
    html = build_report(make_run(tmp_path / "r", ["python", EVIL], [10, 20])).read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_skipped_images_show_in_the_summary_csv_report_and_terminal(tmp_path: Path) -> None:
    from rich.console import Console

    from udfbench.report.terminal import print_summary
    from udfbench.stats import case_summaries, cost_fits

    run = tmp_path / "r"
    make_run(run, ["python"], [30])
    results = pd.read_csv(run / RESULTS_FILE)
    results["skipped"] = 8
    results.to_csv(run / RESULTS_FILE, index=False)
    html = build_report(run).read_text()
    assert "skipped images" in html
    summary = pd.read_csv(run / "summary.csv")
    assert summary["skipped"].tolist() == [8]
    assert summary["images_per_s"].iloc[0] == pytest.approx(22 / summary["median"].iloc[0])
    console = Console(record=True, width=200)
    results = read_results(run)
    print_summary(case_summaries(results), cost_fits(results), [], console)
    assert "skipped" in console.export_text()


def test_a_run_that_failed_before_its_first_timed_run_still_gets_a_report(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    meta = RunMeta(run_id="r", name="t", status="failed", started_at="t", config_file="b.yaml",
                   config=bench_config(), error="seed folder vanished")  # fmt: skip
    write_meta(run, meta)
    CsvAppender(run / RESULTS_FILE, ResultRow).close()
    html = build_report(run).read_text()
    assert "did not complete (failed: seed folder vanished)" in html
    assert "No case finished" in html and "no timed run finished" in html
    assert (run / "summary.csv").exists()


def test_a_strategy_has_one_colour_in_every_plot() -> None:
    from udfbench.report.plots import series, strategy_color

    frame = pd.DataFrame({"strategy": ["python", "udf", "udf"], "size": [1, 1, 2], "cluster": "local"})
    with_python = {label: style["color"] for label, _, style in series(frame)}
    udf_alone = {label: style["color"] for label, _, style in series(frame[frame["strategy"] == "udf"])}
    assert with_python["udf"] == udf_alone["udf"] == strategy_color("udf") != with_python["python"]
    # Variants of one strategy (here two clusters) share its colour and differ in line style.
    two = pd.concat([frame.assign(cluster="a"), frame.assign(cluster="b")])
    styles = {label: style for label, _, style in series(two)}
    assert styles["udf, cluster=a"]["color"] == styles["udf, cluster=b"]["color"]
    assert styles["udf, cluster=a"]["linestyle"] != styles["udf, cluster=b"]["linestyle"]
