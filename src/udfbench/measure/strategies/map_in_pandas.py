"""``map_in_pandas``: a whole-partition function over pandas DataFrames (``DataFrame.mapInPandas``)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame

from udfbench.measure.strategies.base import OUTPUT_DDL, TALLY, SparkStrategy, tally_column
from udfbench.model.predictor import Predictor


class MapInPandas(SparkStrategy):
    name = "map_in_pandas"
    eval_type = "SQL_MAP_PANDAS_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_frames(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            counted = predictor.counting()
            counted.model()
            for frame in frames:
                labels, scores = counted.predict(frame[source].tolist())
                tally = tally_column(len(labels), counted.tally.take())
                yield pd.DataFrame(
                    {"id": frame["id"], "path": frame["path"], "label": labels, "score": scores, TALLY: tally}
                )

        return df.mapInPandas(predict_frames, OUTPUT_DDL)


STRATEGY = MapInPandas()
