"""A real Spark standalone cluster on this machine, started from the pip-installed pyspark.

``standalone_cluster`` starts a master and N workers with ``bin/spark-class`` bound to 127.0.0.1,
waits until every worker has registered (the master's JSON status page says so), yields the master
URL, and always stops every process it started: on success, on an exception, on Ctrl-C or SIGTERM
(the CLI turns it into KeyboardInterrupt), and at interpreter exit. Each process runs in a session of
its own, so stopping it takes its executors (child JVMs) down with it.

When udfbench itself dies without a chance to clean up (SIGKILL, the OOM killer, a CI hard kill), a
watchdog kills the daemons and removes the cluster's folder. The watchdog is a small process of its
own session that reads a pipe from udfbench: the daemons' process groups as they start, then "stop"
on a clean exit. End of file without "stop" means udfbench is gone. A parent-death signal
(``PR_SET_PDEATHSIG``) was the other candidate: it survives ``spark-class``'s exec into the JVM, but
it fires when the *thread* that started the daemon ends, it is Linux-only, it does not reach the
executors (children of a worker JVM) and it leaves the folder behind. As a last line, a cluster
folder names its owner's pid, and the next start removes folders (and kills JVMs) of dead owners.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from udfbench.errors import UserError
from udfbench.plan.config import ClusterConfig
from udfbench.spark.watchdog import processes_with, unmarked

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
STOP_GRACE_S = 15.0
OWNER_FILE = "owner.pid"
# Set in every daemon's environment (and so their executors'): finds a dead run's JVMs by folder.
CLUSTER_VARIABLE = "UDFBENCH_CLUSTER_DIR"


@dataclass
class Daemon:
    """One started JVM: its process, its log, and how to name it in a message."""

    name: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        interesting = [line for line in text if "ERROR" in line or "Exception" in line] or text
        return " | ".join(line.strip() for line in interesting[-lines:])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def check_port_free(port: int, what: str) -> None:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise UserError(f"port {port} on {HOST} is already in use", where=what) from None


def _stop(daemons: list[Daemon]) -> None:
    """SIGTERM every process group, wait, then SIGKILL what is left; returns when all are gone."""
    for daemon in daemons:
        if daemon.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(daemon.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for daemon in daemons:
        with suppress(subprocess.TimeoutExpired):
            daemon.process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for daemon in daemons:
        with suppress(ProcessLookupError, PermissionError):  # executors may outlive their worker
            os.killpg(daemon.process.pid, signal.SIGKILL)
        daemon.process.wait()


def _status(webui_port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{webui_port}/json/", timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _processes_of(folder: Path) -> list[int]:
    """The pids whose environment marks them as part of the cluster in ``folder`` (Linux only)."""
    return processes_with(CLUSTER_VARIABLE, str(folder))


def _remove_when_gone(folder: Path, timeout_s: float = 10.0) -> None:
    """Kill what is left of the cluster in ``folder`` and remove the folder once nothing writes to it:
    a SIGKILL lands a moment after it is sent, and an executor still writing its logs would leave a
    folder that ``rmtree`` had already emptied."""
    deadline = time.monotonic() + timeout_s
    while True:
        for pid in _processes_of(folder):
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def remove_stale_folders(parent: Path) -> list[Path]:
    """Remove the cluster folders under ``parent`` whose owner is dead, killing their leftover JVMs.

    A pid reused by another process only postpones the cleanup to a later run.
    """
    removed = []
    for folder in parent.glob("udfbench-*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not a cluster folder, or one being created right now
        if _alive(owner):
            continue
        _remove_when_gone(folder)
        removed.append(folder)
    return removed


def watch(folder: Path) -> None:
    """The watchdog's body: collect process groups from stdin; at end of file without "stop", kill them.

    Runs in a session of its own, so neither Ctrl-C in the terminal nor a kill of udfbench's
    process group reaches it.
    """
    groups: list[int] = []
    for line in sys.stdin:
        if line.strip() == "stop":
            return
        groups.append(int(line))
    for group in groups:  # udfbench is gone: nobody will stop these politely
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    _remove_when_gone(folder)


class StandaloneCluster:
    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        remove_stale_folders(Path(tempfile.gettempdir()))
        self.folder = Path(tempfile.mkdtemp(prefix=f"udfbench-{config.name}-"))
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        self.daemons: list[Daemon] = []
        self.watchdog: subprocess.Popen | None = None
        self.master_port = config.master_port or free_port()
        self.webui_port = config.webui_port or free_port()
        self.env = dict(
            os.environ,
            SPARK_HOME=str(_spark_home()),
            SPARK_LOCAL_IP=HOST,
            SPARK_LOG_DIR=str(self.folder / "logs"),
            SPARK_WORKER_DIR=str(self.folder / "work"),
            PYSPARK_PYTHON=sys.executable,
            **{CLUSTER_VARIABLE: str(self.folder)},
        )

    @property
    def url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    def _start(self, name: str, *args: str) -> Daemon:
        if self.watchdog is None:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-m", "udfbench.spark.standalone", str(self.folder)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Without the run's mark: the run's watchdog, waking at the same moment, would kill
                # this one halfway through removing the folder.
                env=unmarked(self.env),
                start_new_session=True,
                text=True,
            )
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(_spark_home() / "bin" / "spark-class"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        daemon = Daemon(name, process, log)
        self.daemons.append(daemon)
        assert self.watchdog.stdin is not None
        self.watchdog.stdin.write(f"{process.pid}\n")  # its own session: the group id is the pid
        self.watchdog.stdin.flush()
        return daemon

    def _fail(self, message: str) -> UserError:
        return UserError(message, where=f"cluster {self.config.name}")

    def _wait(self, what: str, ready: Callable[[dict], bool], started: float) -> dict:
        """Poll the master until ``ready(status)``; a dead daemon or the timeout is a UserError."""
        timeout = self.config.start_timeout_s
        while True:
            for daemon in self.daemons:
                if daemon.process.poll() is not None:
                    raise self._fail(f"the {daemon.name} exited while starting: {daemon.log_tail()}")
            status = _status(self.webui_port)
            if status is not None and ready(status):
                return status
            if time.monotonic() - started > timeout:
                tails = "; ".join(f"{d.name}: {d.log_tail(3)}" for d in self.daemons)
                raise self._fail(f"{what} within {timeout:g} s ({tails})")
            time.sleep(0.5)

    def start(self) -> None:
        for port, what in ((self.master_port, "master_port"), (self.webui_port, "webui_port")):
            check_port_free(port, f"cluster {self.config.name}: {what}")
        (self.folder / "work").mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self._start(
            "master", MASTER_CLASS, "--host", HOST, "--port", str(self.master_port),
            "--webui-port", str(self.webui_port),
        )  # fmt: skip
        self._wait(
            "the Spark master did not come up", lambda status: status.get("status") == "ALIVE", started
        )
        for index in range(self.config.workers):
            self._start(
                f"worker-{index + 1}", WORKER_CLASS, "--host", HOST, "--cores", str(self.config.worker_cores),
                "--memory", self.config.worker_memory, "--webui-port", str(free_port()),
                "--work-dir", str(self.folder / "work"), self.url,
            )  # fmt: skip
        want = self.config.workers

        def all_registered(status: dict) -> bool:
            return sum(w.get("state") == "ALIVE" for w in status.get("workers", [])) >= want

        self._wait(f"not every one of the {want} workers registered", all_registered, started)

    def stop(self) -> None:
        _stop(self.daemons)
        self.daemons.clear()
        if self.watchdog is not None:  # every daemon is gone: the watchdog may leave
            assert self.watchdog.stdin is not None
            with suppress(BrokenPipeError):
                self.watchdog.stdin.write("stop\n")
                self.watchdog.stdin.close()
            self.watchdog.wait()
            self.watchdog = None
        _remove_when_gone(self.folder)


@contextmanager
def started(cluster: StandaloneCluster) -> Iterator[str]:
    """Start ``cluster``, yield its URL, and stop every process it started whatever happens."""
    atexit.register(cluster.stop)
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)


def standalone_cluster(config: ClusterConfig) -> AbstractContextManager[str]:
    """A standalone cluster, started and always stopped (see ``started``): ``with`` it for its master URL."""
    return started(StandaloneCluster(config))


if __name__ == "__main__":
    watch(Path(sys.argv[1]))
