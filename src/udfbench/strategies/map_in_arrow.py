"""``map_in_arrow``: a whole-partition function over Arrow record batches (``DataFrame.mapInArrow``)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame

from udfbench.predictor import Predictor
from udfbench.strategies.base import OUTPUT_DDL, SparkStrategy


class MapInArrow(SparkStrategy):
    name = "map_in_arrow"
    eval_type = "SQL_MAP_ARROW_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            predictor.model()
            for batch in batches:
                labels, scores = predictor.predict(batch.column(source).to_pylist())
                yield pa.RecordBatch.from_arrays(
                    [batch.column("id"), batch.column("path"), pa.array(labels), pa.array(scores)],
                    names=["id", "path", "label", "score"],
                )

        return df.mapInArrow(predict_batches, OUTPUT_DDL)


STRATEGY = MapInArrow()
