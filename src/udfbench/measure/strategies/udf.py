"""``udf``: the pickled row-at-a-time Python UDF of the founding study.

In PySpark 4.x a plain ``udf`` may be Arrow-backed and reads type hints, so this one asks for the
pickled kind explicitly (``useArrow=False``, no hints). One row per call means one image per
prediction: batching is what this strategy cannot do.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from udfbench.measure.strategies.base import PREDICTION_DDL, SparkStrategy, check_eval_type, with_prediction
from udfbench.model.predictor import Predictor


class RowUdf(SparkStrategy):
    name = "udf"
    eval_type = "SQL_BATCHED_UDF"
    use_arrow = False

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_row(value):
            counted = predictor.counting()
            labels, scores = counted.predict([value])
            return int(labels[0]), float(scores[0]), counted.tally.take()

        udf = check_eval_type(F.udf(predict_row, PREDICTION_DDL, useArrow=self.use_arrow), self.eval_type)
        return with_prediction(df, udf(F.col(source)))


STRATEGY = RowUdf()
