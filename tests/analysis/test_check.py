"""The regression gate on constructed runs: what it flags, what it refuses, what it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

from tests.commands import copy_run, run_cli
from tests.rundirs import bench_config, case_rows, result_row, write_run_folder
from udfbench.analysis.check import Options, check_runs
from udfbench.cli.arguments import parse_threshold
from udfbench.errors import UserError
from udfbench.rundir.schema import RESULTS_FILE

VERSIONS = {"python": "3.11.7", "pyspark": "4.3.0", "pyarrow": "26.0.1", "java": "17"}


def write_run(
    folder: Path, seconds: dict[tuple[str, int], list[float]], versions: dict | None = None, **meta_fields
) -> Path:
    """A run folder whose measured runs of (strategy, size) took exactly ``seconds``."""
    rows = [
        row
        for (strategy, size), values in seconds.items()
        for row in case_rows(folder.name, strategy, size, values, warmup_s=values[0] * 3)
    ]
    meta = {"config": bench_config(spark={"master": "local[2]"}), "versions": versions or VERSIONS}
    return write_run_folder(folder, rows, **(meta | meta_fields))


def timings(
    cost: dict[str, tuple[float, float]], sizes=(100, 200, 400), repeats=5, seed=0, factor=1.0, noise=0.03
) -> dict:
    """seconds = (fixed + per_row * size) * noise, per strategy given as (fixed, per_row); ``noise`` is
    the lognormal's sigma. At 3% a fixed cost of a fifth of the seconds is too noisy to call unchanged."""
    rng = np.random.default_rng(seed)
    return {
        (name, size): list(factor * (fixed + per_row * size) * rng.lognormal(0, noise, repeats))
        for name, (fixed, per_row) in cost.items()
        for size in sizes
    }


BASE = {"python": (0.2, 0.01), "udf": (1.0, 0.02)}


# Noise small enough for 5 repeats at 3 sizes to pin even a fixed cost of a fifth of the seconds.
PRECISE = 0.003


BAND = (1 / 1.1, 1.1)  # no change, at the default 10% threshold


def verdicts(result) -> dict[tuple[str, str], str]:
    return {(v.case, v.measure): v.status for v in result.verdicts}


def test_an_a_a_pair_with_small_noise_is_unchanged_everywhere(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1, noise=PRECISE))
    b = write_run(tmp_path / "b", timings(BASE, seed=2, noise=PRECISE))
    result = check_runs(b, a, Options())
    assert result.exit_status() == 0
    assert set(verdicts(result).values()) == {"unchanged"}
    assert all(BAND[0] <= v.low and v.high <= BAND[1] for v in result.verdicts)
    assert len(result.verdicts) == 2 * 3 + 2 * 2  # every case, plus per-row and fixed per strategy


def test_unchanged_needs_the_whole_interval_within_the_threshold(tmp_path) -> None:
    # 3% noise pins the times and the per-row costs, not a fixed cost of a fifth of the seconds.
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings(BASE, seed=2))
    result = check_runs(b, a, Options())
    assert {(v.measure, v.status) for v in result.verdicts} == {
        ("time", "unchanged"),
        ("per_row", "unchanged"),
        ("fixed", "undecided"),
    }
    for fixed in (v for v in result.verdicts if v.measure == "fixed"):
        assert fixed.undecided_because == "noisy" and not (BAND[0] <= fixed.low and fixed.high <= BAND[1])
        assert fixed.note.startswith(
            f"too noisy to tell a 10% change: the 95% interval [{fixed.low:.3f}, {fixed.high:.3f}] "
        )
        assert re.search(r"about \d+ repeats at each size on each side would resolve it", fixed.note)
    # Undecided passes, as "I cannot tell" should; --strict makes it fail.
    assert result.exit_status() == 0 and check_runs(b, a, Options(strict=True)).exit_status() == 1


