"""The run folder's schema: one case identity, and files of another schema refused by name."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.commands import run_cli
from tests.rundirs import bench_config, result_row
from udfbench.errors import UserError
from udfbench.rundir.files import read_meta, read_results
from udfbench.rundir.identity import case_ids, case_name
from udfbench.rundir.schema import RESULTS_FILE, ResultRow, RunMeta
from udfbench.rundir.writers import CsvAppender, write_meta


def test_read_meta_refuses_a_foreign_schema_naming_the_file(tmp_path) -> None:
    meta = RunMeta(run_id="r", name="n", status="complete", started_at="t", config_file="b.yaml",
                   config=bench_config())  # fmt: skip
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path) == meta
    raw = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps(raw | {"schema_version": 99}))
    with pytest.raises(UserError, match="schema version 99") as caught:
        read_meta(tmp_path)
    assert "meta.json" in str(caught.value)
    (tmp_path / "meta.json").write_text(json.dumps(raw | {"config": {"strategies": ["warp_drive"]}}))
    with pytest.raises(UserError, match="config"):
        read_meta(tmp_path)


def test_a_case_has_one_name_and_one_key_whatever_pandas_did_to_its_settings() -> None:
    # An unset setting is NaN and an int column with NaN is float: both runs still match.
    a = pd.DataFrame(
        [{"cluster": "local", "strategy": "udf", "size": 200, "batch_size": 8, "partitions": None}]
    )
    b = pd.DataFrame(
        [
            {
                "cluster": "local",
                "strategy": "udf",
                "size": 200.0,
                "batch_size": 8.0,
                "partitions": float("nan"),
            }
        ]
    )
    assert case_ids(a).tolist() == case_ids(b).tolist()
    row = b.iloc[0]
    assert case_name(row) == "local/udf/n=200"
    assert case_name(row, ["batch_size", "partitions"]) == "local/udf/n=200/batch_size=8/partitions=default"
    assert case_name(row, with_cluster=False, with_size=False) == "udf"


def _results(folder, rows: int = 3):
    """A run folder's results.csv of ``rows`` measured runs, as udfbench writes it."""
    folder.mkdir()
    out = CsvAppender(folder / RESULTS_FILE, ResultRow)
    for repeat in range(1, rows + 1):
        out.append(result_row("r", "udf", 10, 1.5, repeat=repeat))
    out.close()
    return folder / RESULTS_FILE


def _replace_in_line(path, number: int, old: str, new: str) -> None:
    lines = path.read_bytes().split(b"\r\n")
    lines[number - 1] = lines[number - 1].replace(old.encode("latin-1"), new.encode("latin-1"), 1)
    path.write_bytes(b"\r\n".join(lines))


@pytest.mark.parametrize(
    ("line", "old", "new", "words"),
    [
        (3, ",local,", ",caf\xe9,", "not UTF-8 text: line 3 holds byte 0xe9"),
        (3, ",local,", ',"local,', "line 3: column cluster runs over several lines"),
        (3, ",udf,", ",udf,surplus,", "line 3: more cells than the header has columns"),
        (3, ",udf,", ",udf," + "x" * 200_000 + ",", "line 3: not valid CSV: field larger than field limit"),
        (3, ",ok,1.5,", ",ok,0.0,", "line 3, column seconds: a run that ended ok needs its seconds"),
        (3, ",ok,1.5,", ",ok,nan,", "line 3, column seconds: a run that ended ok needs its seconds"),
        (2, ",ok,1.5,", ",ok,,", "line 2, column seconds: a run that ended ok needs its seconds"),
        (2, ",1,,2,2,", ",1,,0,2,", "line 2, column cores: Input should be greater than 0"),
        # A size no run measures made a report of 8.5e24 images/s; rows below zero are no count.
        (3, ",none,10,", ",none,99999999999999999999999,", "line 3, column size: Input should be less"),
        (3, ",ok,1.5,10,0,", ",ok,1.5,-5,0,", "line 3, column rows: Input should be greater than or equal"),
        (2, ",ok,1.5,10,0,", ",ok,1.5,10,-1,", "line 2, column skipped: Input should be greater than"),
        # The same measured run twice (count 5 from repeats 4): one run folder holds each once.
        (3, ",2,2,2,False,", ",2,2,1,False,", "line 3: measured run 1 of case local/udf/n=10 again (first"),
    ],
)  # fmt: skip
def test_a_damaged_results_file_is_one_error_naming_its_line(tmp_path, line, old, new, words) -> None:
    path = _results(tmp_path / "run")
    assert len(read_results(tmp_path / "run")) == 3
    _replace_in_line(path, line, old, new)
    with pytest.raises(UserError) as caught:
        read_results(tmp_path / "run")
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value)


def test_a_row_of_another_run_is_refused_naming_its_line(tmp_path) -> None:
    # A results.csv of another run (or a row pasted from one) was reported as this run's.
    path = _results(tmp_path / "r")
    write_meta(tmp_path / "r", RunMeta(run_id="r", name="n", status="complete", started_at="t",
                                       config_file="b.yaml", config=bench_config()))  # fmt: skip
    _replace_in_line(path, 3, "r,", "other,")
    result = run_cli("report", str(tmp_path / "r"), timeout=120)
    assert result.returncode == 2 and result.stderr == (
        f"udfbench: error: {path}: line 3: a row of run 'other', not of this run ('r', as meta.json says)\n"
    )


def test_a_results_file_saved_with_a_byte_order_mark_reads(tmp_path) -> None:
    path = _results(tmp_path / "run")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_results(tmp_path / "run")["seconds"].tolist() == [1.5, 1.5, 1.5]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b'{"run_id": "caf\xe9"}', "meta.json: not UTF-8 text: line 1 holds byte 0xe9"),
        (b"", "meta.json: (top level): Invalid JSON"),
        (b"[]", "meta.json: (top level): Input should be an object"),
    ],
)
def test_a_damaged_meta_file_is_one_error_naming_it(tmp_path, text: bytes, words: str) -> None:
    (tmp_path / "meta.json").write_bytes(text)
    with pytest.raises(UserError, match="^" + str(tmp_path)) as caught:
        read_meta(tmp_path)
    assert words in str(caught.value)


def test_the_cli_reports_a_damaged_run_folder_in_one_line(tmp_path) -> None:
    write_meta(tmp_path, RunMeta(run_id="r", name="n", status="complete", started_at="t",
                                 config_file="b.yaml", config=bench_config()))  # fmt: skip
    path = _results(tmp_path / "r")
    (tmp_path / "meta.json").rename(tmp_path / "r" / "meta.json")
    _replace_in_line(path, 2, ",local,", ",caf\xe9,")
    for verb in (["check", str(path.parent), "--baseline", str(path.parent)], ["report", str(path.parent)]):
        result = run_cli(*verb, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip() == f"udfbench: error: {path}: not UTF-8 text: line 2 holds byte 0xe9"
