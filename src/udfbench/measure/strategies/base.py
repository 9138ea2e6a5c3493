"""The one interface every strategy implements.

A strategy differs from the others only in how rows reach ``Predictor.predict``: a driver loop, a
row-at-a-time UDF, a pandas UDF, and so on. Decoding, batching, counting and the model cache are
the predictor's job, so that every strategy does the same work and gives the same answers.

Spark strategies turn the input DataFrame (columns ``id``, ``path``, ``truth`` and, in bytes mode,
``content``) into one with ``id``, ``path``, ``label`` (class index, -1 when the image was skipped),
``score`` and ``tally``: what the worker's predictor counted for that row's call (``TALLY_FIELDS``,
model loads and seconds included) on the call's first row, null on the others. The timed action sums
the tally in the job that runs the model, so the driver learns from the output itself how many rows
the model saw. Local strategies do the same on a stream of pandas chunks with the same columns,
without Spark; the workload produces the stream (from files or a table), so a local strategy never
opens its input itself. Engine strategies run another engine (Ray Data, Daft) on this machine: they get
the dataset's small index and a reader, and the engine's workers read the images, as Spark's do.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from udfbench.model.predictor import Predictor

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from udfbench.measure.workload import ImageReader

TALLY = "tally"
PREDICTION_DDL = f"label int, score float, {TALLY} array<double>"
# What whole-partition strategies (mapInPandas, mapInArrow, RDDs) return.
OUTPUT_DDL = f"id long, path string, {PREDICTION_DDL}"


class Strategy(ABC):
    name: ClassVar[str]
    # Spark's PythonEvalType name of the UDF the strategy builds, or "none" (no Python UDF).
    eval_type: ClassVar[str]
    uses_spark: ClassVar[bool] = True

    def unsupported_reason(self, spark: SparkSession | None) -> str | None:
        """Why this strategy cannot run here (old Spark, Spark Connect, ...), or None."""
        return None


def tally_column(rows: int, taken: list[float]) -> list[list[float] | None]:
    """A call's tally as a column of ``rows`` values: the counts on the first row, null on the rest
    (a call that predicted no row has nowhere to put them, and counted nothing but perhaps a load)."""
    return [taken] + [None] * (rows - 1) if rows else []


class SparkStrategy(Strategy):
    @abstractmethod
    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        """Add ``label`` and ``score`` to ``df``, predicting from column ``source`` (path or content)."""


class LocalStrategy(Strategy):
    uses_spark = False
    # Whether chunks go to several processes in turn; then chunks of a table's cells follow its row
    # groups, so that no two processes read the same group.
    chunks_to_many_processes = False

    def chunk_rows(self, predictor: Predictor) -> int:
        """Rows per chunk the strategy wants from the input stream."""
        return predictor.batch_size

    @abstractmethod
    def predict_local(
        self, chunks: Iterable[pd.DataFrame], predictor: Predictor, source: str
    ) -> Iterator[pd.DataFrame]:
        """Yield each chunk (``chunk_rows`` rows, the last may be fewer, or cells by row group, see
        ``chunks_to_many_processes``; column ``source`` holds what to predict from) with ``label``
        and ``score`` added; never hold all images at once."""

    def close(self) -> None:
        """Let go of what the strategy keeps between runs (worker processes), as a Spark session's
        end lets go of its Python workers: the strategies after it must not share the machine."""

    def settle(self) -> None:
        """After a run, untimed: wait for what the run started to end, so that the next run does not
        share the machine with it."""


class EngineStrategy(LocalStrategy):
    """Another engine than Spark, started on this machine by the strategy and ended by ``close``.

    It needs an optional dependency (``udfbench[<extra>]``); without it the strategy is refused before
    the run. Its workers get rows of the dataset's index and ``read`` them (a file's path, a table's
    cell, or in bytes mode the image bytes), predict, and hand back their tally increments with the
    predictions.
    """

    # The optional dependency's extra (``pip install 'udfbench[<extra>]'``) and the module it provides.
    extra: ClassVar[str]
    module: ClassVar[str]

    def missing_extra(self) -> str | None:
        """The one line that says how to install the engine, or None when it is installed."""
        if importlib.util.find_spec(self.module) is not None:
            return None
        return f"strategy {self.name} needs {self.module}: pip install 'udfbench[{self.extra}]'"

    def unsupported_reason(self, spark: SparkSession | None) -> str | None:
        return self.missing_extra()

    @abstractmethod
    def predict_rows(
        self, rows: pd.DataFrame, read: ImageReader, predictor: Predictor
    ) -> Iterator[pd.DataFrame]:
        """Yield ``rows`` (id, path, and cell from a table) in chunks of any size and order, with
        ``label`` and ``score`` added; every row once."""

    def predict_local(
        self, chunks: Iterable[pd.DataFrame], predictor: Predictor, source: str
    ) -> Iterator[pd.DataFrame]:
        raise TypeError(f"{self.name} reads its own input: the loop calls predict_rows")


def check_eval_type(udf: Any, expected: str) -> Any:
    """Return ``udf`` after making sure Spark built the kind of UDF the results will say it is.

    PySpark picks eval types from flags, type hints and defaults that change between versions
    (in 4.x a plain ``udf`` is Arrow-backed by default), so a silent change would mislabel results.
    """
    from pyspark.util import PythonEvalType

    actual = udf.evalType
    if actual != getattr(PythonEvalType, expected):
        names = {getattr(PythonEvalType, n): n for n in dir(PythonEvalType) if n.isupper()}
        raise RuntimeError(f"expected a {expected} UDF but Spark built {names.get(actual, actual)}")
    return udf


def with_prediction(df: DataFrame, prediction: Column) -> DataFrame:
    """Add a ``PREDICTION_DDL`` struct-valued expression as top-level columns."""
    keep = [c for c in df.columns if c != "content"]
    fields = [f"prediction.{name}" for name in ("label", "score", TALLY)]
    return df.withColumn("prediction", prediction).select(*keep, *fields)
