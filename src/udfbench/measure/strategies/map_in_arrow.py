"""``map_in_arrow``: a whole-partition function over Arrow record batches (``DataFrame.mapInArrow``)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame

from udfbench.measure.strategies.base import OUTPUT_DDL, TALLY, SparkStrategy, tally_column
from udfbench.model.predictor import Predictor


class MapInArrow(SparkStrategy):
    name = "map_in_arrow"
    eval_type = "SQL_MAP_ARROW_ITER_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            counted = predictor.counting()
            counted.model()
            for batch in batches:
                labels, scores = counted.predict(batch.column(source).to_pylist())
                tally = pa.array(tally_column(len(labels), counted.tally.take()), pa.list_(pa.float64()))
                yield pa.RecordBatch.from_arrays(
                    [batch.column("id"), batch.column("path"), pa.array(labels), pa.array(scores), tally],
                    names=["id", "path", "label", "score", TALLY],
                )

        return df.mapInArrow(predict_batches, OUTPUT_DDL)


STRATEGY = MapInArrow()
