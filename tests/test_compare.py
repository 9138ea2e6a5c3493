"""Comparing runs and clusters: matched where they overlap, ratios with intervals, differences named."""

from __future__ import annotations

import pytest
from tests.conftest import run_cli
from tests.test_check import BASE, VERSIONS, timings, write_run

from udfbench.compare import compare_runs, write_comparison
from udfbench.errors import UserError

EVIL = '<img src=x onerror="alert(1)">'


def test_ratio_to_the_first_run_with_an_interval(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings(BASE, seed=2, factor=2.0))
    comparison = compare_runs([a, b])
    rows = comparison.table.set_index(["case", "column"])
    udf = rows.loc[("udf n=400", "b")]
    assert udf["ratio_low"] < udf["ratio_to_first"] < udf["ratio_high"]
    assert udf["ratio_low"] > 1.8 and udf["ratio_high"] < 2.2
    assert udf["images_per_s_per_core"] == pytest.approx(udf["images_per_s"] / 2)
    assert (
        rows.loc[("udf n=400", "a")]["ratio_to_first"] != rows.loc[("udf n=400", "a")]["ratio_to_first"]
    )  # NaN
    assert comparison.partial == [] and comparison.differences == []


def test_partial_overlap_and_differences_are_listed(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(
        tmp_path / "b",
        timings({"python": (0.2, 0.01)}, seed=2, sizes=(100, 800)),
        versions={**VERSIONS, "java": "21"},
    )
    comparison = compare_runs([a, b])
    assert set(comparison.table["case"]) == {"python n=100"}
    assert "udf n=200: not in b" in comparison.partial and "python n=800: not in a" in comparison.partial
    assert {"setting": "versions.java", "values": ["17", "21"]} in comparison.differences


def test_html_is_self_contained_and_escapes_names(tmp_path) -> None:
    a = write_run(tmp_path / "<b>run-a", timings({EVIL: (1, 0.01), "python": (0.2, 0.01)}, seed=1))
    b = write_run(tmp_path / "run-b", timings({EVIL: (1, 0.02), "python": (0.2, 0.01)}, seed=2))
    html = write_comparison(compare_runs([a, b]), tmp_path / "out").read_text()
    assert "<img src=x" not in html and "<b>run-a" not in html
    assert "&lt;img src=x" in html and "&lt;b&gt;run-a" in html
    assert html.count("data:image/png;base64,") >= 4
    assert "http://" not in html and "https://" not in html
    assert (tmp_path / "out" / "compare.csv").exists()


def test_nothing_to_compare_is_an_error(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    with pytest.raises(UserError, match="needs two runs"):
        compare_runs([a])
    c = write_run(tmp_path / "c", timings({"pandas_udf": (1, 0.01)}, seed=1))
    with pytest.raises(UserError, match="no case appears in two"):
        compare_runs([a, c])


def test_cli_compare(tmp_path) -> None:
    a = write_run(tmp_path / "a", timings(BASE, seed=1))
    b = write_run(tmp_path / "b", timings(BASE, seed=2, factor=1.5))
    result = run_cli("compare", str(a), str(b), "--out", str(tmp_path / "cmp"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "udf n=400" in result.stdout and (tmp_path / "cmp" / "compare.html").exists()
    missing = run_cli("compare", str(a), str(tmp_path / "nope"), timeout=120)
    assert (
        missing.returncode == 2
        and "run folder not found" in missing.stderr
        and "Traceback" not in missing.stderr
    )