def noisier_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The issue's case: a run, and a copy of it with pandas_udf's seconds multiplied by 1.3, on a
    machine so noisy (30% lognormal jitter) that the ratio's interval spans about 0.77 to 2.2."""
    seconds = timings({"python": (0.5, 0.05), "pandas_udf": (1.0, 0.05)}, sizes=(16, 32), seed=4, noise=0.3)
    slower = {
        (strategy, size): [x * 1.3 for x in values] if strategy == "pandas_udf" else values
        for (strategy, size), values in seconds.items()
    }
    return write_run(tmp_path / "a", seconds), write_run(tmp_path / "b", slower)


@pytest.mark.parametrize("relative_to", [None, "python"])
def test_a_slowdown_too_noisy_to_resolve_is_undecided_never_unchanged(tmp_path, relative_to) -> None:
    a, b = noisier_copy(tmp_path)
    result = check_runs(b, a, Options(relative_to=relative_to))
    slowed = [v for v in result.verdicts if v.case.startswith("local/pandas_udf/n=")]
    assert [v.ratio for v in slowed] == pytest.approx([1.3, 1.3])
    for verdict in slowed:
        assert verdict.status == "undecided" and verdict.undecided_because == "noisy"
        assert verdict.low < 1 and verdict.high > 2  # holds both no change and twice as slow
        interval = f"[{verdict.low:.3f}, {verdict.high:.3f}]"
        assert (
            f"the 95% interval {interval} holds both no change and a change of more than 10%" in verdict.note
        )
        assert re.search(r"about \d+ repeats a side would resolve it", verdict.note)
    assert "unchanged" not in {v.status for v in result.verdicts}
    assert result.exit_status() == 0


def test_a_real_slowdown_fails_and_an_improvement_is_reported(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1, noise=PRECISE))
    b = write_run(
        tmp_path / "b", timings({"python": (0.1, 0.005), "udf": (1.0, 0.03)}, seed=2, noise=PRECISE)
    )
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
    a = write_run(tmp_path / "a", timings(BASE, seed=1, noise=PRECISE))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (1.5, 0.03)}, seed=2, noise=PRECISE))
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
    a = write_run(tmp_path / "a", timings(BASE, seed=1, noise=PRECISE))
    slower_load = write_run(
        tmp_path / "b", timings({**BASE, "udf": (4.0, 0.02)}, seed=2, factor=1.3, noise=PRECISE)
    )
    v = verdicts(check_runs(slower_load, a, Options(relative_to="python")))
    assert (v[("local/udf/per_row", "per_row")], v[("local/udf/fixed", "fixed")]) == (
        "unchanged",
        "regression",
    )
    slower_rows = write_run(
        tmp_path / "c", timings({**BASE, "udf": (1.0, 0.04)}, seed=3, factor=1.3, noise=PRECISE)
    )
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
    a = write_run(tmp_path / "a", timings(BASE, seed=1, noise=PRECISE))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (1.0, 0.04)}, seed=2, noise=PRECISE))
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


def test_cli_counts_undecided_passes_it_and_fails_it_with_strict(tmp_path) -> None:
    a, b = noisier_copy(tmp_path)
    passed = run_cli("check", str(b), "--baseline", str(a), timeout=120)
    assert passed.returncode == 0, passed.stderr
    summary = json.loads((b / "check.json").read_text())["summary"]
    assert summary.startswith("0 regression(s), 0 improvement(s), 0 unchanged, 8 undecided (4 too noisy, ")
    strict = run_cli("check", str(b), "--baseline", str(a), "--strict", "--out", str(tmp_path / "o"))
    assert strict.returncode == 1, strict.stderr
    assert "--strict: the 8 undecided verdict(s) fail the check" in strict.stdout
    written = json.loads((tmp_path / "o" / "check.json").read_text())
    assert written["exit_status"] == 1 and written["options"]["strict"] is True
    junit = ElementTree.parse(tmp_path / "o" / "check.xml").getroot()
    assert (junit.get("failures"), junit.get("skipped")) == ("8", "0")


