"""A cluster whose worker shares no files with the driver: with a stage, every strategy still sees
every row. The worker runs in its own mount namespace with a tmpfs over the driver's run folder (where
the built-in seed images are written), so reading a seed path there would fail."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import run_cli, write_config
from tests.model.test_runtimes import pool_linear_softmax
from udfbench.plan.cases import input_warnings
from udfbench.plan.config import BenchConfig
from udfbench.spark.standalone import HOST, MASTER_CLASS, WORKER_CLASS, _spark_home, free_port


def test_an_external_cluster_without_a_stage_is_warned_about() -> None:
    external = {"name": "far", "kind": "external", "master": "spark://far:7077"}
    config = BenchConfig.model_validate(
        {"dataset": {"sizes": [5]}, "strategies": ["udf"], "clusters": [external]}
    )
    (warning,) = input_warnings(config)
    assert "far" in warning and "dataset.stage" in warning
    staged = config.model_copy(update={"dataset": config.dataset.model_copy(update={"stage": "/shared/s"})})
    assert input_warnings(staged) == []


def _master_status(webui_port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{webui_port}/json/", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def _workers_alive(webui_port: int) -> int:
    status = _master_status(webui_port) or {}
    return sum(w.get("state") == "ALIVE" for w in status.get("workers", []))


def _wait(ready, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"not up within {timeout} s: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(1)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        with suppress(ProcessLookupError):  # the worker's executors share its process group
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# One strategy of each way rows reach Python (the driver, a pickled row UDF, Arrow batches to a pandas
# UDF, whole partitions in Arrow, pickled RDD rows): what a worker reads is the stage's bytes, the
# same for all; every strategy's own way of reading them is proven in one session by
# tests/inputs/test_table.py, where a session per strategy does not cost a cluster's executors.
SHARED_NOTHING_STRATEGIES = ("python", "udf", "pandas_udf", "map_in_arrow", "rdd_map_partitions")


@pytest.mark.slow
@pytest.mark.spark
def test_a_staged_run_on_a_worker_that_cannot_see_the_drivers_files(tmp_path) -> None:
    run_dir, stage, work = tmp_path / "run", tmp_path / "stage", tmp_path / "work"
    for folder in (run_dir, work):
        folder.mkdir()
    spark_class = str(_spark_home() / "bin" / "spark-class")
    port, webui = free_port(), free_port()
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(
        os.environ,
        SPARK_HOME=str(_spark_home()),
        SPARK_LOCAL_IP=HOST,
        SPARK_LOG_DIR=str(work),
        SPARK_WORKER_DIR=str(work),
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=src,
    )
    processes: list[subprocess.Popen] = []
    try:
        master_args = [MASTER_CLASS, "--host", HOST, "--port", str(port), "--webui-port", str(webui)]
        with (work / "master.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [spark_class, *master_args], stdout=log, stderr=log, env=env, start_new_session=True
                )  # fmt: skip
            )
        worker = [spark_class, WORKER_CLASS, "--host", HOST, "--cores", "2", "--memory", "2g",
                  "--webui-port", str(free_port()), f"spark://{HOST}:{port}"]  # fmt: skip
        hide = f"mount -t tmpfs tmpfs {shlex.quote(str(run_dir))} && exec {shlex.join(worker)}"
        _wait(lambda: _master_status(webui) is not None, work / "master.log")
        with (work / "worker.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    ["unshare", "-m", "sh", "-c", hide],
                    stdout=log,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                )  # fmt: skip
            )
        _wait(lambda: _workers_alive(webui) > 0, work / "worker.log")

        config = write_config(
            tmp_path,
            f"""
            dataset: {{sizes: [10], stage: {stage}}}
            model: {{path: {pool_linear_softmax(tmp_path / "model.onnx")}}}
            strategies: [{", ".join(SHARED_NOTHING_STRATEGIES)}]
            batch_size: 4
            warmup: 0
            repeats: 1
            spark:
              driver_memory: 1g
              conf: {{spark.driver.host: {HOST}, spark.driver.bindAddress: {HOST}}}
            clusters:
              - {{name: shared-nothing, kind: external, master: "spark://{HOST}:{port}"}}
            """,
        )
        result = run_cli("run", str(config), "--out", str(run_dir), env={"PYTHONPATH": src})
        assert result.returncode == 0, result.stderr[-3000:]
        assert "warning" not in result.stderr  # staged: nothing to warn about
        # The driver wrote its seed images into the run folder; the worker sees an empty tmpfs there.
        assert (run_dir / "seed_images").is_dir()
        assert not Path(f"/proc/{processes[1].pid}/root{run_dir}/seed_images").exists()
        results = pd.read_csv(run_dir / "results.csv")
        assert set(results["strategy"]) == set(SHARED_NOTHING_STRATEGIES)
        assert (results["status"] == "ok").all(), results[["strategy", "error"]]
        assert (results["rows"] == 10).all()
        assert (pd.read_csv(run_dir / "parity.csv")["status"] == "ok").all()
        # An external cluster is used, never stopped: its master and worker outlive the run.
        assert all(process.poll() is None for process in processes)
    finally:
        _stop(processes)
