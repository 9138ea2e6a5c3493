"""The report is a function of the results files: every plot present, every string escaped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.rundirs import bench_config, case_rows, result_row, write_run_folder
from udfbench.report.build import build_report
from udfbench.report.format import format_number
from udfbench.rundir.files import read_results
from udfbench.rundir.schema import RESULTS_FILE

EVIL = '<script>alert("x")</script>'


def make_run(folder: Path, strategies: list[str], sizes: list[int], sweep: dict | None = None) -> Path:
    rows = []
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
                    rows.append(row.model_copy(update={"batch_size": batch_size}))
    return write_run_folder(
        folder, rows, name=EVIL, config_file=f"/x/{EVIL}.yaml", config=bench_config(name=EVIL)
    )


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

    from udfbench.analysis.summary import case_summaries, cost_fits
    from udfbench.report.terminal import print_summary

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
    run = write_run_folder(tmp_path / "r", status="failed", error="seed folder vanished")
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


def test_strategies_within_noise_of_each_other_are_a_tie_in_the_answer(tmp_path: Path) -> None:
    from rich.console import Console

    from udfbench.analysis.answer import answers
    from udfbench.analysis.summary import case_summaries, cost_fits
    from udfbench.report.terminal import print_summary

    times = {
        "python": [4.0, 4.1, 3.9, 4.05],
        "udf": [1.02, 1.3, 0.9, 1.15],
        "pandas_udf": [1.0, 1.25, 0.92, 1.1],
    }
    rows = [row for strategy, seconds in times.items() for row in case_rows("r", strategy, 100, seconds, 3.0)]
    run = write_run_folder(tmp_path / "r", rows)
    html = build_report(run).read_text()
    answer = html[html.index('id="answer"') : html.index("</section>")]
    assert "100 rows: a tie between pandas_udf and udf, within noise of each other" in answer
    assert "is fastest" not in answer and "repeats each would separate them" in answer
    console = Console(record=True, width=400)
    results = read_results(run)
    summary = case_summaries(results)
    print_summary(summary, cost_fits(results), answers(summary, results), console)
    assert "a tie between pandas_udf and udf, within noise of each other" in console.export_text()


def test_a_fixed_cost_is_shown_as_far_as_its_interval_supports_it(tmp_path: Path) -> None:
    from rich.console import Console

    from udfbench.analysis.summary import case_summaries, cost_fits
    from udfbench.report.terminal import print_summary

    rng = np.random.default_rng(0)
    costs = {"python": (2.0, 0.01), "udf": (0.0, 0.02), "pandas_udf": (-1.5, 0.03)}  # (fixed s, s per row)
    rows = [
        row
        for strategy, (fixed, per_row) in costs.items()
        for size in (100, 200, 400)
        for row in case_rows("r", strategy, size, list((fixed + per_row * size) * rng.lognormal(0, 0.01, 4)))
    ]
    run = write_run_folder(tmp_path / "r", rows)
    html = build_report(run).read_text()
    section = html[html.index("How cost grows with size") : html.index("<h2>Plots</h2>")]
    fits = pd.read_csv(run / "fits.csv").set_index("strategy")
    assert fits["fixed_reading"].to_dict() == {"pandas_udf": "negative", "python": "positive", "udf": "zero"}
    assert fits.loc["udf", "fixed_low"] < 0 < fits.loc["udf", "fixed_high"]
    assert "not distinguishable from zero" in section
    assert "below zero: the straight line does not fit (the per-row cost rises with size)" in section
    # Seconds only for the fixed cost that is clearly above zero: a negative one is no fact to show.
    assert f"{format_number(fits.loc['python', 'fixed_s'])} s" in section
    assert f"{format_number(fits.loc['pandas_udf', 'fixed_s'])} s" not in section
    console = Console(record=True, width=400)
    results = read_results(run)
    print_summary(case_summaries(results), cost_fits(results), [], console)
    text = console.export_text()
    assert "not distinguishable from zero" in text and "the straight line does not fit" in text


@pytest.mark.parametrize("in_the_way", ["report.html", "summary.csv"])
def test_a_report_that_cannot_be_written_is_one_line_naming_the_file(tmp_path: Path, in_the_way: str) -> None:
    from tests.commands import run_cli

    run = make_run(tmp_path / "r", ["python"], [10])
    (run / in_the_way).mkdir()
    result = run_cli("report", str(run), timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"udfbench: error: {run / in_the_way}: cannot write it: Is a directory\n"


def test_the_terminal_says_each_warning_once_naming_the_cluster(tmp_path: Path) -> None:
    # Every busy-machine warning was printed twice (its flag line, then the answer's), and the flag
    # line said "python n=20" in a run of two clusters.
    from rich.console import Console

    from tests.rundirs import case_rows
    from udfbench.analysis.answer import answers
    from udfbench.analysis.summary import case_summaries, cost_fits
    from udfbench.report.terminal import print_summary

    rows = [
        row
        for cluster in ("local", "standalone")
        for strategy, seconds in (("python", 1.0), ("udf", 2.0))
        for row in case_rows(
            "r", strategy, 20, [seconds, seconds * 1.1], cluster=cluster, foreign_cpu_pct=50.0
        )
    ]
    results = read_results(write_run_folder(tmp_path / "r", rows, run_id="r"))
    summary = case_summaries(results)
    console = Console(record=True, width=400)
    print_summary(summary, cost_fits(results), answers(summary, results), console)
    lines = [line for line in console.export_text().splitlines() if "busy machine" in line]
    # python is fastest on each cluster: its warning ends that cluster's answer; udf's has its own line.
    assert [line.split(":")[0] for line in lines] == [
        "local/udf/n=20",
        "standalone/udf/n=20",
        "local, 20 rows",
        "standalone, 20 rows",
    ]


def _busy_run(folder: Path, repeats: int, sizes=(50,)) -> Path:
    """python, pandas_udf and udf at ``sizes``, udf on a busy machine, the driver's memory flat."""
    from tests.rundirs import case_rows

    rows = [
        row
        for strategy, rate, busy in (("python", 100, 0.0), ("pandas_udf", 240, 0.0), ("udf", 180, 40.0))
        for size in sizes
        for row in case_rows(
            folder.name, strategy, size, list(size / rate * np.linspace(0.97, 1.03, repeats)),
            foreign_cpu_pct=busy, driver_peak_rss_mb=1224.0, worker_peak_rss_mb=900.0 + size,
            eval_type="none" if strategy == "python" else "SQL_SCALAR_PANDAS_UDF",
        )
    ]  # fmt: skip
    return write_run_folder(folder, rows)


