"""The regression gate on constructed runs: what it flags, what it refuses, what it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from tests.conftest import bench_config, copy_run, result_row, run_cli

from udfbench.check import Options, check_runs, parse_threshold
from udfbench.errors import UserError
from udfbench.results import RESULTS_FILE, CsvAppender, ResultRow, RunMeta, write_meta

VERSIONS = {"python": "3.11.7", "pyspark": "4.3.0", "pyarrow": "26.0.1", "java": "17"}


def write_run(
    folder: Path, seconds: dict[tuple[str, int], list[float]], versions: dict | None = None, **meta_fields
) -> Path:
    """A run folder whose measured runs of (strategy, size) took exactly ``seconds``."""
    folder.mkdir(parents=True)
    values = {
        "run_id": folder.name,
        "name": "t",
        "status": "complete",
        "started_at": "t",
        "config_file": "b.yaml",
        "config": bench_config(spark={"master": "local[2]"}),
        "versions": versions or VERSIONS,
    }
    meta = RunMeta(**(values | meta_fields))
    write_meta(folder, meta)
    out = CsvAppender(folder / RESULTS_FILE, ResultRow)
    for (strategy, size), values in seconds.items():
        for repeat, value in enumerate([values[0] * 3, *values]):
            out.append(
                result_row(folder.name, strategy, size, value, repeat=max(repeat, 1), warmup=repeat == 0)
            )
    out.close()
    return folder


def timings(
    cost: dict[str, tuple[float, float]], sizes=(100, 200, 400), repeats=5, seed=0, factor=1.0
) -> dict:
    """seconds = (fixed + per_row * size) * noise, per strategy given as (fixed, per_row)."""
    rng = np.random.default_rng(seed)
    return {
        (name, size): list(factor * (fixed + per_row * size) * rng.lognormal(0, 0.03, repeats))
        for name, (fixed, per_row) in cost.items()
        for size in sizes
    }


BASE = {"python": (0.2, 0.01), "udf": (1.0, 0.02)}


def verdicts(result) -> dict[tuple[str, str], str]:
    return {(v.case, v.measure): v.status for v in result.verdicts}


def test_identical_timings_pass(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings(BASE, seed=2))
    result = check_runs(b, a, Options())
    assert result.exit_status() == 0
    assert set(verdicts(result).values()) == {"unchanged"}
    assert len(result.verdicts) == 2 * 3 + 2 * 2  # every case, plus per-row and fixed per strategy


def test_a_real_slowdown_fails_and_an_improvement_is_reported(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings({"python": (0.1, 0.005), "udf": (1.0, 0.03)}, seed=2))
    v = verdicts(check_runs(b, a, Options()))
    assert v[("local/udf/n=400", "time")] == "regression"
    assert v[("local/udf/per_row", "per_row")] == "regression"
    assert v[("local/udf/fixed", "fixed")] == "unchanged"  # a slower per-row cost is not a slower start
    assert v[("local/python/n=400", "time")] == "improvement"


def test_fixed_cost_and_per_row_cost_are_gated_apart(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (2.0, 0.02)}, seed=2))
    v = verdicts(check_runs(b, a, Options()))
    assert v[("local/udf/fixed", "fixed")] == "regression"
    assert v[("local/udf/per_row", "per_row")] == "unchanged"


def test_too_few_repeats_is_undecided_never_fine(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1, repeats=3))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (3.0, 0.06)}, seed=2, repeats=3))
    result = check_runs(b, a, Options())
    assert {v.status for v in result.verdicts} == {"undecided"}
    assert all("needs at least 4 repeats" in v.note for v in result.verdicts)
    # The cost models keep their estimate: --confirm's few reruns are judged by it.
    fits = {
        v.measure: v.ratio for v in result.verdicts if v.case.startswith("local/udf/") and v.measure != "time"
    }
    assert fits["per_row"] == pytest.approx(3.0, rel=0.1) and fits["fixed"] == pytest.approx(3.0, rel=0.3)


def test_rules_set_thresholds_per_case(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (1.5, 0.03)}, seed=2))
    options = Options(rules=[("local/udf/*", 0.8)])
    assert {v.status for v in check_runs(b, a, options).verdicts} == {"unchanged"}


def test_relative_mode_forgives_a_slower_machine(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings(BASE, seed=2, factor=1.3))  # same code, slower machine
    assert check_runs(b, a, Options()).exit_status() == 1
    relative = check_runs(b, a, Options(relative_to="python"))
    assert relative.exit_status() == 0 and all(v.case.startswith("local/udf") for v in relative.verdicts)
    assert [v.status for v in relative.verdicts if v.measure == "time"] == ["unchanged"] * 3
    c = write_run(tmp_path / "c", timings({"python": (0.2, 0.01), "udf": (1.0, 0.03)}, seed=3, factor=1.3))
    assert check_runs(c, a, Options(relative_to="python")).exit_status() == 1


def test_relative_mode_gates_each_cost_as_a_multiple_of_the_references(tmp_path) -> None:
    # The current machine is 1.3x slower at everything. A ratio to python's median at each size is
    # no straight line in size: fitted through such ratios, a slower model load read as faster
    # inference, and a slower inference could never be a per-row regression.
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    slower_load = write_run(tmp_path / "b", timings({**BASE, "udf": (4.0, 0.02)}, seed=2, factor=1.3))
    v = verdicts(check_runs(slower_load, a, Options(relative_to="python")))
    assert (v[("local/udf/per_row", "per_row")], v[("local/udf/fixed", "fixed")]) == (
        "unchanged",
        "regression",
    )
    slower_rows = write_run(tmp_path / "c", timings({**BASE, "udf": (1.0, 0.04)}, seed=3, factor=1.3))
    v = verdicts(check_runs(slower_rows, a, Options(relative_to="python")))
    assert (v[("local/udf/per_row", "per_row")], v[("local/udf/fixed", "fixed")]) == (
        "regression",
        "unchanged",
    )


def test_different_versions_are_an_error_unless_allowed(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings(BASE, seed=2), versions={**VERSIONS, "pyspark": "4.2.0"})
    with pytest.raises(UserError, match="pyspark: 4.3.0 in the baseline, 4.2.0 now"):
        check_runs(b, a, Options())
    result = check_runs(b, a, Options(allow_different_env=True))
    assert result.exit_status() == 0 and any("pyspark" in d for d in result.differences)


WORK = {
    "model": {"name": "builtin_cnn", "digest": "aaaa"},
    "seed_images": {"count": 6, "digest": "s1"},
}


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"model": {"name": "other.keras", "digest": "bbbb"}}, "model: builtin_cnn (digest aaaa)"),
        ({"seed_images": {"count": 4, "digest": "s2"}}, "seed images: 6 images (digest s1)"),
        (
            {"config": bench_config(spark={"master": "local[2]"}, dataset={"sizes": [10], "seed": 7})},
            "dataset.seed: 42 in the baseline, 7 now",
        ),
        (
            {
                "config": bench_config(
                    spark={"master": "local[2]"}, dataset={"sizes": [10], "input_mode": "bytes"}
                )
            },
            "dataset.input_mode: path in the baseline, bytes now",
        ),
    ],
    ids=["model", "seed images", "draw seed", "input mode"],
)
def test_other_work_is_an_error_unless_allowed(tmp_path, changed: dict, message: str) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1), **WORK)
    b = write_run(tmp_path / "b", timings(BASE, seed=2), **(WORK | changed))
    with pytest.raises(UserError, match=re.escape(message)):
        check_runs(b, a, Options())
    assert any(message in d for d in check_runs(b, a, Options(allow_different_env=True)).differences)


def test_a_baseline_without_a_seed_digest_still_reads(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1), model=WORK["model"])  # an older meta.json
    b = write_run(tmp_path / "b", timings(BASE, seed=2), **WORK)
    assert check_runs(b, a, Options()).differences == []


def test_partial_overlap_is_compared_where_it_overlaps(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(
        tmp_path / "b", timings({"python": (0.2, 0.01), "pandas_udf": (1, 0.01)}, seed=2, sizes=(100, 800))
    )
    result = check_runs(b, a, Options())
    assert [v.case for v in result.verdicts if v.measure == "time"] == ["local/python/n=100"]
    assert "local/pandas_udf/n=800" in result.only_in_current and "local/udf/n=200" in result.only_in_baseline
    c = write_run(tmp_path / "c", timings({"pandas_udf": (1, 0.01)}, seed=2))
    with pytest.raises(UserError, match="no case in common"):
        check_runs(c, a, Options())


def test_thresholds_are_read_as_data() -> None:
    assert parse_threshold("10%", "x") == pytest.approx(0.1) and parse_threshold("0.25", "x") == 0.25
    for bad in ["ten", "-5%", "0"]:
        with pytest.raises(UserError):
            parse_threshold(bad, "--threshold")


def test_cli_exit_codes_and_machine_readable_outputs(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (1.0, 0.04)}, seed=2))
    failed = run_cli("check", str(b), "--baseline", str(a), timeout=120)
    assert failed.returncode == 1, failed.stderr
    report = json.loads((b / "check.json").read_text())
    assert report["exit_status"] == 1 and len(report["cases"]) == 10
    udf = {(c["measure"], c["status"]) for c in report["cases"] if c["case"].startswith("local/udf")}
    assert udf == {("time", "regression"), ("per_row", "regression"), ("fixed", "unchanged")}
    junit = ElementTree.parse(b / "check.xml").getroot()
    # udf's time at each of the three sizes, and its per-row cost: the regressions of the table above.
    assert junit.get("tests") == "10"
    assert junit.get("failures") == "4" == str(len(junit.findall(".//failure")))
    assert "❌ regression" in (b / "check.md").read_text()
    passed = run_cli(
        "check",
        str(b),
        "--baseline",
        str(a),
        "--rule",
        "*udf*=200%",
        "--out",
        str(tmp_path / "o"),
        timeout=120,
    )
    assert passed.returncode == 0, passed.stderr
    for args, words in [
        ([str(tmp_path / "nope"), "--baseline", str(a)], "run folder not found"),
        ([str(b), "--baseline", str(tmp_path)], "meta.json"),
        ([str(b), "--baseline", str(a), "--threshold", "lots"], "--threshold"),
        ([str(b), "--baseline", str(a), "--out", str(b / "check.md")], "check.md is a file, not a folder"),
    ]:
        result = run_cli("check", *args, timeout=120)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    # A CI runner's summary file that cannot be written is warned about; the verdict still decides.
    summary = tmp_path / "no-such-folder" / "summary.md"
    warned = run_cli("check", str(b), "--baseline", str(a), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert warned.returncode == 1 and warned.stderr.strip() == (
        f"udfbench: warning: GITHUB_STEP_SUMMARY: cannot append to {summary}: No such file or directory"
    )


@pytest.mark.slow
def test_two_real_runs_of_the_same_config_pass(real_runs, tmp_path) -> None:
    baseline, current = real_runs[0], copy_run(real_runs[1], tmp_path / "current")
    # Tiny jobs on a shared 2-core machine swing by tens of percent between runs, so the gate is
    # relative to the python loop and only a doubling counts; a broken gate would still exit 1 or 2.
    check = run_cli(
        "check",
        str(current),
        "--baseline",
        str(baseline),
        "--relative-to",
        "python",
        "--threshold",
        "100%",
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    cases = json.loads((tmp_path / "current" / "check.json").read_text())["cases"]
    assert {c["case"] for c in cases if c["measure"] == "time"} == {
        f"local/{strategy}/n={size}" for strategy in ("udf", "pandas_udf") for size in (8, 16)
    }


def _make_busy(run: Path, strategy: str, foreign_cpu_pct: float) -> None:
    """As if other processes took ``foreign_cpu_pct`` of the CPU while ``strategy``'s runs ran."""
    rows = pd.read_csv(run / RESULTS_FILE)
    rows.loc[rows["strategy"] == strategy, "foreign_cpu_pct"] = foreign_cpu_pct
    rows.to_csv(run / RESULTS_FILE, index=False)


