"""The one interface every strategy implements.

A strategy differs from the others only in how rows reach ``Predictor.predict``: a driver loop, a
row-at-a-time UDF, a pandas UDF, and so on. Decoding, batching, counting and the model cache are
the predictor's job, so that every strategy does the same work and gives the same answers.

Spark strategies turn the input DataFrame (columns ``id``, ``path``, ``truth`` and, in bytes mode,
``content``) into one with ``id``, ``path``, ``label`` (class index, -1 when the image was skipped)
and ``score``. Local strategies do the same on a stream of pandas chunks with the same columns,
without Spark; the workload produces the stream (from files or a table), so a local strategy never
opens its input itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from udfbench.predictor import Predictor

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

PREDICTION_DDL = "label int, score float"
# What whole-partition strategies (mapInPandas, mapInArrow, RDDs) return.
OUTPUT_DDL = "id long, path string, label int, score float"


class Strategy(ABC):
    name: ClassVar[str]
    # Spark's PythonEvalType name of the UDF the strategy builds, or "none" (no Python UDF).
    eval_type: ClassVar[str]
    uses_spark: ClassVar[bool] = True

    def unsupported_reason(self, spark: SparkSession | None) -> str | None:
        """Why this strategy cannot run here (old Spark, Spark Connect, ...), or None."""
        return None


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
    """Add a ``label int, score float`` struct-valued expression as two top-level columns."""
    keep = [c for c in df.columns if c != "content"]
    return df.withColumn("prediction", prediction).select(*keep, "prediction.label", "prediction.score")