def test_the_summary_shows_status_and_flags_beside_the_case(tmp_path: Path) -> None:
    # In a 1400-pixel window the status and the busy flags were past the table's right edge.
    import re

    html = build_report(_busy_run(tmp_path / "r", 3)).read_text()
    table = html[
        html.index('<table class="summary">') : html.index("</table>", html.index('class="summary"'))
    ]
    headers = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert headers[: headers.index("runs")] == ["strategy", "rows", "status, flags"]
    assert "Spark eval type" not in headers and 'title="Spark eval type: SQL_SCALAR_PANDAS_UDF"' in table
    busy = re.search(r'<td class="text status">(.*?)</td>', table[table.index(">udf<") :]).group(1)
    assert "ok" in busy and "3 of 3 runs on a busy machine" in busy


@pytest.mark.parametrize("repeats", [1, 3])
def test_the_ranked_plot_labels_its_limit_inside_the_frame_and_has_bars_only_with_intervals(
    tmp_path: Path, repeats: int
) -> None:
    from udfbench.analysis.summary import case_summaries
    from udfbench.report.plots import plt, ranked_throughput_figure

    results = read_results(_busy_run(tmp_path / "r", repeats))
    fig = ranked_throughput_figure(results, case_summaries(results, limits={"local": 241.0}))
    ax = fig.axes[0]
    assert ax.get_xlim()[1] > 241.0 * 1.05  # the line, and its label, inside the frame
    assert [t.get_text() for t in ax.texts] == [" limit\n 241/s"]
    # "bars: 95% interval" where each case had one run said there were intervals.
    assert ("bars: 95% interval" in ax.get_xlabel()) == (repeats > 1)
    assert ("one run: no interval" in ax.get_xlabel()) == (repeats == 1)
    plt.close(fig)


