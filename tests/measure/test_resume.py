"""``run --resume``: an interrupted run finished without losing or repeating what it had measured."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import run_cli, start_run, with_tiny_onnx, write_config
from tests.rundirs import result_row
from udfbench.measure.resume import config_differences, finished_cases
from udfbench.plan.config import load_config
from udfbench.rundir.files import rows_frame

TINY = """
    name: tiny
    dataset: {sizes: [6, 12], seed: 3}
    model: {image_size: 48}
    strategies: [python, pandas_udf]
    batch_size: 4
    warmup: 1
    repeats: 8
    spark: {master: "local[2]", driver_memory: 1g}
"""
CASE = ["strategy", "size"]


def test_finished_cases_need_every_run_or_an_end() -> None:
    def rows(strategy: str, size: int, warmups: int, measured: int, **last) -> list:
        runs = [(True, i + 1) for i in range(warmups)] + [(False, i + 1) for i in range(measured)]
        made = [result_row("r", strategy, size, 1.0, warmup=w, repeat=r) for w, r in runs]
        return made[:-1] + [made[-1].model_copy(update=last)] if last else made

    frame = rows_frame(
        rows("python", 10, 1, 3)  # complete
        + rows("python", 20, 1, 2)  # a measured run missing
        + rows("udf", 10, 1, 0)  # only the warmup
        + rows("udf", 20, 1, 1, status="failed", seconds=None)  # ended
    )
    done = finished_cases(frame, warmup=1, repeats=3)
    assert {(key[1], key[2]) for key in done} == {("python", "10"), ("udf", "20")}
    # With repeats: auto a case is done when its last run says why it stopped, whatever the count.
    frame = rows_frame(
        rows("python", 10, 1, 6, stopped_because="converged")
        + rows("python", 20, 1, 5)  # interrupted before it stopped
        + rows("udf", 10, 1, 4, stopped_because="budget")
    )
    done = finished_cases(frame, warmup=1, repeats="auto")
    assert {(key[1], key[2]) for key in done} == {("python", "10"), ("udf", "10")}


def test_config_differences_name_the_fields(tmp_path: Path) -> None:
    started = load_config(write_config(tmp_path, TINY))
    spark = started.spark.model_copy(update={"partitions": 4})
    given = started.model_copy(update={"repeats": 3, "spark": spark})
    assert config_differences(started, given) == ["repeats", "spark.partitions"]
    assert config_differences(started, started) == []


def interrupt_after(config: Path, out: Path, rows: int) -> None:
    """Start a run and send Ctrl-C once results.csv holds more than ``rows`` rows."""
    process = start_run(config, out)
    deadline = time.monotonic() + 300
    results = out / "results.csv"
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) > rows:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]


@pytest.mark.slow
def test_an_interrupted_run_is_finished_without_rerunning_what_it_kept(tmp_path: Path) -> None:
    # Resuming is the subject, not the model: a tiny ONNX model spares the workers TensorFlow's start.
    config = write_config(tmp_path, with_tiny_onnx(TINY, tmp_path))
    out = tmp_path / "run"
    # Interrupt inside the python loop's second case (size 12): size 6 is finished, 12 is partial.
    interrupt_after(config, out, rows=9 + 3)
    before = pd.read_csv(out / "results.csv")
    assert len(before) < 4 * 9, "the run finished before it was interrupted"
    finished_before = before[(before["strategy"] == "python") & (before["size"] == 6)]
    assert len(finished_before) == 9

    result = run_cli("run", str(config), "--resume", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    after = pd.read_csv(out / "results.csv")
    counts = after.groupby(CASE)["warmup"].agg(["sum", "count"])
    assert len(counts) == 4 and (counts["sum"] == 1).all() and (counts["count"] == 9).all(), counts
    assert (after["status"] == "ok").all() and (after["rows"] == after["size"]).all()
    # Kept rows are the very same measurements: their times did not change.
    kept = after[(after["strategy"] == "python") & (after["size"] == 6)]
    assert kept["seconds"].tolist() == finished_before["seconds"].tolist()
    # Every case's measured runs come from one session: repeats 1..8 once each.
    repeats = after[~after["warmup"]].groupby(CASE)["repeat"].apply(sorted)
    assert all(list(r) == list(range(1, 9)) for r in repeats), repeats
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete" and len(meta["resumed_at"]) == 1
    assert "Resumed after an interruption at " + meta["resumed_at"][0] in (out / "report.html").read_text()
    parity = pd.read_csv(out / "parity.csv")
    assert sorted(parity["strategy"]) == ["pandas_udf", "python"]


def test_resume_refuses_another_config(tmp_path: Path) -> None:
    from udfbench.rundir.schema import RunMeta
    from udfbench.rundir.writers import write_meta

    config = write_config(tmp_path, TINY)
    out = tmp_path / "run"
    out.mkdir()
    meta = RunMeta(
        run_id="run", name="tiny", status="interrupted", started_at="t", config_file=str(config),
        config=load_config(config),
    )  # fmt: skip
    write_meta(out, meta)
    result = run_cli("run", str(config), "--repeats", "3", "--resume", str(out), timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "differs from the one this run was started with in repeats;" in result.stderr
