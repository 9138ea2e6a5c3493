"""The process around a verb: exit statuses, Ctrl-C and SIGTERM, native stderr kept off the terminal,
and py4j's own log silenced.

Exit status 0 is success, 2 is bad input (one line on stderr naming the file and field), 130 is an
interrupted run (whose finished cases and report are kept). Verbs that judge (``check``, ``history``)
and a run with failed cases use 1.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_FAILED_CASES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# What native code (TensorFlow's C++ logging, the JVMs, worker processes) prints on stderr during a
# run: kept in the run folder, never through the progress display.
CONSOLE_LOG = "console.log"

# Set by Ctrl-C or SIGTERM. TensorFlow's C++ code can swallow the KeyboardInterrupt raised while it
# runs, so the run also checks this flag after every timed run.
STOP_REQUESTED = threading.Event()


def _request_stop(signum: int, frame: object) -> None:
    STOP_REQUESTED.set()
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop a verb the same way: the flag, then a KeyboardInterrupt."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)


def end_process(status: int) -> NoReturn:
    """End the process with ``status`` once the exit handlers have run, skipping the interpreter's
    finalization: that is where native libraries' threads meet a dying interpreter.

    After Ctrl-C during a Daft query, the threads of Daft's engine, still shutting down, aborted the
    process (SIGABRT, "exception not rethrown") after udfbench had kept every result and printed its
    report; and under ``python -m`` CPython ends by SIGINT, whatever the status, once a
    KeyboardInterrupt was caught after it escaped code run from a string (TensorFlow's imports). By
    now every file udfbench writes is closed; the exit handlers (Spark's gateway, clusters, pools,
    logging) still run, as they would at a normal exit."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


@contextmanager
def native_stderr_to(log: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``log`` (children inherit it) while Python's own ``sys.stderr``
    keeps the terminal, so udfbench's messages still reach the user and nothing else does."""
    sys.stderr.flush()
    terminal = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(terminal), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    os.dup2(target, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(terminal)
        os.close(target)


def not_from_py4j(record: logging.LogRecord) -> bool:
    return "py4j" not in Path(record.pathname).parts


def silence_py4j_logging() -> None:
    """Drop py4j's own log for the whole process: it logs a traceback when Ctrl-C interrupts a
    pending JVM call or the gateway's shutdown, and the interruption is reported in one line by
    the run instead; a gateway that really fails still raises, and that error is reported.

    py4j logs both on its own loggers (``py4j.clientserver``: silenced by their parent's level) and
    on the root logger (``logging.exception("KeyboardInterrupt while sending command.")``: dropped by
    a filter on the root logger, which sees only the records logged on it directly)."""
    logging.getLogger("py4j").setLevel(logging.CRITICAL + 1)
    logging.getLogger().addFilter(not_from_py4j)
