"""A real Spark standalone cluster started from the pip-installed pyspark, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import run_cli, start_run, with_tiny_onnx, write_config
from udfbench.errors import UserError
from udfbench.plan.config import ClusterConfig
from udfbench.spark.standalone import CLUSTER_VARIABLE, OWNER_FILE, remove_stale_folders, standalone_cluster

pytestmark = pytest.mark.slow

OUR_JVMS = ("deploy.master.Master", "deploy.worker.Worker", "CoarseGrainedExecutorBackend")
# Every process a test starts inherits this variable (daemons, their executors, the CLI), so a test
# sees its own JVMs only, not those of other Spark runs on the same machine.
MARKER = "UDFBENCH_TEST_CLUSTER"


def cluster_jvms() -> dict[int, str]:
    """The standalone masters, workers and executors that the current test started: pid to command."""
    mark = f"{MARKER}={os.environ[MARKER]}".encode()
    jvms = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environment = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if "java" in command and any(n in command for n in OUR_JVMS) and mark in environment:
                jvms[int(entry.name)] = command
    return jvms


@pytest.fixture(autouse=True)
def no_cluster_left_behind(request, monkeypatch):
    monkeypatch.setenv(MARKER, f"{os.getpid()}-{request.node.name}")
    yield
    deadline = time.monotonic() + 20
    while cluster_jvms() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster_jvms() == {}, "a standalone JVM started by the test outlived it"


CONFIG = """
    name: clusters
    dataset: {{sizes: [{sizes}]}}
    model: {{image_size: 48}}
    strategies: [{strategies}]
    batch_size: 4
    warmup: 1
    repeats: {repeats}
    clusters:
      - {{name: local2, kind: local, cores: 2}}
      - {{name: standalone2x1, kind: standalone, workers: 2, worker_cores: 1, worker_memory: 1g}}
    spark: {{driver_memory: 1g}}
"""


def busy_standalone_run(folder: Path) -> str:
    """A run on the standalone cluster alone, long enough to be killed in (300 rows, 2 repeats after
    the warmup); the cluster is the subject, so a tiny ONNX model spares every worker TensorFlow's start."""
    body = CONFIG.format(sizes="300", strategies="pandas_udf", repeats=2)
    return with_tiny_onnx(body.replace("      - {name: local2, kind: local, cores: 2}\n", ""), folder)


def test_a_run_on_local_and_standalone_clusters_and_their_comparison(tmp_path) -> None:
    # One worker with one core: Spark's defaultParallelism would still say 2, the executors say 1.
    # A tiny ONNX model: the clusters are the subject here, not TensorFlow's start in every worker.
    body = CONFIG.format(sizes="12, 24", strategies="python, pandas_udf", repeats=2)
    config = write_config(tmp_path, with_tiny_onnx(body.replace("workers: 2,", "workers: 1,"), tmp_path))
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert set(results["cluster"]) == {"local2", "standalone2x1"}
    assert (results["status"] == "ok").all() and (results["rows"] == results["size"]).all()
    standalone = results[(results["cluster"] == "standalone2x1") & (results["strategy"] == "pandas_udf")]
    assert (standalone["cores"] == 1).all() and (standalone["slots"] == 1).all()
    assert (standalone["lost_executors"] == 0).all()
    setup = json.loads((tmp_path / "run" / "meta.json").read_text())["setup_seconds"]
    assert setup["standalone2x1"]["cluster_start_s"] > setup["local2"]["cluster_start_s"]
    compare = run_cli("compare", str(tmp_path / "run"), "--out", str(tmp_path / "cmp"), timeout=120)
    assert compare.returncode == 0, compare.stderr
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "local2" in html and "standalone2x1" in html