def test_a_change_measured_on_a_busy_machine_is_undecided_with_the_reason(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (1.0, 0.03)}, seed=2))
    assert verdicts(check_runs(b, a, Options()))[("local/udf/n=400", "time")] == "regression"
    _make_busy(b, "udf", 40.0)
    busy = next(v for v in check_runs(b, a, Options()).verdicts if v.case == "local/udf/n=400")
    assert busy.status == "undecided" and "busy machine" in busy.note and "40%" in busy.note
    # The cost models are fitted over the same runs: a per-row or fixed change is no more the code's.
    c = write_run(tmp_path / "c", timings({"python": (0.2, 0.01), "udf": (2.0, 0.04)}, seed=2))
    quiet = verdicts(check_runs(c, a, Options()))
    assert quiet[("local/udf/fixed", "fixed")] == quiet[("local/udf/per_row", "per_row")] == "regression"
    _make_busy(c, "udf", 40.0)
    fits = [v for v in check_runs(c, a, Options()).verdicts if v.measure in {"per_row", "fixed"}]
    assert {(v.case, v.status) for v in fits if v.case.startswith("local/udf")} == {
        ("local/udf/per_row", "undecided"),
        ("local/udf/fixed", "undecided"),
    }
    assert all("busy machine" in v.note for v in fits if v.case.startswith("local/udf"))
    # Relative mode divides by the reference: a busy reference makes every ratio noise too.
    _make_busy(b, "udf", 0.0)
    _make_busy(a, "python", 30.0)
    relative = check_runs(b, a, Options(relative_to="python"))
    assert {v.status for v in relative.verdicts if v.measure == "time"} == {"undecided"}


def test_markdown_outputs_escape_html_from_any_string() -> None:
    from udfbench.check import CheckResult, Verdict
    from udfbench.report.check import to_markdown

    evil = Verdict('<script>alert("x")</script>', "time", "regression", 0.1, ratio=2.0, low=1.8, high=2.2)
    evil.note = "<img src=x onerror=alert(1)>"
    result = CheckResult("cur|rent", "base<b>", Options(), [evil], ["spark.x: <iframe>"], [], [])
    markdown = to_markdown(result)
    for raw in ("<script>", "<img", "<iframe>", "<b>"):
        assert raw not in markdown
    assert "&lt;script&gt;" in markdown and "cur\\|rent" in markdown


def test_one_measured_run_has_no_interval() -> None:
    from udfbench.check import CheckResult, Verdict
    from udfbench.report.check import to_markdown

    single = Verdict("local/udf/n=8", "time", "undecided", 0.1, ratio=1.0, low=1.0, high=1.0, n_baseline=1,
                     n_current=1)  # fmt: skip
    markdown = to_markdown(CheckResult("c", "b", Options(), [single], [], [], []))
    assert "one run: no interval" in markdown and "[1.000, 1.000]" not in markdown
