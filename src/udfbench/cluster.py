"""Clusters and Spark sessions: where the cases run.

``open_cluster`` yields a master URL for a cluster config (local mode, a standalone cluster that
udfbench starts and always stops, or an existing cluster); ``spark_session`` starts a session on it
with the run's settings and stops it afterwards.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from udfbench.config import ClusterConfig, SparkConfig
from udfbench.errors import UserError


@dataclass(frozen=True)
class ClusterHandle:
    name: str
    kind: str
    master: str


@contextmanager
def open_cluster(cluster: ClusterConfig) -> Iterator[ClusterHandle]:
    if cluster.kind == "standalone":
        from udfbench.standalone import standalone_cluster

        with standalone_cluster(cluster) as master:
            yield ClusterHandle(cluster.name, cluster.kind, master)
    else:
        yield ClusterHandle(cluster.name, cluster.kind, cluster.master_url())


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
def spark_session(master: str, app_name: str, conf: dict[str, str]) -> Iterator[object]:
    """A SparkSession on ``master``; executors run this very Python interpreter."""
    # Executors take PYSPARK_PYTHON from the environment, not from the session conf.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    # PySpark replaces the SIGINT handler with one that cancels its jobs and never puts ours back.
    sigint = (
        signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        session = builder.getOrCreate()
    except Exception as err:  # py4j and Spark raise many kinds; all mean "no session"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot start a Spark session: {first}", where=f"spark master {master}") from None
    if sigint is not None:
        signal.signal(signal.SIGINT, sigint)
    # Failures reach the results with their reason; Spark's own log lines would only bury the progress.
    session.sparkContext.setLogLevel("FATAL")
    try:
        yield session
    finally:
        session.stop()
