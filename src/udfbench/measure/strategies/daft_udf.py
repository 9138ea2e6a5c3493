"""``daft_udf``: a Daft DataFrame of the case's rows with a class UDF (``@daft.cls``, a batch method),
one model per worker process, collected fully; Daft's own (native) runner on this machine.

The class runs in ``max_concurrency`` worker processes (one per core, or cores / ``spark.threads``),
which Daft starts for each query and ends after it, so every run pays their start and model loads
(the tally counts them), as Ray Data's actor pool does. The processes are udfbench's children,
marked by the watchdog and pinned to the configured math threads. Only the small index goes in: the
workers read the images themselves (paths, bytes from the files or a table's cells).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

import pandas as pd
import psutil

from udfbench.measure.local_processes import pinned_children, usable_cores
from udfbench.measure.strategies.base import TALLY, EngineStrategy
from udfbench.measure.strategies.engines import EngineWorker, descendants_with, take_tally, worker_threads
from udfbench.measure.workload import ImageReader
from udfbench.model.predictor import Predictor

# How Daft starts each UDF process (``python -m daft.execution.udf_worker``), and how long a run's
# end waits for them: past it, the next run's python_workers count shows the overlap.
UDF_WORKER_MODULE = "daft.execution.udf_worker"
SETTLE_TIMEOUT_S = 60.0


@cache
def _udf_class(workers: int, threads: int, batch_size: int, columns: tuple[str, ...]) -> Any:
    """The Daft class UDF for these settings: ``EngineWorker`` behind a batch method over ``columns``."""
    import daft
    from daft import DataType

    prediction = DataType.struct(
        {
            "label": DataType.int32(),
            "score": DataType.float32(),
            TALLY: DataType.list(DataType.float64()),
        }
    )

    @daft.cls(max_concurrency=workers, use_process=True, cpus=threads)
    class DaftWorker:
        def __init__(self, predictor: Predictor, read: ImageReader) -> None:
            self.worker = EngineWorker(predictor, read)

        @daft.method.batch(return_dtype=prediction, batch_size=batch_size)
        def __call__(self, *series: Any) -> list[dict[str, Any]]:
            rows = pd.DataFrame({name: s.to_pylist() for name, s in zip(columns, series, strict=True)})
            out = self.worker(rows)
            return out[["label", "score", TALLY]].to_dict("records")

    return DaftWorker


class DaftUdf(EngineStrategy):
    name = "daft_udf"
    eval_type = "none"
    extra = "daft"
    module = "daft"

    def predict_rows(
        self, rows: pd.DataFrame, read: ImageReader, predictor: Predictor
    ) -> Iterator[pd.DataFrame]:
        import daft
        from daft import col

        threads = worker_threads(predictor)
        workers = max(1, usable_cores() // threads)
        columns = tuple(rows.columns)
        model = _udf_class(workers, threads, predictor.batch_size, columns)(
            replace(predictor, threads=threads, tally=None), read
        )
        predicted = daft.from_pandas(rows).select(
            col("id"), col("path"), model(*(col(c) for c in columns)).alias("p")
        )
        predicted = predicted.select(
            col("id"),
            col("path"),
            *(col("p")[field].alias(field) for field in ("label", "score", TALLY)),
        )
        # Daft starts its UDF processes when the query runs: pinned as they start.
        with pinned_children(threads):
            for part in predicted.to_arrow_iter():
                yield take_tally(part.to_pandas(), predictor)

    def settle(self) -> None:
        """Wait for the query's UDF processes, which Daft ends after the query returns: on a busy
        machine they outlived Daft's own 5-second wait for them and overlapped the next run."""
        psutil.wait_procs(descendants_with((UDF_WORKER_MODULE,)), timeout=SETTLE_TIMEOUT_S)


STRATEGY = DaftUdf()
