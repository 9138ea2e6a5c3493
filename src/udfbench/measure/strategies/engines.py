"""What the other engines' strategies (Ray Data, Daft) share: the worker that predicts, its tally
travelling back with the predictions, and ending what an engine left running.

An engine's worker process runs ``EngineWorker``: it loads the model once when the engine starts it
(the load is tallied, so a run that starts workers shows it), then reads and predicts each batch of
index rows it is given. Each batch's tally increment rides in a ``tally`` column, on the batch's first
row (null on the others), so that it survives whatever re-batching the engine does on the way back;
``take_tally`` adds it to the driver's tally and drops the column.
"""

from __future__ import annotations

import time
from collections.abc import Set
from contextlib import suppress

import numpy as np
import pandas as pd
import psutil

from udfbench.measure.strategies.base import TALLY, tally_column
from udfbench.measure.workload import ImageReader
from udfbench.model.predictor import Predictor, tally_vector


class EngineWorker:
    """A model per worker process: built once when the engine starts the worker, called per batch."""

    def __init__(self, predictor: Predictor, read: ImageReader) -> None:
        self.predictor = predictor
        self.read = read
        self.counted = predictor.counting()
        self.counted.model()  # the cold load, handed back with the first batch

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = rows[["id", "path"]].copy()
        if rows.empty:
            return out.assign(label=np.zeros(0, np.int32), score=np.zeros(0, np.float32), **{TALLY: []})
        started = time.perf_counter()
        sources = self.read(rows)
        # Reading the images in bytes mode counts as decoding, as reading a table's cells does.
        self.counted.tally.add(tally_vector(self.predictor.n_classes, decode_s=time.perf_counter() - started))
        out["label"], out["score"] = self.counted.predict(sources)
        out[TALLY] = tally_column(len(out), self.counted.tally.take())
        return out


def take_tally(batch: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    """Add the tally increments that ``batch`` carries to ``predictor.tally``; the batch without them."""
    if predictor.tally is not None:
        for increment in batch[TALLY]:
            if pd.api.types.is_list_like(increment) and len(increment):  # the other rows: None or NA
                predictor.tally.add(np.asarray(increment, dtype=float))
    return batch.drop(columns=TALLY)


def worker_threads(predictor: Predictor) -> int:
    """Math threads per worker: as configured (``spark.threads``), else one, as the ceiling's."""
    return predictor.threads or 1


def descendants() -> set[int]:
    """The pids of this process's children, grandchildren and so on."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def descendants_with(marks: tuple[str, ...], since: Set[int] = frozenset()) -> list[psutil.Process]:
    """The descendants of this process that were not in ``since`` and whose command line holds one of
    ``marks``."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
            if process.pid not in since and any(mark in command for mark in marks):
                found.append(process)
        except psutil.Error:
            continue
    return found


def end_descendants(since: set[int], marks: tuple[str, ...], grace_s: float = 3.0) -> None:
    """End what an engine started and did not end itself (``descendants_with``: Ray leaves its daemons
    running when its start fails half-way). Politely first, then by force."""
    found = descendants_with(marks, since)
    for process in found:
        with suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(found, timeout=grace_s)
    for process in alive:
        with suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)
