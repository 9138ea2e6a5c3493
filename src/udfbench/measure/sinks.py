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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from udfbench.errors import CaseFailed
from udfbench.measure.strategies.base import TALLY

UNREADABLE = "_unreadable"  # the class folder of images skipped as unreadable
SORTED_COLUMNS = ["id", "path", "score", "class"]


def class_names(labels: pd.Series, classes: Sequence[str]) -> pd.Series:
    return labels.map(lambda i: classes[i] if i >= 0 else UNREADABLE)


def write_spark(out: Any, sink: str, target: Path, classes: Sequence[str], width: int) -> np.ndarray:
    """Run the job that makes the model see every row, writing where ``sink`` says, and return the
    sum of the strategies' ``tally`` column (see ``strategies/base.py``) over every row.

    ``noop`` sums the tally in the job itself: an aggregate over every row of a column that only the
    model's call makes, which the optimizer can neither prune (as ``count()`` prunes an unused UDF
    column) nor stop early (as ``show()`` does). ``sorted`` writes the tally beside each row and sums
    what was written.
    """
    from pyspark.sql import functions as F

    if sink == "noop":
        (sums,) = tally_sum(out, width).collect()
        return np.array([0.0 if value is None else float(value) for value in sums])
    names = F.array(*[F.lit(c) for c in classes])
    with_class = out.withColumn(
        "class",
        F.when(F.col("label") < 0, F.lit(UNREADABLE)).otherwise(F.element_at(names, F.col("label") + 1)),
    )
    written = with_class.select(*SORTED_COLUMNS, TALLY).write.partitionBy("class").mode("overwrite")
    written.parquet(str(target))
    return written_tally(target, width)


def tally_sum(out: Any, width: int) -> Any:
    """The one-row DataFrame of the ``tally`` column's sums over every row of ``out``."""
    from pyspark.sql import functions as F

    return out.agg(*[F.sum(F.col(TALLY)[i]) for i in range(width)])


def written_tally(target: Path, width: int) -> np.ndarray:
    """The sum of the ``tally`` column that a ``sorted`` job wrote beside its rows."""
    if not target.exists():
        raise CaseFailed(f"the sorted sink wrote nothing to {target}")
    column = ds.dataset(str(target), format="parquet", partitioning="hive").to_table(columns=[TALLY])[TALLY]
    counts = pc.list_flatten(column.drop_null()).to_numpy(zero_copy_only=False)
    return counts.reshape(-1, width).sum(axis=0) if counts.size else np.zeros(width)


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
