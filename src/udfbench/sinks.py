"""Where predictions go in a timed run, and the proof that nothing was lost on the way.

``noop`` is Spark's sink that computes every row and writes nothing: pure inference cost. ``sorted``
is the founding problem itself: every image's row written into one place per predicted class
(Parquet partitioned by ``class``), then read back and counted against the rows read.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from udfbench.errors import CaseFailed

UNREADABLE = "_unreadable"  # the class folder of images skipped as unreadable
SORTED_COLUMNS = ["id", "path", "score", "class"]


def class_names(labels: pd.Series, classes: Sequence[str]) -> pd.Series:
    return labels.map(lambda i: classes[i] if i >= 0 else UNREADABLE)


def write_spark(out: Any, sink: str, target: Path, classes: Sequence[str]) -> None:
    """Run the job that makes the model see every row, writing where ``sink`` says."""
    if sink == "noop":
        out.write.format("noop").mode("overwrite").save()
        return
    from pyspark.sql import functions as F

    names = F.array(*[F.lit(c) for c in classes])
    with_class = out.withColumn(
        "class",
        F.when(F.col("label") < 0, F.lit(UNREADABLE)).otherwise(F.element_at(names, F.col("label") + 1)),
    )
    with_class.select(*SORTED_COLUMNS).write.partitionBy("class").mode("overwrite").parquet(str(target))


def consume_local(chunks: Iterable[pd.DataFrame], sink: str, target: Path, classes: Sequence[str]) -> None:
    """Drain a local strategy's chunks into ``sink``, one chunk in memory at a time."""
    if sink == "noop":
        for _chunk in chunks:
            pass
        return
    shutil.rmtree(target, ignore_errors=True)
    for chunk in chunks:
        table = pa.Table.from_pandas(
            chunk.assign(**{"class": class_names(chunk["label"], classes)})[SORTED_COLUMNS],
            preserve_index=False,
        )
        pq.write_to_dataset(table, str(target), partition_cols=["class"])


def verify_sorted(
    target: Path, expected_rows: int, class_counts: Sequence[int], classes: Sequence[str]
) -> None:
    """Read the sorted output back: every row once, in the class folder its prediction names."""
    if not target.exists():
        raise CaseFailed(f"the sorted sink wrote nothing to {target}")
    table = ds.dataset(str(target), format="parquet", partitioning="hive").to_table(columns=["id", "class"])
    written = table.to_pandas()
    if len(written) != expected_rows or written["id"].nunique() != expected_rows:
        raise CaseFailed(
            f"the sorted sink holds {len(written)} rows ({written['id'].nunique()} ids) of {expected_rows}"
        )
    per_class = written["class"].astype(str).value_counts()
    for name, count in zip(classes, class_counts, strict=True):
        if int(per_class.get(name, 0)) != count:
            raise CaseFailed(
                f"the sorted sink holds {int(per_class.get(name, 0))} rows in {name}/, predicted {count}"
            )
