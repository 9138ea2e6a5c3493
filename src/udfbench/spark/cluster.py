"""Clusters and Spark sessions: where the cases run.

``open_cluster`` yields a master URL for a cluster config (local mode, a standalone cluster or a
local Spark Connect server that udfbench starts and always stops, or an existing cluster or Connect
endpoint, probed first); ``spark_session`` starts a session on it with the run's settings and stops
it afterwards, keeping Spark's console output (JVM warnings, log4j) in a log file instead of the
terminal.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from udfbench.errors import UserError
from udfbench.plan.config import ClusterConfig, SparkConfig
from udfbench.spark.connect import endpoint


@dataclass(frozen=True)
class ClusterHandle:
    name: str
    kind: str
    master: str


@contextmanager
def open_cluster(
    cluster: ClusterConfig, server_conf: dict[str, str] | None = None
) -> Iterator[ClusterHandle]:
    """``server_conf``: the static Spark settings of a local Connect server (its sessions cannot set them)."""
    if cluster.kind == "standalone":
        from udfbench.spark.standalone import standalone_cluster

        with standalone_cluster(cluster) as master:
            yield ClusterHandle(cluster.name, cluster.kind, master)
    elif cluster.kind == "connect" and cluster.master is None:
        from udfbench.spark.connect import local_connect_server

        with local_connect_server(cluster, server_conf or {}) as url:
            yield ClusterHandle(cluster.name, cluster.kind, url)
    else:
        probe_master(cluster)
        yield ClusterHandle(cluster.name, cluster.kind, cluster.master_url())


SPARK_MASTER = re.compile(r"spark://(?P<addresses>[^/,:]+:\d+(?:,[^/,:]+:\d+)*)/?")


def probe_master(
    cluster: ClusterConfig,
    connect: Callable[..., Any] = socket.create_connection,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Fail fast, in one line, unless a ``spark://`` master or an ``sc://`` Spark Connect server
    accepts a TCP connection.

    Without this, Spark retries a dead master for over a minute whatever ``start_timeout_s`` says,
    then fails with a message that names neither the cluster nor the URL; a Connect client retries
    for minutes and fails with a gRPC error. The URL's form was checked with the config; yarn and
    k8s:// masters are left to Spark. ``connect``, ``clock`` and ``sleep`` are the socket and the time
    it uses (a test gives fakes, to see each try without waiting).
    """
    url = cluster.master_url()
    if cluster.kind == "connect":
        what, addresses = "Spark Connect server", [endpoint(url)]
    elif match := SPARK_MASTER.fullmatch(url):
        what = "Spark master"
        hosts_and_ports = [a.rsplit(":", 1) for a in match["addresses"].split(",")]  # several for HA masters
        addresses = [(host, int(port)) for host, port in hosts_and_ports]
    else:
        return
    deadline = clock() + cluster.start_timeout_s
    while True:
        for address in addresses:
            try:
                with connect(address, timeout=min(2.0, cluster.start_timeout_s)):
                    return
            except OSError:
                continue
        if clock() >= deadline:
            raise UserError(
                f"no {what} answers at {url} (tried for {cluster.start_timeout_s:g} s)",
                where=f"cluster {cluster.name}",
            )
        sleep(0.5)


def _accumulator_errors_to_native_stderr(context: Any) -> None:
    """PySpark's accumulator server prints a traceback through ``sys.stderr`` (the terminal) when the
    JVM's connection to it drops (Ctrl-C mid-job on a standalone cluster, a lost worker): the run
    says what happened in one line, so the traceback goes to file descriptor 2, which a run points
    at its console.log (``cli.console.native_stderr_to``)."""
    server = getattr(context, "_accumulatorServer", None)
    if server is not None:
        server.handle_error = lambda request, address: os.write(2, traceback.format_exc().encode())


def session_conf(
    spark: SparkConfig, task_cpus: int, threads: int | None, loopback: bool = True
) -> dict[str, str]:
    """The Spark conf of a session: typed settings first, then ``spark.conf`` verbatim on top.

    ``loopback`` keeps the driver on 127.0.0.1 (local mode and clusters udfbench starts itself);
    an external cluster's executors must be able to reach the driver, so it is left to Spark there.
    """
    conf = {
        "spark.driver.memory": spark.driver_memory,
        "spark.task.cpus": str(task_cpus),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "8",
        "spark.python.worker.reuse": "true",
    }
    if loopback:
        conf["spark.driver.host"] = conf["spark.driver.bindAddress"] = "127.0.0.1"
    if spark.executor_instances is not None:
        conf["spark.executor.instances"] = str(spark.executor_instances)
    if spark.executor_cores is not None:
        conf["spark.executor.cores"] = str(spark.executor_cores)
    if spark.executor_memory is not None:
        conf["spark.executor.memory"] = spark.executor_memory
    if threads is not None:
        # Spark sets OMP_NUM_THREADS to spark.task.cpus in Python workers unless told otherwise.
        conf["spark.executorEnv.OMP_NUM_THREADS"] = str(threads)
    conf.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in spark.conf.items()})
    return conf


@contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``log`` for the duration; children started meanwhile keep it.

    PySpark starts its JVM with this process's stderr, and that JVM prints Java's own warnings
    (incubator modules) and log4j's console output there for its whole life. Starting it with fd 2
    on the log file sends all of that to the file; Python's stderr is restored right after.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _java_message(err: Exception, log_text: str) -> str:
    """One line saying why Spark failed: the Java exception's message rather than py4j's wrapper.

    When the JVM died before answering (a bad option, a missing module), only its log says why.
    """
    java = getattr(err, "java_exception", None)
    text = str(java.toString()) if java is not None else str(err)
    reasons = [line for line in log_text.splitlines() if JVM_FAILURE.search(line)]
    if java is None and reasons:
        text = reasons[0]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


SPARK_LOG = "spark.log"
# The line of a JVM's console output that says why it stopped ("Exception in thread "main" ...: why").
JVM_FAILURE = re.compile(r"^(?!\s+at )\S.*(Exception|Error)\b.*: ")


@contextmanager
def spark_session(
    master: str, app_name: str, conf: dict[str, str], log_dir: Path | None = None
) -> Iterator[object]:
    """A SparkSession on ``master``; executors run this very Python interpreter.

    On an ``sc://`` master it is a new Spark Connect session, which takes only the runtime (SQL)
    settings of ``conf``: the others are the server's (see ``spark/connect.py``).

    With ``log_dir``, the JVM this process starts for Spark writes its console output (Java's
    warnings, log4j at WARN and above) to ``log_dir/spark.log`` rather than the terminal. The JVM
    lives as long as the process, so the first session's ``log_dir`` is the one that counts.
    """
    # Executors take PYSPARK_PYTHON from the environment, not from the session conf.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if master.startswith("sc://"):
        with connect_session(master, app_name, conf) as session:
            yield session
        return
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    # PySpark replaces the SIGINT handler with one that cancels its jobs and never puts ours back.
    sigint = (
        signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    )
    log = log_dir / SPARK_LOG if log_dir is not None else None
    logged = log.stat().st_size if log is not None and log.exists() else 0
    try:
        with _stderr_to(log) if log is not None else nullcontext():
            session = builder.getOrCreate()
    except Exception as err:  # py4j and Spark raise many kinds; all mean "no session"
        details, log_text = "", ""
        if log is not None:
            details = f" (details in {log})"
            with log.open(errors="replace") as text:
                text.seek(logged)
                log_text = text.read()
        raise UserError(
            f"cannot start a Spark session: {_java_message(err, log_text)}{details}",
            where=f"spark master {master}",
        ) from None
    if sigint is not None:
        signal.signal(signal.SIGINT, sigint)
    # Failures reach the results with their reason; on the terminal Spark's own log lines would only
    # bury the progress, in a log file they help explain a failure.
    session.sparkContext.setLogLevel("WARN" if log is not None else "FATAL")
    _accumulator_errors_to_native_stderr(session.sparkContext)
    try:
        yield session
    finally:
        session.stop()


@contextmanager
def connect_session(url: str, app_name: str, conf: dict[str, str]) -> Iterator[object]:
    """A new Spark Connect session on ``url`` with ``conf``'s runtime settings, released afterwards."""
    from pyspark.sql import SparkSession

    try:
        session = SparkSession.builder.remote(url).appName(app_name).create()
        for key, value in conf.items():
            if key.startswith("spark.sql."):
                session.conf.set(key, value)
    except Exception as err:  # gRPC and Spark raise many kinds; all mean "no session"
        lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
        raise UserError(
            f"cannot start a Spark Connect session: {lines[0] if lines else type(err).__name__}",
            where=f"spark master {url}",
        ) from None
    try:
        yield session
    finally:
        session.stop()


# Per Spark Connect session: its default parallelism, found with a job (a client has no sparkContext).
_CONNECT_PARALLELISM: dict[str, int] = {}


def default_parallelism(spark: Any) -> int:
    """How many partitions Spark makes by default: the executors' cores (at least 2). A Connect
    client asks the server by the partitions of a ``range``, once per session."""
    from udfbench.spark.connect import is_connect

    if not is_connect(spark):
        return spark.sparkContext.defaultParallelism
    if spark.session_id not in _CONNECT_PARALLELISM:
        from pyspark.sql import functions as F

        partitions = spark.range(0, 1024).select(F.spark_partition_id().alias("p")).distinct().count()
        _CONNECT_PARALLELISM[spark.session_id] = int(partitions)
    return _CONNECT_PARALLELISM[spark.session_id]


def session_settings(spark: Any) -> dict[str, str]:
    """Every Spark setting the session runs with (a Connect session: those its server reports)."""
    from udfbench.spark.connect import is_connect

    if is_connect(spark):
        return dict(spark.conf.getAll)
    return dict(spark.sparkContext.getConf().getAll())
