"""``rdd_map_partitions``: ``df.rdd.mapPartitions``, the pre-DataFrame way.

Rows are pickled between the JVM and Python as Row objects; the function batches them itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from pyspark.sql import DataFrame, Row, SparkSession

from udfbench.measure.strategies.base import OUTPUT_DDL, SparkStrategy, tally_column
from udfbench.model.predictor import Predictor
from udfbench.spark.connect import is_connect


class RddMapPartitions(SparkStrategy):
    name = "rdd_map_partitions"
    eval_type = "NON_UDF"

    def unsupported_reason(self, spark: SparkSession | None) -> str | None:
        if spark is not None and is_connect(spark):
            return "Spark Connect has no RDDs (DataFrame.rdd is not implemented there)"
        return None

    def transform(self, df: DataFrame, predictor: Predictor, source: str) -> DataFrame:
        def predict_partition(rows: Iterator[Row]) -> Iterator[tuple]:
            counted = predictor.counting()
            counted.model()
            while batch := list(itertools.islice(rows, predictor.batch_size)):
                labels, scores = counted.predict([row[source] for row in batch])
                tally = tally_column(len(batch), counted.tally.take())
                for row, label, score, counts in zip(batch, labels, scores, tally, strict=True):
                    yield row["id"], row["path"], int(label), float(score), counts

        spark = df.sparkSession
        return spark.createDataFrame(df.rdd.mapPartitions(predict_partition), OUTPUT_DDL)


STRATEGY = RddMapPartitions()
