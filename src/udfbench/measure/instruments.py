"""What is measured beside time: memory, the CPU that other processes took, and the executors in use.

``ResourceSampler`` is a run listener: it samples this process and its descendants (the Spark JVMs
udfbench starts, their executors and Python workers) while each timed run is on, and hands its
readings to the runner when the run ends. An external cluster's executors run on other hosts, out
of psutil's sight: their columns stay empty there.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psutil

from udfbench.rundir.events import RunListener

MB = 2**20
# How the processes that predict outside Spark show in their command lines: a driver-side strategy's
# (not multiprocessing's tracker), Ray Data's actors (their process title), Daft's UDF processes.
LOCAL_WORKER_MARKS = ("spawn_main", "ray::MapWorker", "daft.execution.udf_worker")


def _role(process: psutil.Process, me: int) -> str:
    """driver, worker (a Python process that predicts), executor (a JVM that runs tasks), or other."""
    if process.pid == me:
        return "driver"
    command = " ".join(process.cmdline())
    if "java" in os.path.basename(process.cmdline()[0] if process.cmdline() else ""):
        # Local mode's executor is the driver JVM (SparkSubmit); a cluster's is its own backend.
        if "CoarseGrainedExecutorBackend" in command or "SparkSubmit" in command:
            return "executor"
        return "other"  # standalone Master and Worker daemons: they run no task
    if "pyspark.daemon" in command:
        # The daemon forks one worker per task slot; the daemon itself does no work.
        parent = process.parent()
        return "worker" if parent is not None and "pyspark.daemon" in " ".join(parent.cmdline()) else "other"
    if any(mark in command for mark in LOCAL_WORKER_MARKS):
        return "worker"
    return "other"


def _busy_seconds(times: Any) -> float:
    return times.user + times.system


@dataclass
class _Window:
    """What one timed run's samples add up to."""

    started: float
    machine_cpu: float
    peak: dict[str, float] = field(default_factory=lambda: {"driver": 0.0, "worker": 0.0, "executor": 0.0})
    workers: int = 0
    first_cpu: dict[int, float] = field(default_factory=dict)
    last_cpu: dict[int, float] = field(default_factory=dict)


def _machine_busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


class ForeignCpu:
    """The share of the machine's CPU (percent) that processes other than this one and its children
    took while the block ran; children count once they have been waited for."""

    def __enter__(self) -> ForeignCpu:
        self._started = time.perf_counter()
        self._machine = _machine_busy_seconds()
        self._ours = _own_and_children_seconds()
        self.pct: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.perf_counter() - self._started, 1e-9)
        ours = _own_and_children_seconds() - self._ours
        foreign = max(0.0, _machine_busy_seconds() - self._machine - ours)
        self.pct = round(min(foreign / (wall * (psutil.cpu_count() or 1)) * 100, 100.0), 1)


def _own_and_children_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class ResourceSampler(RunListener):
    """Peak RSS per role, Python workers at once, and the CPU share of processes outside this run."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.me = psutil.Process()
        self._window: _Window | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _sample(self, window: _Window) -> None:
        workers = 0
        for process in [self.me, *self.me.children(recursive=True)]:
            with suppress(psutil.Error, IndexError):
                role = _role(process, self.me.pid)
                rss = process.memory_info().rss / MB
                cpu = _busy_seconds(process.cpu_times())
                with self._lock:
                    if role in window.peak:
                        window.peak[role] = max(window.peak[role], rss)
                    # A process born during the run started from zero CPU.
                    born_inside = process.create_time() >= window.started
                    window.first_cpu.setdefault(process.pid, 0.0 if born_inside else cpu)
                    window.last_cpu[process.pid] = cpu
                    # A worker counts once it works in this run: an idle one left by an earlier session
                    # (a Spark Connect server keeps a released session's workers a while) takes no core.
                    working = born_inside or cpu > window.first_cpu[process.pid]
                workers += role == "worker" and working
        with self._lock:
            window.workers = max(window.workers, workers)

    def _loop(self, window: _Window) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(window)

    def timed_run_started(self) -> None:
        self._window = _Window(started=time.time(), machine_cpu=_machine_busy_seconds())
        self._sample(self._window)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(self._window,), daemon=True)
        self._thread.start()

    def timed_run_ended(self) -> dict[str, Any]:
        window = self._window
        if window is None or self._thread is None:
            return {}
        self._stop.set()
        self._thread.join()
        self._sample(window)
        wall = max(time.time() - window.started, 1e-9)
        machine = _machine_busy_seconds() - window.machine_cpu
        ours = sum(window.last_cpu[pid] - window.first_cpu[pid] for pid in window.last_cpu)
        foreign = max(0.0, machine - ours) / (wall * (psutil.cpu_count() or 1)) * 100
        self._window = self._thread = None
        return {
            "driver_peak_rss_mb": round(window.peak["driver"], 1),
            "worker_peak_rss_mb": round(window.peak["worker"], 1) if window.workers else None,
            "executor_peak_rss_mb": round(window.peak["executor"], 1) or None,
            "python_workers": window.workers,
            "foreign_cpu_pct": round(min(foreign, 100.0), 1),
            "cpu_s": round(ours, 3),
        }


def executor_cores(spark: Any) -> tuple[int, int | None]:
    """(cores of the executors running now, executors lost so far) from Spark's status store.

    ``defaultParallelism`` is no measure of cores: Spark makes it at least 2 whatever the cluster.
    The status store is there with or without the UI; in local mode the driver is the executor.
    """
    from udfbench.spark.cluster import default_parallelism
    from udfbench.spark.connect import is_connect

    if is_connect(spark):  # a client sees no status store: the default parallelism counts the cores
        return default_parallelism(spark), None
    store = spark.sparkContext._jsc.sc().statusStore()
    every = store.executorList(False)
    executors = [every.apply(i) for i in range(every.size())]
    workers = [e for e in executors if e.id() != "driver"] or executors
    active = sum(e.totalCores() for e in workers if e.isActive())
    lost = sum(1 for e in workers if not e.isActive())
    return active, lost