def test_an_exception_inside_still_stops_every_process() -> None:
    config = ClusterConfig(name="c", kind="standalone", workers=1, worker_cores=1, worker_memory="512m")
    with pytest.raises(RuntimeError, match="boom"), standalone_cluster(config) as url:
        assert url.startswith("spark://127.0.0.1:") and len(cluster_jvms()) == 2
        raise RuntimeError("boom")


def test_a_port_in_use_is_one_clear_error(tmp_path) -> None:
    with closing(socket.socket()) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = ClusterConfig(name="c", kind="standalone", master_port=port)
        with (
            pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is already in use"),
            standalone_cluster(config),
        ):
            pass


def test_a_cluster_that_does_not_come_up_in_time_says_so_and_leaves_nothing() -> None:
    config = ClusterConfig(name="slow", kind="standalone", workers=1, start_timeout_s=0.5)
    with pytest.raises(UserError, match=r"within 0.5 s") as caught, standalone_cluster(config):
        pass
    assert "cluster slow" in str(caught.value)


def test_a_worker_killed_mid_run_keeps_every_case_and_stops_the_rest(tmp_path) -> None:
    config = write_config(tmp_path, busy_standalone_run(tmp_path))
    out = tmp_path / "run"
    process = start_run(config, out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # the first timed run has finished: the cluster is busy
        if (out / "results.csv").exists() and len((out / "results.csv").read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    running = cluster_jvms()
    workers = [pid for pid, command in running.items() if "deploy.worker.Worker" in command]
    assert len(workers) == 2
    # The executors carry the test's marker too, so the final check covers them as well.
    assert any("CoarseGrainedExecutorBackend" in command for command in running.values())
    os.killpg(os.getpgid(workers[0]), signal.SIGKILL)  # the worker and its executor: a machine gone
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    assert len(results) >= 2 and results.iloc[0]["status"] == "ok"
    # Spark either retried the lost tasks on the surviving worker, or the case says why it failed.
    ok = results[results["status"] == "ok"]
    assert (ok["rows"] == 300).all()
    assert results[results["status"] != "ok"]["error"].astype(str).str.len().gt(0).all()


def test_a_killed_udfbench_takes_its_cluster_and_folder_with_it(tmp_path) -> None:
    config = write_config(tmp_path, busy_standalone_run(tmp_path))
    out = tmp_path / "run"
    process = start_run(config, out, capture=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # master, workers and an executor are up
        if any("CoarseGrainedExecutorBackend" in command for command in cluster_jvms().values()):
            break
        time.sleep(0.2)
    else:
        pytest.fail("no executor started within 300 s")
    folders = [
        folder
        for folder in Path(tempfile.gettempdir()).glob("udfbench-standalone2x1-*")
        if (folder / OWNER_FILE).exists() and (folder / OWNER_FILE).read_text() == str(process.pid)
    ]
    assert len(folders) == 1
    process.kill()  # SIGKILL: no finally, no atexit
    process.wait()
    deadline = time.monotonic() + 20
    while (cluster_jvms() or folders[0].exists()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster_jvms() == {} and not folders[0].exists()


def test_the_folder_and_processes_of_a_dead_run_are_removed_by_the_next(tmp_path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, live = tmp_path / "udfbench-old-1", tmp_path / "udfbench-running-2"
    for folder, owner in ((stale, dead.pid), (live, os.getpid())):
        folder.mkdir()
        (folder / OWNER_FILE).write_text(str(owner))
    # A JVM the dead run left behind stands in as a process carrying the folder's mark.
    orphan = subprocess.Popen(["sleep", "60"], env=dict(os.environ, **{CLUSTER_VARIABLE: str(stale)}))
    mark = f"{CLUSTER_VARIABLE}={stale}".encode()
    deadline = time.monotonic() + 10  # a JVM left behind has long been running; this one just started
    while mark not in Path(f"/proc/{orphan.pid}/environ").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remove_stale_folders(tmp_path) == [stale]
    assert orphan.wait(timeout=10) == -signal.SIGKILL
    assert not stale.exists() and live.exists()
