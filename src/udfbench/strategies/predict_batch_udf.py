"""``predict_batch_udf``: Spark's own API for batch inference (``pyspark.ml.functions``).

Spark batches the rows (``batch_size``) and caches what ``make_predict_fn`` returns per Python
worker; the predictor underneath does the same decoding and prediction as every other strategy.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import FloatType, IntegerType, StructField, StructType

from udfbench.predictor import Predictor
from udfbench.strategies.base import SparkStrategy, check_eval_type, with_prediction

# predict_batch_udf wants a DataType, not a DDL string.
PREDICTION_TYPE = StructType([StructField("label", IntegerType()), StructField("score", FloatType())])


class PredictBatchUdf(SparkStrategy):
    name = "predict_batch_udf"
    eval_type = "SQL_SCALAR_PANDAS_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        from pyspark.ml.functions import predict_batch_udf

        def make_predict_fn():
            predictor.model()

            def predict(sources: np.ndarray) -> dict[str, np.ndarray]:
                labels, scores = predictor.predict(list(sources))
                return {"label": labels, "score": scores}

            return predict

        udf = predict_batch_udf(make_predict_fn, return_type=PREDICTION_TYPE, batch_size=predictor.batch_size)
        return with_prediction(df, check_eval_type(udf, self.eval_type)(F.col(source)))


STRATEGY = PredictBatchUdf()
