"""``pandas_udf_iter``: the iterator-of-Series pandas UDF; the model is ready before the first batch.

The iterator form lets a task do its setup once (here: fetch the worker's cached model, loading it
on first use) and then stream Arrow batches through it.
"""

from __future__ import annotations

from collections.abc import Iterator

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


class PandasIterUdf(SparkStrategy):
    name = "pandas_udf_iter"
    eval_type = "SQL_SCALAR_PANDAS_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_batches(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
            counted = predictor.counting()
            counted.model()
            for sources in batches:
                labels, scores = counted.predict(sources.tolist())
                yield pd.DataFrame(
                    {"label": labels, "score": scores, TALLY: tally_column(len(labels), counted.tally.take())}
                )

        udf = check_eval_type(F.pandas_udf(predict_batches, PREDICTION_DDL), self.eval_type)
        return with_prediction(df, udf(F.col(source)))


STRATEGY = PandasIterUdf()
