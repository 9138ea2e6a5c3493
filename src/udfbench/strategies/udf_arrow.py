"""``udf_arrow``: the Arrow-optimized row-at-a-time Python UDF (``useArrow=True``).

Rows cross from the JVM in Arrow batches instead of pickled rows, but the function is still called
once per row, so the model still predicts one image at a time.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from udfbench.predictor import Predictor
from udfbench.strategies.base import PREDICTION_DDL, SparkStrategy, check_eval_type, with_prediction


class ArrowRowUdf(SparkStrategy):
    name = "udf_arrow"
    eval_type = "SQL_ARROW_BATCHED_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_row(value):
            labels, scores = predictor.predict([value])
            return int(labels[0]), float(scores[0])

        udf = check_eval_type(F.udf(predict_row, PREDICTION_DDL, useArrow=True), self.eval_type)
        return with_prediction(df, udf(F.col(source)))


STRATEGY = ArrowRowUdf()
