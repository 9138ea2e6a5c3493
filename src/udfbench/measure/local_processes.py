"""Single-threaded worker processes, one per core: the shape the machine's limit assumes.

Calibration measures with them and ``python_pipelined`` runs with them, so the ceiling strategy is
built the way its limit is computed. Processes are spawned, never forked (TensorFlow's thread pools
do not survive a fork), and each starts with its math libraries pinned to one thread: the variables
are read when the libraries load, so they must be in the child's environment from its first line.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import SpawnContext

# OpenMP, OpenBLAS and MKL read their pool sizes at load; TensorFlow reads the last two.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def spawn_context() -> SpawnContext:
    return multiprocessing.get_context("spawn")


@contextmanager
def single_threaded_children() -> Iterator[None]:
    """Processes spawned inside this block inherit ``SINGLE_THREAD_ENV``; the parent's is restored after.

    A spawned child copies the parent's environment when it starts, before it imports anything, so
    this is the one place where the pin reaches every library of the child in time.
    """
    with pinned_children(1):
        yield


@contextmanager
def pinned_children(threads: int) -> Iterator[None]:
    """Processes started inside this block have their math libraries pinned to ``threads`` (the
    variables of ``SINGLE_THREAD_ENV``): calibration's and the ceiling's with one, another engine's
    daemons and workers (which pass their environment on) with the configured threads."""
    saved = {name: os.environ.get(name) for name in SINGLE_THREAD_ENV}
    os.environ.update(dict.fromkeys(SINGLE_THREAD_ENV, str(threads)))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
