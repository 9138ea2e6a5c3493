"""``arrow_udf``: Spark 4.1's Arrow-native UDF (``functions.arrow_udf``), iterator form.

Like ``pandas_udf_iter`` but on ``pyarrow.Array`` values, without the conversion to pandas.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from udfbench.measure.strategies.base import (
    PREDICTION_DDL,
    TALLY,
    SparkStrategy,
    check_eval_type,
    tally_column,
    with_prediction,
)
from udfbench.model.predictor import Predictor


class ArrowIterUdf(SparkStrategy):
    name = "arrow_udf"
    eval_type = "SQL_SCALAR_ARROW_ITER_UDF"

    def unsupported_reason(self, spark: SparkSession | None) -> str | None:
        if not hasattr(F, "arrow_udf"):
            return "pyspark.sql.functions.arrow_udf needs Spark 4.1 or newer"
        return None

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_arrays(arrays: Iterator[pa.Array]) -> Iterator[pa.Array]:
            counted = predictor.counting()
            counted.model()
            for sources in arrays:
                labels, scores = counted.predict(sources.to_pylist())
                tally = pa.array(tally_column(len(labels), counted.tally.take()), pa.list_(pa.float64()))
                yield pa.StructArray.from_arrays(
                    [pa.array(labels), pa.array(scores), tally], names=["label", "score", TALLY]
                )

        udf = check_eval_type(F.arrow_udf(predict_arrays, PREDICTION_DDL), self.eval_type)
        return with_prediction(df, udf(F.col(source)))


STRATEGY = ArrowIterUdf()
