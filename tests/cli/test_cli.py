"""The commands as a user runs them: a whole run, a rebuilt report, an interrupted run."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import copy_run, run_cli, start_run, tiny_onnx, with_tiny_onnx, write_config

TINY = """
    name: tiny
    dataset: {sizes: [6, 12], seed: 3}
    model: {image_size: 48}
    strategies: [python, udf, pandas_udf]
    batch_size: 4
    warmup: 1
    repeats: 2
    spark: {master: "local[2]", driver_memory: 1g}
"""


@pytest.mark.slow
def test_run_writes_verified_results_and_a_complete_report(real_runs, tmp_path: Path) -> None:
    out = copy_run(real_runs[0], tmp_path / "run")
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 3 * 2 * (1 + 4)
    assert (results["status"] == "ok").all(), results["error"].dropna().tolist()
    assert (results["rows"] == results["size"]).all()
    assert results.groupby(["strategy", "size"])["warmup"].sum().eq(1).all()
    assert set(results["eval_type"]) == {"none", "SQL_BATCHED_UDF", "SQL_SCALAR_PANDAS_UDF"}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete"
    assert {"python", "pyspark", "pyarrow", "pandas", "numpy", "java"} <= set(meta["versions"])
    assert {"cpu", "cores", "memory_gib", "os"} <= set(meta["machine"])
    driver_setup = meta["setup_seconds"]["driver"]
    assert driver_setup["model_load_s"] > 0  # recorded apart from the runs (a presence check, not a bound)
    parity = pd.read_csv(out / "parity.csv")
    assert sorted(parity["strategy"]) == ["pandas_udf", "python", "udf"] and (parity["status"] == "ok").all()
    html = (out / "report.html").read_text()
    assert html.index('id="answer"') < html.index("<h2>Summary</h2>")
    # A winner, or a tie when the real runs' two fastest are within noise of each other.
    assert "is fastest" in html or "within noise of each other" in html
    assert html.count("data:image/png;base64,") >= 4 and "Not shown" not in html
    assert "http://" not in html and "https://" not in html  # opens from disk, no network

    # The report is a function of the files alone: delete it and rebuild.
    summary = pd.read_csv(out / "summary.csv")
    (out / "report.html").unlink()
    (out / "summary.csv").unlink()
    rebuilt = run_cli("report", str(out), timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), summary)
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 4


@pytest.mark.slow
def test_a_run_measures_the_machine_and_reads_memory_threads_and_neighbours(real_runs) -> None:
    meta = json.loads((real_runs[0] / "meta.json").read_text())
    calibration = meta["calibration"]
    assert calibration["processes"] == calibration["cores"] and set(calibration["predict_ms"]) == {"1", "4"}
    # The ONNX model's FLOPs are not counted (test_calibration counts a Keras model's): the reason says so.
    assert calibration["decode_ms"] > 0 and calibration["gflop_per_image"] is None
    assert "FLOPs of Keras models only" in calibration["flops_unknown_reason"]
    limit, reason = meta["limits"]["local"]
    assert limit == pytest.approx(calibration["limit_images_per_s"] * 2 / calibration["cores"]) and not reason
    assert "cpu_vector_flags" in meta["machine"] and "cpu_model" in meta["machine"]
    results = pd.read_csv(real_runs[0] / "results.csv")
    spark = results[results["strategy"] != "python"]
    # Presence checks, not bounds: every process kind that ran was seen, the driver loop has no worker.
    assert (spark["worker_peak_rss_mb"] > 0).all() and (spark["executor_peak_rss_mb"] > 0).all()
    assert (results["driver_peak_rss_mb"] > 0).all() and results["foreign_cpu_pct"].notna().all()
    python = results[results["strategy"] == "python"]
    # The driver loop has no worker, and the JVM up beside it (another session's) is not its own.
    assert python["worker_peak_rss_mb"].isna().all() and python["executor_peak_rss_mb"].isna().all()
    # Unset threads: each Spark worker runs spark.task_cpus (1) math threads, and local[2] has 2 cores.
    assert (spark["worker_threads"] == 1).all() and (spark["cores"] == 2).all()
    assert (spark["python_workers"] >= 1).all() and spark["lost_executors"].eq(0).all()
    summary = pd.read_csv(real_runs[0] / "summary.csv")
    assert summary["fraction_of_limit"].gt(0).all() and "implausible" in summary
    # The CPU of the run's own processes, per timed run and per row; and the neighbours' share
    # during the calibration (a presence check: its value depends on the machine's load).
    assert results["cpu_s"].gt(0).all() and summary["cpu_ms_per_row"].gt(0).all()
    assert 0 <= calibration["foreign_cpu_pct"] <= 100
    # A round before the first case and one between each two of its three sessions, each kept.
    rounds = calibration["rounds"]
    assert len(rounds) == 3 and rounds[0]["when"] == "before the first case"
    assert all(r["when"].startswith("before local/") and r["limit_images_per_s"] > 0 for r in rounds[1:])
    assert all(0 <= r["foreign_cpu_pct"] <= 100 for r in rounds)


def test_run_refuses_a_folder_that_holds_results(tmp_path: Path) -> None:
    config = write_config(tmp_path, TINY)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.csv").write_text("x")
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=120)
    assert result.returncode == 2 and "not empty" in result.stderr and "Traceback" not in result.stderr


def test_report_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = run_cli("report", str(tmp_path), timeout=120)
    assert result.returncode == 2 and "meta.json" in result.stderr and "Traceback" not in result.stderr
    # A folder that does not exist is not "a folder without meta.json".
    missing = run_cli("report", str(tmp_path / "nope"), timeout=120)
    assert (
        missing.returncode == 2
        and missing.stderr == f"udfbench: error: {tmp_path / 'nope'}: run folder not found\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after_rows", "signum"),
    [(4, signal.SIGINT), (4, signal.SIGTERM), (70, signal.SIGINT)],
    ids=["Ctrl-C during the python loop", "SIGTERM during the python loop", "Ctrl-C during a Spark job"],
)
def test_interrupted_run_keeps_every_finished_case(tmp_path: Path, after_rows: int, signum: int) -> None:
    body = TINY.replace("repeats: 2", "repeats: 30")
    # In the python loop, TensorFlow's own code is the subject (it can swallow a KeyboardInterrupt);
    # in a Spark job, the job is: a tiny ONNX model spares every Python worker TensorFlow's start.
    in_spark_job = after_rows > 2 * 31
    config = write_config(tmp_path, with_tiny_onnx(body, tmp_path) if in_spark_job else body)
    out = tmp_path / "run"
    process = start_run(config, out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        results = out / "results.csv"
        if results.exists() and len(results.read_text().splitlines()) > after_rows:
            break
        time.sleep(0.2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    kept = pd.read_csv(out / "results.csv")
    assert after_rows <= len(kept) < 3 * 2 * 31  # stopped early, and nothing finished was lost
    assert (kept["status"] == "ok").all() and (kept["rows"] == kept["size"]).all()
    assert json.loads((out / "meta.json").read_text())["status"] == "interrupted"
    assert (out / "report.html").exists()


def test_a_sweep_over_budget_is_refused_with_an_estimate(tmp_path: Path) -> None:
    config = write_config(tmp_path, TINY.replace("[6, 12]", "[1000, 2000, 3000]") + "    budget_minutes: 1\n")
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=120)
    assert result.returncode == 2 and "budget_minutes" in result.stderr and "estimated" in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_java_is_one_line_saying_how_to_fix_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, TINY)
    result = run_cli(
        "run", str(config), "--out", str(tmp_path / "run"), timeout=120, env={"JAVA_HOME": str(tmp_path)}
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Java not found" in result.stderr and "JAVA_HOME" in result.stderr


@pytest.mark.slow
def test_swept_settings_become_cases_with_their_own_plots(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        dataset: {sizes: [12]}
        model: {path: MODEL}
        strategies: [pandas_udf]
        batch_size: [2, 8]
        warmup: 0
        repeats: 1
        spark:
          master: "local[2]"
          driver_memory: 1g
          arrow_batch_size: [4, 100]
          arrow_max_bytes: [2000, 64000000]
          partitions: 3
          threads: 1
        """.replace("MODEL", str(tiny_onnx(tmp_path))),  # eight sessions: TensorFlow's start is no subject
    )
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    combos = set(
        zip(results["batch_size"], results["arrow_batch_size"], results["arrow_max_bytes"], strict=True)
    )
    assert combos == {(b, a, m) for b in (2, 8) for a in (4, 100) for m in (2000, 64000000)}
    assert (
        (results["status"] == "ok").all()
        and (results["rows"] == 12).all()
        and (results["threads"] == 1).all()
    )
    assert set(zip(results["partitions"], results["slots"], strict=True)) == {(3, 2)}
    html = (tmp_path / "run" / "report.html").read_text()
    for axis in ("batch_size", "arrow_batch_size", "arrow_max_bytes"):
        assert f"Throughput against {axis}" in html
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["spark_conf"]["local"]["spark.executorEnv.OMP_NUM_THREADS"] == "1"


