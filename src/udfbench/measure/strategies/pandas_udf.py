"""``pandas_udf``: a scalar Series-to-Series pandas UDF; Spark hands over Arrow batches of rows."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
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


class PandasUdf(SparkStrategy):
    name = "pandas_udf"
    eval_type = "SQL_SCALAR_PANDAS_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_series(sources: pd.Series) -> pd.DataFrame:
            counted = predictor.counting()
            labels, scores = counted.predict(sources.tolist())
            return pd.DataFrame(
                {"label": labels, "score": scores, TALLY: tally_column(len(labels), counted.tally.take())}
            )

        udf = check_eval_type(F.pandas_udf(predict_series, PREDICTION_DDL), self.eval_type)
        return with_prediction(df, udf(F.col(source)))


STRATEGY = PandasUdf()
