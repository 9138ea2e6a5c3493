"""``rdd_map_partitions``: ``df.rdd.mapPartitions``, the pre-DataFrame way.

Rows are pickled between the JVM and Python as Row objects; the function batches them itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from pyspark.sql import DataFrame, Row

from udfbench.predictor import Predictor
from udfbench.strategies.base import OUTPUT_DDL, SparkStrategy


class RddMapPartitions(SparkStrategy):
    name = "rdd_map_partitions"
    eval_type = "NON_UDF"

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_partition(rows: Iterator[Row]) -> Iterator[tuple]:
            predictor.model()
            while batch := list(itertools.islice(rows, predictor.batch_size)):
                labels, scores = predictor.predict([row[source] for row in batch])
                for row, label, score in zip(batch, labels, scores, strict=True):
                    yield row["id"], row["path"], int(label), float(score)

        spark = df.sparkSession
        return spark.createDataFrame(df.rdd.mapPartitions(predict_partition), OUTPUT_DDL)


STRATEGY = RddMapPartitions()
