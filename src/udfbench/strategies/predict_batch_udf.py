"""``predict_batch_udf``: Spark's own API for batch inference (``pyspark.ml.functions``).

Spark batches the rows (``batch_size``) and caches what ``make_predict_fn`` returns per Python
worker; the predictor underneath does the same decoding and prediction as every other strategy.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import FloatType, IntegerType, StructField, StructType

from udfbench.predictor import Predictor
from udfbench.strategies.base import SparkStrategy, check_eval_type, with_prediction

# predict_batch_udf wants a DataType, not a DDL string.
PREDICTION_TYPE = StructType([StructField("label", IntegerType()), StructField("score", FloatType())])


class TaskPredictor:
    """The predictor of the task at hand, for a function that outlives its task.

    Spark calls ``make_predict_fn`` once per Python worker and reuses what it returns in every later
    task of the same UDF, but each task unpickles its own predictor, whose tally is the accumulator
    Spark collects from that task: counting into the first task's predictor would lose every later
    task's rows. Each task unpickles this holder with the UDF, which makes that task's predictor the
    latest; a worker runs one task at a time, so one slot is enough.
    """

    latest: ClassVar[tuple[str, Predictor] | None] = None

    def __init__(self, predictor: Predictor, token: str | None = None) -> None:
        self.predictor = predictor
        self.token = token or uuid.uuid4().hex

    @classmethod
    def unpickled(cls, predictor: Predictor, token: str) -> TaskPredictor:
        cls.latest = (token, predictor)
        return cls(predictor, token)

    def __reduce__(self):
        return TaskPredictor.unpickled, (self.predictor, self.token)

    def get(self) -> Predictor:
        if TaskPredictor.latest is not None and TaskPredictor.latest[0] == self.token:
            return TaskPredictor.latest[1]
        return self.predictor


class PredictBatchUdf(SparkStrategy):
    name = "predict_batch_udf"
    eval_type = "SQL_SCALAR_PANDAS_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        from pyspark.ml.functions import predict_batch_udf

        task = TaskPredictor(predictor)

        def make_predict_fn():
            task.get().model()

            def predict(sources: np.ndarray) -> dict[str, np.ndarray]:
                labels, scores = task.get().predict(list(sources))
                return {"label": labels, "score": scores}

            return predict

        udf = predict_batch_udf(make_predict_fn, return_type=PREDICTION_TYPE, batch_size=predictor.batch_size)
        return with_prediction(df, check_eval_type(udf, self.eval_type)(F.col(source)))


STRATEGY = PredictBatchUdf()
