"""``pandas_udf``: a scalar Series-to-Series pandas UDF; Spark hands over Arrow batches of rows."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from udfbench.predictor import Predictor
from udfbench.strategies.base import PREDICTION_DDL, SparkStrategy, check_eval_type, with_prediction


class PandasUdf(SparkStrategy):
    name = "pandas_udf"
    eval_type = "SQL_SCALAR_PANDAS_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_series(sources: pd.Series) -> pd.DataFrame:
            labels, scores = predictor.predict(sources.tolist())
            return pd.DataFrame({"label": labels, "score": scores})

        udf = check_eval_type(F.pandas_udf(predict_series, PREDICTION_DDL), self.eval_type)
        return with_prediction(df, udf(F.col(source)))


STRATEGY = PandasUdf()