@pytest.mark.slow
def test_two_real_runs_of_the_same_config_are_judged_whole(real_runs, tmp_path) -> None:
    # Which verdicts two runs of tiny jobs get depends on the machine's load (a fixed cost fitted
    # from 8 and 16 rows swings by multiples), so this asks what holds on any machine: every case and
    # cost of both runs is judged, each verdict by its interval, each undecided one with its reason.
    baseline, current = real_runs[0], copy_run(real_runs[1], tmp_path / "current")
    check = run_cli("check", str(current), "--baseline", str(baseline), "--relative-to", "python",
                    "--threshold", "100%", timeout=120)  # fmt: skip
    assert check.returncode in (0, 1) and "Traceback" not in check.stderr, check.stdout + check.stderr
    written = json.loads((tmp_path / "current" / "check.json").read_text())
    assert written["exit_status"] == check.returncode
    cases = written["cases"]
    assert {(c["case"], c["measure"]) for c in cases} == {
        *((f"local/{strategy}/n={size}", "time") for strategy in ("udf", "pandas_udf") for size in (8, 16)),
        *(
            (f"local/{strategy}/{measure}", measure)
            for strategy in ("udf", "pandas_udf")
            for measure in ("per_row", "fixed")
        ),
    }
    for case in cases:
        if case["status"] == "regression":
            assert case["ratio"] > 2, case
        elif case["status"] == "improvement":
            assert case["ratio"] < 0.5, case
        elif case["status"] == "unchanged":
            assert case["low"] >= 0.5 and case["high"] <= 2, case
        else:
            assert case["status"] == "undecided" and case["note"], case


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
    assert busy.note.endswith("(looked like a regression)")
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


def test_no_change_measured_on_a_busy_machine_is_undecided_too(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1, noise=PRECISE))
    b = write_run(tmp_path / "b", timings(BASE, seed=2, noise=PRECISE))
    assert set(verdicts(check_runs(b, a, Options())).values()) == {"unchanged"}
    _make_busy(b, "udf", 40.0)  # as the instruments would have written it, whatever this machine's load
    result = check_runs(b, a, Options())
    udf = [v for v in result.verdicts if v.case.startswith("local/udf/")]
    assert len(udf) == 5 and {(v.status, v.undecided_because) for v in udf} == {("undecided", "busy")}
    assert all(
        v.note.startswith(
            "measured on a busy machine (other processes took 40% of the CPU in the current run, median"
        )
        and v.note.endswith("(looked unchanged)")
        for v in udf
    )
    assert {v.status for v in result.verdicts if v.case.startswith("local/python/")} == {"unchanged"}


def _markdown_tokens(markdown: str) -> list:
    """Every token GitHub-flavoured Markdown (CommonMark, tables, strikethrough) makes of ``markdown``."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)
    return [t for token in tokens for t in [token, *(token.children or [])]]


def test_check_md_is_escaped_for_markdown_as_a_renderer_reads_it() -> None:
    # HTML-escaping was not enough: a run folder with a backtick closed its code span and rendered a
    # link, a setting's value rendered as an image and bold text, and entities showed as &lt;i&gt;.
    from udfbench.analysis.check import CheckResult, Verdict
    from udfbench.report.check import to_markdown

    folder = "reports/inj_<i>x</i>`[c](http:__e)"
    conf = "![t](https://evil.example/t.png) **bold** _em_ ~~s~~ <b>x</b> &amp; www.evil.example a@b.example"
    evil = Verdict(f"local/{conf}", "time", "regression", 0.1, ratio=2.0, low=1.8, high=2.2)
    evil.note = f"note {conf} | not a cell"
    result = CheckResult(folder, f"``{folder}", Options(), [evil], [f"spark.conf.x: {conf}"], [conf], [])
    tokens = _markdown_tokens(to_markdown(result))
    made = [t.type for t in tokens]
    for markup in ("link_open", "image", "em_open", "s_open", "html_inline", "html_block"):
        assert markup not in made, markup
    assert made.count("strong_open") == 1  # the headline, udfbench's own
    # Code spans hold the folders as they are: no entity, no backslash.
    assert [t.content for t in tokens if t.type == "code_inline"] == [folder, f"``{folder}"]
    text = [t.content for t in tokens if t.type == "text"]
    assert f"local/{conf}" in text and f"note {conf} | not a cell" in text  # one cell each, word for word
    assert sum(conf in t for t in text) == 4  # the case, its note, the difference, the run-only list


def test_one_measured_run_has_no_interval() -> None:
    from udfbench.analysis.check import CheckResult, Verdict
    from udfbench.report.check import to_markdown

    single = Verdict("local/udf/n=8", "time", "undecided", 0.1, ratio=1.0, low=1.0, high=1.0, n_baseline=1,
                     n_current=1)  # fmt: skip
    markdown = to_markdown(CheckResult("c", "b", Options(), [single], [], [], []))
    assert "one run: no interval" in markdown and "[1.000, 1.000]" not in markdown


def cpu_run(folder: Path, wall_factor: float, cpu_factor: float, foreign_cpu_pct: float) -> Path:
    """A run whose udf took ``wall_factor`` times the wall time and ``cpu_factor`` times the CPU time
    of a quiet baseline's, while other processes took ``foreign_cpu_pct`` of the CPU."""
    rng = np.random.default_rng(7)
    rows = []
    for strategy, base in (("python", 1.0), ("udf", 2.0)):
        for size in (100, 200):
            for repeat, noise in enumerate(rng.lognormal(0, 0.005, 8), start=1):
                wall = base * size / 100 * noise * (wall_factor if strategy == "udf" else 1.0)
                cpu = base * size / 100 * 1.8 * noise * (cpu_factor if strategy == "udf" else 1.0)
                rows.append(
                    result_row(folder.name, strategy, size, wall, repeat=repeat, cpu_s=cpu,
                               foreign_cpu_pct=foreign_cpu_pct)
                )  # fmt: skip
    return write_run_folder(
        folder, rows, config=bench_config(spark={"master": "local[2]"}), versions=VERSIONS
    )


