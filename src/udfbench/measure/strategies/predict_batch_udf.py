"""``predict_batch_udf``: Spark's own API for batch inference (``pyspark.ml.functions``).

Spark batches the rows (``batch_size``) and caches what ``make_predict_fn`` returns per Python
worker, across tasks; the predictor underneath does the same decoding and prediction as every other
strategy. Its tally lives as long as that cached function and hands each batch's counts on with the
batch's predictions, so no count depends on which task loaded the model.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType, IntegerType, StructField, StructType

from udfbench.measure.strategies.base import TALLY, SparkStrategy, check_eval_type, with_prediction
from udfbench.model.predictor import Predictor, tally_width

# predict_batch_udf wants a DataType, not a DDL string.
PREDICTION_TYPE = StructType(
    [
        StructField("label", IntegerType()),
        StructField("score", FloatType()),
        StructField(TALLY, ArrayType(DoubleType())),
    ]
)


class PredictBatchUdf(SparkStrategy):
    name = "predict_batch_udf"
    eval_type = "SQL_SCALAR_PANDAS_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        from pyspark.ml.functions import predict_batch_udf

        def make_predict_fn():
            counted = predictor.counting()
            counted.model()

            def predict(sources: np.ndarray) -> dict[str, np.ndarray]:
                labels, scores = counted.predict(list(sources))
                # predict_batch_udf takes an array field as a 2-d array, one row each: no nulls, so
                # the rows after the first carry zeros.
                tally = np.zeros((len(labels), tally_width(counted.n_classes)))
                if len(labels):
                    tally[0] = counted.tally.take()
                return {"label": labels, "score": scores, TALLY: tally}

            return predict

        udf = predict_batch_udf(make_predict_fn, return_type=PREDICTION_TYPE, batch_size=predictor.batch_size)
        return with_prediction(df, check_eval_type(udf, self.eval_type)(F.col(source)))


STRATEGY = PredictBatchUdf()
