"""Spark Connect: sc:// endpoints in the config, a local Connect server that udfbench starts and
always stops, and every strategy Connect can run, with every row verified through the tally that
travels as data."""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import run_cli, write_config
from tests.model.test_runtimes import pool_linear_softmax
from udfbench.errors import UserError
from udfbench.plan.config import ClusterConfig, parse_config
from udfbench.plan.names import DRIVER_ONLY, STRATEGY_NAMES
from udfbench.spark.cluster import probe_master
from udfbench.spark.connect import (
    CONNECT_SERVER_CLASS,
    endpoint,
    local_connect_server,
    probe_workers,
)

BASE = {"dataset": {"sizes": [10]}, "strategies": ["pandas_udf"]}


def connect_servers() -> list[int]:
    """PIDs of Spark Connect server JVMs started by this test process (they carry its watchdog mark)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if CONNECT_SERVER_CLASS in command and f"UDFBENCH_TEST_PID={os.getpid()}".encode() in environment:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [("sc://h:15099", "h", 15099), ("sc://h", "h", 15002), ("sc://h:1/;token=x;use_ssl=true", "h", 1)],
)
def test_an_sc_url_names_its_endpoint(url, host, port) -> None:
    assert endpoint(url) == (host, port)


def test_an_sc_master_is_a_connect_cluster(tmp_path) -> None:
    config = parse_config({**BASE, "spark": {"master": "sc://127.0.0.1:15002"}}, tmp_path / "bench.yaml")
    (cluster,) = config.cluster_list()
    assert cluster.kind == "connect" and cluster.master_url() == "sc://127.0.0.1:15002"


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"name": "c", "kind": "external", "master": "sc://h:15002"}, "give it as kind: connect"),
        ({"name": "c", "kind": "connect", "master": "spark://h:7077"}, "is an sc://host:port URL"),
        ({"name": "c", "kind": "connect", "master": "sc://h:99999"}, "a port is a number from 1 to 65535"),
        (
            {"name": "c", "kind": "connect", "master": "sc://h:1", "cores": 2},
            "not an existing sc:// endpoint",
        ),
    ],
)
def test_a_connect_cluster_that_cannot_be_is_refused(tmp_path, cluster, message) -> None:
    with pytest.raises(UserError, match=message):
        parse_config({**BASE, "clusters": [cluster]}, tmp_path / "bench.yaml")


def test_task_cpus_cannot_be_swept_on_a_connect_server(tmp_path) -> None:
    raw = {**BASE, "clusters": [{"name": "c", "kind": "connect"}], "spark": {"task_cpus": [1, 2]}}
    with pytest.raises(UserError, match="fixed when it starts"):
        parse_config(raw, tmp_path / "bench.yaml")


def test_validate_passes_an_sc_master(tmp_path) -> None:
    config = write_config(
        tmp_path,
        "dataset: {sizes: [10]}\nstrategies: [pandas_udf]\nspark: {master: 'sc://127.0.0.1:15002'}\n",
    )
    result = run_cli("validate", str(config), timeout=240)
    assert result.returncode == 0, result.stderr


def test_an_endpoint_that_does_not_answer_is_one_line_within_its_timeout() -> None:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: nothing answers there
        cluster = ClusterConfig(
            name="far", kind="connect", master=f"sc://127.0.0.1:{port}", start_timeout_s=1
        )
        started = time.monotonic()
        with pytest.raises(UserError, match=f"no Spark Connect server answers at sc://127.0.0.1:{port}"):
            probe_master(cluster)
    assert time.monotonic() - started < 30


def test_a_local_server_on_a_port_in_use_is_one_line_and_leaves_nothing(monkeypatch) -> None:
    monkeypatch.setenv("UDFBENCH_TEST_PID", str(os.getpid()))
    with closing(socket.socket()) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cluster = ClusterConfig(name="c", kind="connect", master_port=port)
        in_use = pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is already in use")
        with in_use, local_connect_server(cluster, {}):
            pass
    assert connect_servers() == []


@pytest.mark.slow
def test_every_strategy_over_a_local_connect_server_sees_every_row_and_leaves_nothing(
    tmp_path, monkeypatch
) -> None:
    """The whole path a user takes: a local Connect server started by udfbench, a fresh session per
    strategy, each row counted by the tally that travels in the output, row-by-row parity, and
    rdd_map_partitions recorded as unsupported; the server is gone when the run ends.

    The run folder is relative, as ``--out run`` is: Spark's binaryFile source names files by
    absolute URI, so with seeds under a relative folder no row found its bytes in bytes mode."""
    monkeypatch.setenv("UDFBENCH_TEST_PID", str(os.getpid()))
    model = pool_linear_softmax(tmp_path / "tiny.onnx", size=8)
    spark_strategies = [name for name in STRATEGY_NAMES if name not in DRIVER_ONLY]
    config = write_config(
        tmp_path,
        f"""
        name: connect
        dataset: {{sizes: [12], input_mode: bytes}}
        model: {{path: {model}, classes: [dog, cat]}}
        strategies: [python, {", ".join(spark_strategies)}]
        batch_size: 4
        warmup: 0
        repeats: 1
        clusters:
          - {{name: connect2, kind: connect, cores: 2}}
        spark: {{driver_memory: 1g, partitions: 3}}
        """,
    )
    result = run_cli("run", str(config), "--out", "run", "--no-calibrate", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    by_strategy = results.groupby("strategy")
    unsupported = results[results["status"] == "unsupported"]
    assert list(unsupported["strategy"]) == ["rdd_map_partitions"]
    assert "no RDDs" in unsupported["error"].iloc[0]
    ran = results[results["strategy"] != "rdd_map_partitions"]
    assert set(ran["strategy"]) == {"python", *spark_strategies} - {"rdd_map_partitions"}
    assert (ran["status"] == "ok").all(), ran[["strategy", "error"]].to_string()
    assert (ran["rows"] == 12).all() and len(by_strategy) == len(spark_strategies) + 1
    assert (ran[ran["strategy"] != "python"]["model_loads"].groupby(ran["strategy"]).sum() >= 1).all()
    parity = pd.read_csv(tmp_path / "run" / "parity.csv")
    assert (parity["status"] == "ok").all() and (parity["rows"] == 12).all()
    assert len(parity) == len(spark_strategies)  # python and every strategy Connect ran
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["spark_conf"]["connect2"]["spark.master"] == "local[2]"
    assert connect_servers() == []


@pytest.mark.spark
def test_workers_without_a_module_every_strategy_needs_are_named(spark) -> None:
    # The probe an existing endpoint's session gets; it runs the same in a classic session.
    assert probe_workers(spark, "onnxruntime") is None
    assert probe_workers(spark, "no_such_runtime_module") == (
        "the server's Python workers cannot import no_such_runtime_module"
    )
