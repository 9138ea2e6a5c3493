"""``map_in_pandas``: a whole-partition function over pandas DataFrames (``DataFrame.mapInPandas``)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame

from udfbench.predictor import Predictor
from udfbench.strategies.base import OUTPUT_DDL, SparkStrategy


class MapInPandas(SparkStrategy):
    name = "map_in_pandas"
    eval_type = "SQL_MAP_PANDAS_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_frames(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            predictor.model()
            for frame in frames:
                labels, scores = predictor.predict(frame[source].tolist())
                yield pd.DataFrame(
                    {"id": frame["id"], "path": frame["path"], "label": labels, "score": scores}
                )

        return df.mapInPandas(predict_frames, OUTPUT_DDL)


STRATEGY = MapInPandas()