def test_cpu_time_judges_what_a_busy_machine_leaves_undecided_in_wall_time(tmp_path) -> None:
    baseline = cpu_run(tmp_path / "base", 1.0, 1.0, 0.0)
    # Neighbours took half the machine: wall time 30% longer, the run's own CPU time the same.
    stolen = cpu_run(tmp_path / "stolen", 1.3, 1.0, 50.0)
    wall = {v.case: v.status for v in check_runs(stolen, baseline, Options()).verdicts if v.measure == "time"}
    assert set(wall.values()) == {"undecided"}
    cpu = check_runs(stolen, baseline, Options(metric="cpu"))
    assert {v.status for v in cpu.verdicts if v.measure == "time"} == {"unchanged"}
    # A real slowdown costs CPU time, busy machine or not.
    slower = cpu_run(tmp_path / "slower", 1.3, 1.3, 50.0)
    judged = {v.case: v.status for v in check_runs(slower, baseline, Options(metric="cpu")).verdicts}
    assert judged["local/udf/n=100"] == judged["local/udf/n=200"] == "regression"
    assert judged["local/python/n=100"] == "unchanged"


def test_cpu_time_against_a_baseline_without_it_is_one_line(tmp_path) -> None:
    current = cpu_run(tmp_path / "current", 1.0, 1.0, 0.0)
    old = write_run(tmp_path / "old", {("python", 100): [1.0] * 5, ("udf", 100): [2.0] * 5})
    result = run_cli("check", str(current), "--baseline", str(old), "--metric", "cpu", timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"udfbench: error: {old}: no measured run has cpu_s (a run made before udfbench recorded CPU "
        "time, or on an external cluster whose processes it cannot see): judge it with --metric median"
    ]


def test_a_verdict_that_cannot_be_written_is_said_then_exits_2(tmp_path) -> None:
    # Exit 1 means "regression": a check.md that cannot be written must not read as one.
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings({"python": (0.2, 0.01), "udf": (1.0, 0.04)}, seed=2))
    (b / "check.md").mkdir()
    result = run_cli("check", str(b), "--baseline", str(a), timeout=120)
    assert result.returncode == 2, result.stderr
    assert "regression(s)" in result.stdout  # the verdict, said before the write failed
    assert result.stderr == f"udfbench: error: {b / 'check.md'}: cannot write it: Is a directory\n"