def test_memory_lines_stay_off_the_frame_and_every_strategy_is_in_the_legend(tmp_path: Path) -> None:
    from udfbench.analysis.summary import case_summaries
    from udfbench.report.plots import memory_figure, plt

    summary = case_summaries(read_results(_busy_run(tmp_path / "r", 3, sizes=(10, 50, 100))))
    fig = memory_figure(summary)
    for ax, column in zip(fig.axes, ["worker_peak_rss_mb", "driver_peak_rss_mb"], strict=True):
        assert summary[column].max() < 0.95 * ax.get_ylim()[1], column  # not on the top edge
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert sorted(legend) == ["pandas_udf", "python", "udf"]  # python has no worker, but a driver line
    plt.close(fig)


def _calibration(*foreign: float) -> dict:
    """A calibration's meta.json entry with one round per figure of foreign CPU, each written here."""
    rounds = [
        {"when": f"round {i}", "decode_ms": 10.0 + i, "predict_ms": {1: 10.0}, "repeats": 3, "seconds": 2.0,
         "limit_images_per_s": 2000 / (20.0 + i), "foreign_cpu_pct": pct}
        for i, pct in enumerate(foreign)
    ]  # fmt: skip
    best = min(rounds, key=lambda r: (r["foreign_cpu_pct"] > 10, r["decode_ms"]))
    return {
        "decode_ms": best["decode_ms"], "predict_ms": {1: 10.0}, "best_batch_size": 1,
        "gflop_per_image": None, "gflop_per_s": None, "flops_unknown_reason": "x", "cores": 2,
        "limit_images_per_s": best["limit_images_per_s"], "limit_unknown_reason": None, "processes": 2,
        "repeats": 3, "images_used": 3, "images_skipped": 0, "seconds": 2.0 * len(rounds),
        "foreign_cpu_pct": best["foreign_cpu_pct"], "rounds": rounds,
    }  # fmt: skip


def test_the_calibration_section_shows_every_round_and_a_busy_calibration(tmp_path: Path) -> None:
    from udfbench.rundir.limits import Limit

    # python measures 125 images/s (0.8 s for 100 rows): 1.25 of the limit.
    limits = {"local": Limit(100.0, None)}

    def run(name: str, *foreign: float) -> Path:
        rows = case_rows(name, "python", 100, [0.8, 0.82, 0.78])
        return write_run_folder(tmp_path / name, rows, calibration=_calibration(*foreign), limits=limits)

    html = build_report(run("busy", 60.0, 45.0, 70.0)).read_text()
    section = html[html.index('id="calibration"') : html.index("<h2>Setup</h2>")]
    assert "in 3 short rounds spread over the run" in section and section.count("busy</span>") == 3
    assert "Calibrated on a busy machine" in section and "no case is called implausible" in section
    assert "implausible:" not in html and "calibrated on a busy machine (understated)" in html
    assert "the rounds spread from 90.9 to 100 images/s" in section

    html = build_report(run("quiet", 60.0, 5.0)).read_text()
    section = html[html.index('id="calibration"') : html.index("<h2>Setup</h2>")]
    assert "Calibrated on a busy machine" not in section and "quiet, the limit's" in section
    assert "is implausible" in html
