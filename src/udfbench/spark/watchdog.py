"""The watchdog that ends every process a udfbench run started, however udfbench itself ends.

``guard_children`` marks udfbench's environment with a token before it starts anything, so every
process started after it carries the mark: the driver JVM that pyspark launches, the executors and
Python workers under it, a standalone cluster's daemons, calibration and ``python_pipelined``
workers (and multiprocessing's resource tracker). It also starts a watchdog: a small process of its
own session, so that neither Ctrl-C in the terminal nor a kill of udfbench's process group reaches
it, that waits for end of file on a pipe from udfbench. The pipe closes when udfbench exits by any
means, SIGKILL and the OOM killer included; the watchdog then kills every process whose environment
holds the mark (by then udfbench has stopped what it could politely: what is left was orphaned, such
as a driver JVM whose start a Ctrl-C interrupted before py4j knew its pid). Linux only: elsewhere the
mark is set and nothing is watched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

MARK_VARIABLE = "UDFBENCH_RUN_MARK"
GRACE_S = 3.0

_watchdog: subprocess.Popen | None = None


def processes_with(variable: str, value: str) -> list[int]:
    """The pids (other than this process) whose environment holds ``variable=value``."""
    wanted = f"{variable}={value}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with suppress(OSError):
            if int(entry.name) != os.getpid() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def unmarked(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the run's mark: for a process that must outlive the watchdog's sweep."""
    return {k: v for k, v in env.items() if k != MARK_VARIABLE}


def guard_children() -> str:
    """Mark this process's environment and start its watchdog (once per process); returns the mark."""
    global _watchdog
    if _watchdog is not None:
        return os.environ[MARK_VARIABLE]
    mark = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    os.environ[MARK_VARIABLE] = mark
    if Path("/proc/self/environ").exists():
        _watchdog = subprocess.Popen(
            [sys.executable, "-m", "udfbench.spark.watchdog", mark],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Unmarked, and in a session of its own: the watchdog is the one process it never kills.
            env=unmarked(os.environ),
            start_new_session=True,
        )
    return mark


def watch(mark: str) -> None:
    """The watchdog's body: wait for udfbench's pipe to close, then end every marked process."""
    sys.stdin.buffer.read()  # returns at end of file: udfbench has exited, cleanly or not
    pids = processes_with(MARK_VARIABLE, mark)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = processes_with(MARK_VARIABLE, mark)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    watch(sys.argv[1])