def _busy_port_config(tmp_path: Path) -> tuple[Path, socket.socket]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    cluster = f"    clusters: [{{name: sa, kind: standalone, master_port: {port}}}]\n"
    return write_config(tmp_path, TINY + cluster), holder


PREFLIGHT = {
    "over budget": (lambda tmp: TINY.replace("[6, 12]", "[1000, 2000]") + "    budget_minutes: 1\n",
                    "budget_minutes", {}),
    "empty seed folder": (lambda tmp: TINY.replace("seed: 3}", f"seed: 3, seed_images: {tmp / 'empty'}}}"),
                          "dataset.seed_images", {}),
    "not a model": (lambda tmp: TINY.replace("{image_size: 48}", f"{{path: {tmp / 'junk.keras'}}}"),
                    "is not a Keras model", {}),
    "no Java": (lambda tmp: TINY, "Java not found", {"JAVA_HOME": "/nonexistent"}),
    "missing table": (lambda tmp: TINY.replace("seed: 3}", f"seed: 3, table: {tmp / 'none.parquet'}}}"),
                      "dataset.table: table", {}),
}  # fmt: skip


@pytest.mark.parametrize("verb", ["validate", "run"])
@pytest.mark.parametrize("problem", [*PREFLIGHT, "busy port"])
def test_validate_refuses_what_run_refuses(tmp_path: Path, verb: str, problem: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.keras").write_bytes(b"not a model")
    holder = None
    if problem == "busy port":
        config, holder = _busy_port_config(tmp_path)
        words, env = "clusters[0].master_port", {}
    else:
        text, words, env = PREFLIGHT[problem]
        config = write_config(tmp_path, text(tmp_path))
    try:
        out = tmp_path / "run"
        result = run_cli(
            verb, str(config), *(["--out", str(out)] if verb == "run" else []), timeout=120, env=env
        )
    finally:
        if holder is not None:
            holder.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("udfbench")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    # Refused before anything was written or started.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.yaml", "empty", "junk.keras"]


@pytest.mark.slow
def test_interrupted_before_the_first_timed_run_exits_130_with_a_report(tmp_path: Path) -> None:
    config = write_config(tmp_path, TINY)
    out = tmp_path / "run"
    process = start_run(config, out)
    deadline = time.monotonic() + 120
    while not (out / "meta.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # during setup: seeds, model, reference
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert len(pd.read_csv(out / "results.csv")) == 0
    assert json.loads((out / "meta.json").read_text())["status"] == "interrupted"
    assert "No case finished" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["validate", "CONFIG", "--repeats", "x"], "--repeats: expected a whole number or auto"),
        (["check", "a", "--baseline", "b", "--threshold", "-50%"], "--threshold: expected one argument"),
        (["launch"], "invalid choice"),
    ],
)
def test_a_bad_argument_is_one_line_not_a_usage_block(tmp_path: Path, args: list[str], words: str) -> None:
    config = write_config(tmp_path, TINY)
    result = run_cli(*[str(config) if a == "CONFIG" else a for a in args], timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and words in result.stderr
    assert "usage:" not in result.stderr


NOT_UTF8 = os.fsdecode(b"name\xfe")


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (["run", "CONFIG", "--out", "BAD"], "--out"),
        (["run", "BAD/bench.yaml"], "config"),
        (["run", "CONFIG", "--model", "BAD/m.keras"], "--model"),
        (["dataset", "CONFIG", "--out", "BAD"], "--out"),
        (["compare", "BAD", "BAD"], "run_dirs"),
    ],
)
def test_a_path_that_is_not_utf8_is_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], argument: str
) -> None:
    # results.csv and meta.json hold paths as UTF-8 text: a run under such a name crashed on its
    # first row, or wrote a meta.json that no verb could read back.
    config = write_config(tmp_path, TINY)
    bad = str(tmp_path / NOT_UTF8)
    given = [{"CONFIG": str(config)}.get(a, a.replace("BAD", bad)) for a in args]
    result = run_cli(*given, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert f"argument {argument}: " in result.stderr and "name\\xfe" in result.stderr
    assert "is not UTF-8: rename it" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.yaml"]


def test_version_is_printed() -> None:
    result = run_cli("--version", timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("udfbench ")


@pytest.mark.parametrize("where", ["a_file", "a_file/below"])
def test_out_on_or_below_a_file_is_one_line(tmp_path: Path, where: str) -> None:
    (tmp_path / "a_file").write_text("x")
    config = write_config(tmp_path, TINY.replace("python, udf, pandas_udf", "python"))
    result = run_cli("run", str(config), "--out", str(tmp_path / where), timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / where) in result.stderr


@pytest.mark.parametrize("on_bad_image", ["fail", "skip"])
def test_a_run_whose_cases_failed_says_how_many_and_exits_1(tmp_path: Path, on_bad_image: str) -> None:
    from udfbench.inputs.seeds import write_builtin_seeds

    for seed in write_builtin_seeds(tmp_path / "seeds", seed=1):
        # Every case fails: at its first bad image, or having skipped every image (it was "ok").
        Path(seed.path).write_bytes(b"not a jpeg")
    body = TINY.replace("python, udf, pandas_udf", "python").replace(
        "seed: 3}", f"seed: 3, seed_images: {tmp_path / 'seeds'}, on_bad_image: {on_bad_image}}}"
    )
    # The tiny ONNX model: what the run says of its failed cases is the subject, not TensorFlow.
    config = write_config(tmp_path, with_tiny_onnx(body, tmp_path))
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert re.search(r"with \d+ failed case\(s\)", result.stderr) and "Traceback" not in result.stderr
    assert (tmp_path / "run" / "report.html").exists()


def test_an_error_raised_by_a_ctrl_c_during_setup_counts_as_the_interruption(tmp_path) -> None:
    # Ctrl-C while Keras is being imported surfaced as "you need optree installed" and exit 1.
    from udfbench.measure.run import run_benchmark
    from udfbench.plan.config import load_config
    from udfbench.rundir.events import RunListener

    stop = threading.Event()
    ended = []

    class InterruptedInSetup(RunListener):
        def stage(self, description: str) -> None:  # the setup starts: Ctrl-C lands in an import
            stop.set()
            raise ImportError("To use Keras, you need to have `optree` installed")

        def finished(self, meta) -> None:
            ended.append(meta)

    config = write_config(tmp_path, TINY)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(
            load_config(config), config, tmp_path, InterruptedInSetup(), stop, calibrate_first=False
        )
    assert ended[0].status == "interrupted" and ended[0].error is None


def test_py4j_tracebacks_from_an_interrupted_gateway_are_not_printed(caplog) -> None:
    # Seen in CI: Ctrl-C during a Spark job printed py4j's tracebacks after the one-line
    # "interrupted": one logged on py4j's own logger, one on the root logger from py4j's code.
    from udfbench.cli.console import not_from_py4j, silence_py4j_logging

    py4j, root = logging.getLogger("py4j"), logging.getLogger()
    level = py4j.level
    try:
        silence_py4j_logging()
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            logging.getLogger("py4j.clientserver").exception("Exception while shutting down connection")
            gateway = str(Path(logging.__file__).parents[1] / "site-packages/py4j/java_gateway.py")
            root.handle(
                root.makeRecord(
                    "root", logging.ERROR, gateway, 1070, "KeyboardInterrupt while sending", (), None
                )
            )
        assert caplog.records == []
        root.error("udfbench's own errors still get through")
        assert len(caplog.records) == 1
    finally:
        py4j.setLevel(level)
        root.removeFilter(not_from_py4j)


def test_validate_estimates_from_the_calibration_of_the_last_run_of_the_same_model(tmp_path: Path) -> None:
    from tests.rundirs import write_run_folder
    from udfbench.plan.config import load_config

    config = write_config(tmp_path, TINY + "    output_dir: runs\n")
    before = run_cli("validate", str(config), timeout=120)
    assert before.returncode == 0 and "on 2 cores" in before.stdout, before.stderr
    recorded = load_config(config).model_dump(mode="json")
    calibration = {
        "decode_ms": 5.0, "predict_ms": {1: 5.0}, "best_batch_size": 1, "gflop_per_image": None,
        "gflop_per_s": None, "flops_unknown_reason": "x", "cores": 2, "limit_images_per_s": 200.0,
        "limit_unknown_reason": None, "processes": 2, "repeats": 3, "images_used": 3, "images_skipped": 0,
        "seconds": 2.0,
    }  # fmt: skip
    write_run_folder(tmp_path / "runs" / "last", config=recorded, calibration=calibration)
    other = recorded | {"model": recorded["model"] | {"image_size": 96}}  # another model: not this one's
    write_run_folder(tmp_path / "runs" / "other", config=other, calibration=calibration)
    after = run_cli("validate", str(config), timeout=120)
    assert after.returncode == 0 and "from the calibration of run last" in after.stdout, after.stderr
