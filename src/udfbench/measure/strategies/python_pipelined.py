"""``python_pipelined``: no Spark; the ceiling the Spark strategies are measured against.

It is built the way the machine's limit is computed (``calibration.py``): one single-threaded worker
process per core (``local_processes.py``), each decoding and predicting its share of the rows in batches, with
nothing between the cores to share or wait for. Threads would not do: decoding holds the GIL for part
of its time, and one TensorFlow pool across all cores pays for synchronisation that separate
processes never do.

The pool outlives a run, as Spark's Python workers do: its first (warmup) run pays for starting the
processes and loading the model, the measured runs do not. Only the image sources (paths, the encoded
bytes in ``bytes`` mode and from tables read by Spark, or cells) and the predictions cross between
processes, at most two chunks per worker at a time, and each returns its tally increment for the
driver to add (the pool's model loads go into its first run's, which waits for all of them).
Results come back in row order.
"""

from __future__ import annotations

import atexit
import queue
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from multiprocessing.pool import AsyncResult, Pool
from multiprocessing.queues import Queue

import numpy as np
import pandas as pd

from udfbench.measure.local_processes import single_threaded_children, spawn_context, usable_cores
from udfbench.measure.strategies.base import LocalStrategy
from udfbench.model.predictor import LocalTally, Predictor, tally_width

# A single-threaded predict costs the same per image from about 16 images per batch up (measured with
# ``calibration.calibrate`` on the built-in CNN), so the ceiling never predicts in smaller batches,
# but for the end of a chunk: the dataset's, or with cells a row group's (chunks follow row groups).
MIN_BATCH = 32

# How long a new pool may take to load the model in every worker (TensorFlow's import alone takes
# seconds, more on a busy machine) before the run is failed rather than left waiting.
POOL_START_TIMEOUT_S = 600.0


def _start_worker(predictor: Predictor, loads: Queue) -> None:
    """Load the model into this worker and hand its load's tally to the driver, which waits for every
    worker's: a worker that gets no chunk in the first run still loaded the model during it."""
    tally = LocalTally(tally_width(predictor.n_classes))
    predictor.with_tally(tally).model()
    loads.put(tally.value)


def _predict_chunk(
    predictor: Predictor, chunk: pd.DataFrame, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tally = LocalTally(tally_width(predictor.n_classes))
    labels, scores = predictor.with_tally(tally).predict(chunk[source].tolist())
    return labels, scores, tally.value


class PythonPipelined(LocalStrategy):
    name = "python_pipelined"
    eval_type = "none"
    chunks_to_many_processes = True

    def __init__(self) -> None:
        self._pool: Pool | None = None
        self._pool_key: tuple[str, int] | None = None
        # The new pool's model loads, summed over its workers: added to the first run's tally.
        self._startup: np.ndarray | None = None
        # Before interpreter shutdown tears down what a pool needs to stop cleanly.
        atexit.register(self.close)

    def _workers(self, predictor: Predictor, processes: int) -> Pool:
        """The pool for this model, started on first use: each worker loads the model once, and the
        pool is handed out once every worker has."""
        key = (predictor.digest, processes)
        if self._pool is None or self._pool_key != key:
            self.close()
            context = spawn_context()
            loads = context.Queue()
            with single_threaded_children():
                self._pool = context.Pool(processes, _start_worker, (predictor, loads))
            self._pool_key = key
            try:
                self._startup = sum(loads.get(timeout=POOL_START_TIMEOUT_S) for _ in range(processes))
            except queue.Empty:
                self.close()
                raise RuntimeError(
                    f"the {processes} worker processes did not load the model within "
                    f"{POOL_START_TIMEOUT_S:.0f} s"
                ) from None
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool, self._pool_key = None, None

    def chunk_rows(self, predictor: Predictor) -> int:
        return max(predictor.batch_size, MIN_BATCH)

    def predict_local(
        self, chunks: Iterable[pd.DataFrame], predictor: Predictor, source: str
    ) -> Iterator[pd.DataFrame]:
        """Each chunk to the next free worker; at most two per worker in flight, so memory stays flat
        however many rows stream in, and the answers come back in row order."""
        processes = usable_cores()
        single = replace(predictor, batch_size=self.chunk_rows(predictor), threads=1, tally=None)
        pool = self._workers(single, processes)
        if self._startup is not None and predictor.tally is not None:
            predictor.tally.add(self._startup)
            self._startup = None
        task = replace(single, model_data=None)  # the workers hold the model: ship only the settings
        pending: deque[tuple[pd.DataFrame, AsyncResult]] = deque()
        done = False
        try:
            for chunk in chunks:
                pending.append((chunk, pool.apply_async(_predict_chunk, (task, chunk[[source]], source))))
                if len(pending) >= 2 * processes:
                    yield self._finish(predictor, *pending.popleft())
            while pending:
                yield self._finish(predictor, *pending.popleft())
            done = True
        finally:
            if not done:  # a failed or abandoned run must not leave work queued for the next one
                self.close()

    @staticmethod
    def _finish(predictor: Predictor, chunk: pd.DataFrame, answer: AsyncResult) -> pd.DataFrame:
        labels, scores, tally = answer.get()
        if predictor.tally is not None:
            predictor.tally.add(tally)
        return chunk.drop(columns="content", errors="ignore").assign(label=labels, score=scores)


STRATEGY = PythonPipelined()
