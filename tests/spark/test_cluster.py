"""Sessions and clusters as a user meets them: a quiet terminal, and a bad master said in one line."""

from __future__ import annotations

import socket
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import run_cli, tiny_onnx, write_config
from udfbench.errors import UserError
from udfbench.plan.config import ClusterConfig
from udfbench.spark.cluster import SPARK_LOG, probe_master

pytestmark = pytest.mark.spark

# The tiny ONNX model: these runs are about the cluster and the console, not the model.
RUN = """
    dataset: {{sizes: [4]}}
    model: {{path: {model}}}
    strategies: [pandas_udf]
    batch_size: 4
    warmup: 0
    repeats: 1
    clusters: [{cluster}]
    spark: {{driver_memory: 1g}}
"""


def run_config(folder: Path, cluster: str) -> Path:
    return write_config(folder, RUN.format(model=tiny_onnx(folder), cluster=cluster))


# What Spark, the JVM and log4j print on the console when nobody stops them ("yy/MM/dd ... WARN Class").
CHATTER = (" WARN ", "log4j", "NativeCodeLoader", "incubator", "loopback", "Exception", "at org.apache")


def udfbench_lines(stderr: str) -> list[str]:
    """stderr's errors: without udfbench's warnings about the config, which come before any start."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("udfbench: warning:")]


def closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_a_dead_external_master_is_one_line_within_the_start_timeout(tmp_path: Path) -> None:
    url = f"spark://127.0.0.1:{closed_port()}"
    cluster = f'{{name: gone, kind: external, master: "{url}", start_timeout_s: 3}}'
    config = run_config(tmp_path, cluster)
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=300)
    assert result.returncode == 2
    # The probe gave up at start_timeout_s, by its own clock ...
    assert udfbench_lines(result.stderr) == [
        f"udfbench: error: cluster gone: no Spark master answers at {url} (tried for 3 s)"
    ]
    # ... before any Spark session started, so Spark's own minute of retries never ran.
    assert not (tmp_path / "run" / SPARK_LOG).exists()


def test_the_master_probe_gives_up_at_start_timeout_s_by_its_own_clock() -> None:
    clock, tries = [0.0], []

    def refuse(address, timeout):
        tries.append(clock[0])
        raise ConnectionRefusedError

    def sleep(seconds):
        clock[0] += seconds

    gone = ClusterConfig(name="gone", kind="external", master="spark://h:7077", start_timeout_s=3)
    with pytest.raises(UserError, match=r"^cluster gone: no Spark master answers at spark://h:7077 \(tried"):
        probe_master(gone, connect=refuse, clock=lambda: clock[0], sleep=sleep)
    assert tries == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]  # every half second until the deadline, no longer


def test_a_cluster_found_dead_mid_run_keeps_the_cases_measured_before_it_and_spark_chatter_off_the_terminal(
    tmp_path: Path,
) -> None:
    url = f"spark://127.0.0.1:{closed_port()}"
    gone = f'{{name: gone, kind: external, master: "{url}", start_timeout_s: 3}}'
    clusters = f"{{name: here, kind: local, cores: 1}}, {gone}"
    config = run_config(tmp_path, clusters)
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=300)
    assert result.returncode == 2
    report = tmp_path / "run" / "report.html"
    assert udfbench_lines(result.stderr) == [
        f"udfbench: error: cluster gone: no Spark master answers at {url} (tried for 3 s); "
        f"what was measured before it is in {report}"
    ]
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(results["cluster"]) == ["here"] and list(results["status"]) == ["ok"]
    assert "here" in report.read_text()
    # The local cluster's Spark session spoke only to the run's log, on stdout as on stderr.
    assert [word for word in CHATTER if word in result.stderr + result.stdout] == [], result.stdout
    assert "incubator" in (tmp_path / "run" / SPARK_LOG).read_text()  # the JVM's own warning got there


def test_a_master_that_is_no_url_is_one_line(tmp_path: Path) -> None:
    config = run_config(tmp_path, "{name: odd, kind: external, master: banana}")
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=300)
    assert result.returncode == 2
    (line,) = udfbench_lines(result.stderr)  # caught with the config, before anything starts
    assert (
        line.startswith("udfbench: error: ")
        and "clusters[0].master: 'banana' is not a Spark master URL" in line
    )


@pytest.mark.spark
def test_a_dropped_accumulator_connection_prints_no_traceback_on_the_terminal(spark, capsys) -> None:
    # What PySpark's accumulator server does when the JVM's connection drops mid-job (Ctrl-C on a
    # standalone cluster): its handler's EOFError reaches the server's handle_error.
    server = spark.sparkContext._accumulatorServer
    try:
        raise EOFError
    except EOFError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
