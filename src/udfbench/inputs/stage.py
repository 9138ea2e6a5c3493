"""Staging the synthetic set as a Parquet table of image bytes: ``dataset.stage``, ``udfbench dataset``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench.errors import UserError
from udfbench.inputs.seeds import draw_rows, read_seeds
from udfbench.inputs.storage import filesystem, first_line, is_local
from udfbench.plan.config import BenchConfig

# The columns of a staged synthetic set (and of ``udfbench dataset``'s output).
STAGE_COLUMNS = {"image_column": "image", "id_column": "id", "label_column": "label"}
ROWS_PER_FILE = 1000
# Rows per row group of a staged table: Spark splits a file's read only between row groups, so small
# ones let a single file's rows spread over every core without a shuffle (50 of the built-in ~230 KB
# images is ~11 MB).
ROWS_PER_ROW_GROUP = 50


# Written into a stage once udfbench has written it: a folder that holds it may be written again.
# Spark's and pyarrow's readers skip files whose names start with "_".
STAGE_MARKER = "_UDFBENCH_STAGE"


def check_writable(
    uri: str,
    where: str = "dataset.stage",
    overwrite: bool = False,
    overwrite_by: str = "set dataset.stage_overwrite: true",
) -> None:
    """Refuse, before anything starts, a local stage that cannot be a folder, or one that holds files
    udfbench did not write (Spark's overwrite would delete them) unless ``overwrite``; a remote one
    is known only when Spark writes it. ``overwrite_by`` says how the user allows the overwrite."""
    if not is_local(uri):
        return
    folder = Path(uri.removeprefix("file://").removeprefix("file:"))
    if folder.is_dir() and not overwrite and not (folder / STAGE_MARKER).exists():
        foreign = sorted(p.name for p in folder.iterdir())
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UserError(
                f"{uri} holds files udfbench did not write ({shown}), which writing the stage would "
                f"delete: give an empty or new folder, or {overwrite_by}",
                where=where,
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".udfbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write a table to {uri}: {err.strerror or err}", where=where) from None


def write_stage(
    spark: Any,
    rows: pd.DataFrame,
    uri: str,
    where: str = "dataset.stage",
    rows_per_file: int = ROWS_PER_FILE,
) -> None:
    """Write ``rows`` (id, path, truth of files on this machine) as Parquet with the image bytes to
    ``uri``: columns id, image, label; ``rows_per_file`` rows per file (the last may hold fewer) in
    row groups of ``ROWS_PER_ROW_GROUP``, one row per page, ordered by id, uncompressed.

    Spark reads the files (its ``binaryFile`` source), so this runs in a local session on the driver.
    """
    from pyspark.sql import functions as F

    # Each row's file by its place in id order: files of exactly ``rows_per_file`` rows (the last may
    # be shorter) end where a row group ends. With files cut by id range they held about as many
    # rows, each ending in a short row group, which ``python_pipelined`` predicted as a batch of
    # another size: every new batch shape made each of its TensorFlow workers keep ~400 MB more.
    numbered = rows.sort_values("id").assign(file=np.arange(len(rows)) // rows_per_file)
    index = spark.createDataFrame(
        numbered[["id", "path", "truth", "file"]], schema="id long, path string, truth string, file long"
    )
    files = spark.read.format("binaryFile").load(sorted(set(rows["path"])))
    files = files.selectExpr("regexp_replace(path, '^file:', '') AS path", "content")
    table = index.join(F.broadcast(files), on="path", how="left").select(
        "id", "file", F.col("content").alias("image"), F.col("truth").alias("label")
    )
    files_out = max(1, math.ceil(len(rows) / rows_per_file))
    ordered = table.repartitionByRange(files_out, "file").sortWithinPartitions("id").drop("file")
    # Encoded images do not compress: Parquet compression would only cost CPU in every timed read.
    writer = ordered.write.mode("overwrite").option("compression", "none")
    writer = writer.option("parquet.block.row.count.limit", ROWS_PER_ROW_GROUP)
    # One row per page: a worker reading one image (``RowGroupReader``) then reads one image's page,
    # not a whole row group's (Spark's Parquet writer checks a page's size only every 100 rows by
    # default, so a group of 50 images was one page of ~11 MB). Read in a loop here: 45 us against 79.
    writer = writer.option("parquet.page.row.count.limit", 1).option("parquet.page.size.row.check.min", 1)
    # Spark's range partitioner draws its bounds from a sample, ``sampleSizePerPartition`` keys per
    # output partition: with ``rows_per_file`` of them it samples every row (up to its cap of a
    # million), so its bounds fall exactly between file numbers and each file is one partition.
    sample_size = "spark.sql.execution.rangeExchange.sampleSizePerPartition"
    before = spark.conf.get(sample_size)
    spark.conf.set(sample_size, str(rows_per_file))
    try:
        writer.parquet(uri)
        fs, path = filesystem(uri)
        with fs.open_output_stream(f"{path.rstrip('/')}/{STAGE_MARKER}") as marker:
            marker.write(b"a stage written by udfbench: udfbench may write it again\n")
    except Exception as err:  # py4j, Hadoop and pyarrow raise many kinds; all mean "not written"
        message = f"cannot write the staged dataset to {uri}: {first_line(err)}"
        raise UserError(message, where=where) from None
    finally:
        spark.conf.set(sample_size, before)


def stage_dataset(
    config: BenchConfig,
    seed_folder: Path,
    uri: str,
    where: str = "dataset.stage",
    overwrite: bool = False,
    overwrite_by: str = "set dataset.stage_overwrite: true",
) -> int:
    """Write the synthetic set (the largest size's draw, whose first N rows are every size's
    dataset) as a table of image bytes to ``uri`` through a local Spark session; returns its rows.
    ``overwrite`` and ``overwrite_by``: as ``check_writable``'s."""
    from udfbench.spark.cluster import session_conf, spark_session

    d = config.dataset
    check_writable(uri, where, overwrite, overwrite_by)
    rows = draw_rows(read_seeds(config, seed_folder), max(d.sizes), d.seed)
    conf = session_conf(config.spark, task_cpus=1, threads=None)
    with spark_session("local[*]", f"udfbench {config.name} stage", conf) as spark:
        write_stage(spark, rows, uri, where)
    return len(rows)
