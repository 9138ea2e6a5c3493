"""``ray_map_batches``: Ray Data over the case's rows, ``map_batches`` with a callable class on an
actor pool sized to the cores, consumed fully; Ray started on this machine by udfbench.

Ray starts on the first run (so the first warmup run holds the engine's start) with ``num_cpus`` the
usable cores, the dashboard off, an object store sized to fit the machine and a temporary folder of
its own; its daemons (GCS, raylet) and workers are udfbench's children, marked by the watchdog like
every other, and ``close`` shuts Ray down. Ray Data starts a fresh actor pool for every execution, so
every run pays the actors' start and model loads (the tally counts them): that is how Ray Data runs a
job, and a pipeline over millions of images pays it once. Only the small index travels: the actors
read the images themselves (paths, bytes from the files or a table's cells).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import ClassVar

import pandas as pd

from udfbench.errors import CaseFailed, short_error
from udfbench.measure.local_processes import pinned_children, usable_cores
from udfbench.measure.strategies.base import EngineStrategy
from udfbench.measure.strategies.engines import (
    EngineWorker,
    descendants,
    end_descendants,
    take_tally,
    worker_threads,
)
from udfbench.measure.workload import ImageReader
from udfbench.model.predictor import Predictor

GIB = 2**30
# Rows per block of the input: enough blocks for every actor to have work queued, few enough that
# Ray's scheduling per block stays small beside a block's prediction.
MAX_BLOCK_ROWS = 256
# In the command line of every process Ray starts: its daemons' paths (in its package), its workers'
# titles.
RAY_MARKS = (f"{os.sep}ray{os.sep}", "ray::")


def object_store_bytes() -> int:
    """1 GiB, or an eighth of the machine's memory where that is less: the store holds the index
    and the predictions only (the actors read the images), and must leave memory to the workers."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return GIB
    return max(128 * 2**20, min(GIB, memory // 8))


class RayMapBatches(EngineStrategy):
    name = "ray_map_batches"
    eval_type = "none"
    extra = "ray"
    module = "ray"
    # The object store's size in bytes; None: ``object_store_bytes()``.
    store_bytes: ClassVar[int | None] = None

    def __init__(self) -> None:
        self._temp_dir: str | None = None
        self._before: set[int] | None = None  # this process's descendants before Ray started
        atexit.register(self.close)

    def _start(self, cores: int, threads: int) -> None:
        import ray

        if ray.is_initialized():
            return
        # Ray's own token authentication stays on; its notice of that on every start says nothing to a user.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        self._temp_dir = tempfile.mkdtemp(prefix="udfbench-ray-")
        self._before = descendants()
        try:
            # Ray's daemons pass their environment to the workers: the pin reaches every actor.
            with pinned_children(threads):
                ray.init(
                    address="local",  # a Ray of udfbench's own, never one that happens to run here
                    num_cpus=cores,
                    object_store_memory=self.store_bytes or object_store_bytes(),
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    _temp_dir=self._temp_dir,
                )
        except Exception as err:
            self.close()
            raise CaseFailed(f"Ray did not start: {short_error(err)}") from err
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its progress lines, on every execution
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False

    def close(self) -> None:
        try:
            import ray
        except ImportError:
            return
        if ray.is_initialized():
            ray.shutdown()
        if self._before is not None:  # what a failed start, or a shutdown, left running
            end_descendants(self._before, RAY_MARKS)
            self._before = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def predict_rows(
        self, rows: pd.DataFrame, read: ImageReader, predictor: Predictor
    ) -> Iterator[pd.DataFrame]:
        threads = worker_threads(predictor)
        cores = usable_cores()
        actors = max(1, cores // threads)
        self._start(cores, threads)
        import ray.data

        single = replace(predictor, threads=threads, tally=None)
        per_block = max(predictor.batch_size, min(MAX_BLOCK_ROWS, math.ceil(len(rows) / (2 * actors))))
        blocks = [rows.iloc[start : start + per_block] for start in range(0, len(rows), per_block)]
        with warnings.catch_warnings():  # Ray 2.60 deprecates remote args it has no other way to take yet
            warnings.simplefilter("ignore", DeprecationWarning)
            predicted = ray.data.from_pandas(blocks).map_batches(
                EngineWorker,
                fn_constructor_args=(single, read),
                batch_size=predictor.batch_size,
                batch_format="pandas",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=threads,
                max_restarts=0,  # a worker that dies fails the case, as a lost Spark task fails it
            )
        for batch in predicted.iter_batches(batch_format="pandas", batch_size=None):
            yield take_tally(batch, predictor)


STRATEGY = RayMapBatches()
