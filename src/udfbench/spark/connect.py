"""Spark Connect: a local server that udfbench starts and always stops, sessions on any ``sc://`` URL,
and how the saved model reaches the Python workers without a broadcast.

A Connect client owns no JVM: it has no ``sparkContext``, accumulators, broadcasts or RDDs, and it can
set only the runtime (SQL) settings of its session; the static ones (``spark.task.cpus``, memory,
executor environment) are the server's. So a local server is started with the session's static
settings on its command line (``SparkSubmit`` running ``SparkConnectServer`` on ``local[cores]``),
through the standalone cluster's daemon machinery: its own process group, a watchdog that kills it if
udfbench dies, and its log in the cluster folder. Every Connect session of a run is new
(``builder.create()``), so each strategy starts on fresh Python workers, as in a classic session.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from udfbench.errors import UserError
from udfbench.plan.config import ClusterConfig
from udfbench.spark.standalone import HOST, StandaloneCluster, check_port_free, started

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SUBMIT_CLASS = "org.apache.spark.deploy.SparkSubmit"


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (a client of a server) rather than a classic one."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


@dataclass(frozen=True)
class ShippedFile:
    """The saved model as a file shipped with the session (Connect's ``addArtifacts(file=True)``):
    each Python worker reads it from its session's files once, as it would a broadcast's value."""

    name: str

    @property
    def value(self) -> bytes:
        from pyspark import SparkFiles

        return Path(SparkFiles.get(self.name)).read_bytes()


def ship_model(spark: Any, data: bytes, digest: str) -> Any:
    """What a ``Predictor`` holds as ``model_data`` in ``spark``'s workers: a broadcast in a classic
    session, a file shipped with a Connect session (uploaded from a temporary file, which goes as soon
    as the server has it)."""
    if not is_connect(spark):
        return spark.sparkContext.broadcast(data)
    with tempfile.TemporaryDirectory(prefix="udfbench-model-") as folder:
        path = Path(folder) / f"model-{digest[:16]}.bin"
        path.write_bytes(data)
        spark.addArtifacts(str(path), file=True)
    return ShippedFile(path.name)


def _answers(host: str, port: int) -> bool:
    try:
        with closing(socket.create_connection((host, port), timeout=2)):
            return True
    except OSError:
        return False


def endpoint(url: str) -> tuple[str, int]:
    """The host and port of an ``sc://host:port/;params`` URL (15002, Spark's default, when none)."""
    address = url.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "15002")
    return host.strip("[]"), int(port)


class LocalConnectServer(StandaloneCluster):
    """A Spark Connect server on ``local[cores]``, bound to 127.0.0.1 on a free port (or
    ``master_port``); its Python workers run this interpreter."""

    def __init__(self, config: ClusterConfig, static_conf: dict[str, str]) -> None:
        super().__init__(config)
        self.static_conf = static_conf

    @property
    def url(self) -> str:
        return f"sc://{HOST}:{self.master_port}"

    def start(self) -> None:
        check_port_free(self.master_port, f"cluster {self.config.name}: master_port")
        cores = self.config.cores or os.cpu_count() or 1
        conf = {
            **self.static_conf,
            "spark.connect.grpc.binding.address": HOST,
            "spark.connect.grpc.binding.port": str(self.master_port),
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.ui.port": str(self.webui_port),
        }
        args = [SUBMIT_CLASS, "--class", CONNECT_SERVER_CLASS, "--name", f"udfbench {self.config.name}"]
        args += ["--master", f"local[{cores}]"]
        for key, value in conf.items():
            args += ["--conf", f"{key}={value}"]
        started = time.monotonic()
        server = self._start("connect-server", *args)
        while not _answers(HOST, self.master_port):
            if server.process.poll() is not None:
                raise self._fail(f"the Spark Connect server exited while starting: {server.log_tail()}")
            if time.monotonic() - started > self.config.start_timeout_s:
                raise self._fail(
                    f"the Spark Connect server did not answer within {self.config.start_timeout_s:g} s "
                    f"({server.log_tail(3)})"
                )
            time.sleep(0.5)


def local_connect_server(config: ClusterConfig, static_conf: dict[str, str]) -> AbstractContextManager[str]:
    """A local Connect server, started and always stopped: ``with`` it for its ``sc://`` URL."""
    return started(LocalConnectServer(config, static_conf))


# What a session's Python workers must import to run any strategy; checked once per session so that a
# server without them fails every case with the module's name, not with a worker's traceback.
WORKER_MODULES = ("numpy", "pandas", "pyarrow", "PIL")


def probe_workers(spark: Any, runtime_module: str) -> str | None:
    """Check the session's Python workers before any case: the same Python minor version as this
    driver (UDFs are pickled for one Python; a mismatch is a ``UserError``), and the modules every
    strategy needs. Returns why no case can run (a missing module), or None."""
    from pyspark.sql import functions as F

    driver = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = ",".join((*WORKER_MODULES, runtime_module))

    def probe(_: int) -> str:
        import importlib
        import sys as worker_sys

        missing = []
        for name in wanted.split(","):
            try:
                importlib.import_module(name)
            except ImportError:
                missing.append(name)
        return f"{worker_sys.version_info.major}.{worker_sys.version_info.minor};{','.join(missing)}"

    udf = F.udf(probe, "string", useArrow=False)
    try:
        (row,) = spark.range(1).select(udf("id")).collect()
    except Exception as err:  # a worker that cannot even start says why in Spark's error
        text = str(err)
        if "PYTHON_VERSION_MISMATCH" in text or "different version" in text:
            line = next((ln for ln in text.splitlines() if "version" in ln), text.splitlines()[0])
            raise UserError(
                f"the server's Python workers run another Python than this driver's {driver}: {line.strip()}",
                where="Spark Connect",
            ) from None
        raise
    version, missing = row[0].split(";")
    if version != driver:
        raise UserError(
            f"the server's Python workers run Python {version}, this driver {driver}: UDFs are pickled "
            "for one Python, so both must be the same minor version",
            where="Spark Connect",
        )
    if missing:
        return f"the server's Python workers cannot import {missing.replace(',', ', ')}"
    return None
