"""What every case measures: the datasets (seed images drawn, or a table's rows), model and reference.

Prepared once per run on the driver, before any cluster starts, and handed to the runner.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench.errors import UserError
from udfbench.inputs.cells import CELL_BITS, RowGroupReader, read_files
from udfbench.inputs.decode import ImageSource
from udfbench.inputs.seeds import SeedImage, draw_rows, read_seeds
from udfbench.inputs.stage import STAGE_COLUMNS, check_writable, stage_dataset
from udfbench.inputs.table import ImageTable
from udfbench.model.reference import Reference
from udfbench.model.spec import ModelSpec, prepare_model
from udfbench.plan.config import BenchConfig, DatasetConfig
from udfbench.spark.cluster import default_parallelism

# Enough distinct images to weigh decoding as the datasets do, few enough to calibrate in seconds.
CALIBRATION_IMAGES = 64
# The input mode of a table read with pyarrow: a strategy gets each row's cell (its place in the
# table) and the predictor reads the image bytes.
TABLE_CELL = "cell"


@dataclass(frozen=True)
class Workload:
    """The rows of every dataset and how strategies reach them.

    ``datasets[size]`` is the driver's small index of a dataset: ``id``, ``path`` (the image's key:
    a file's path, or for a table of image bytes a digest, see ``tables``) and ``truth`` (the true
    class, "" when unknown). With ``table`` set, the images are read from the table in every run.
    """

    datasets: dict[int, pd.DataFrame]
    # The distinct images the datasets use, (key, path or encoded bytes), at most CALIBRATION_IMAGES
    # of them: what the calibration measures decoding on.
    samples: tuple[tuple[str, ImageSource], ...]
    # The seed images the datasets were drawn from; None for a table.
    seeds: tuple[SeedImage, ...] | None
    spec: ModelSpec
    reference: Reference
    # "path" or "bytes"; a table of image bytes read by Spark is always "bytes", read with pyarrow
    # always TABLE_CELL.
    input_mode: str
    skip_bad: bool
    table: ImageTable | None = None
    # What the report and meta.json say the input was.
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The column a strategy predicts from."""
        return {"bytes": "content", TABLE_CELL: "cell"}.get(self.input_mode, "path")

    @property
    def table_reader(self) -> RowGroupReader | None:
        """What the predictor reads cells with, when the strategies get cells."""
        return self.table.row_group_reader() if self.table and self.input_mode == TABLE_CELL else None

    def spark_input(
        self, spark: Any, cache: dict[tuple[int, int | None], Any], size: int, partitions: int | None
    ):
        """The dataset's rows as a DataFrame: id, path, truth, and in bytes mode ``content`` (cells:
        ``cell``).

        Only the small index is cached (in ``cache``, one per session): reading the table, or in bytes
        mode the files (Spark's binaryFile source), and moving the bytes to Python is part of every
        timed run, as it would be in production. A file list, or a table of paths, is spread over
        ``partitions`` (else the default parallelism); a table of images is read in splits sized for
        that parallelism, without a shuffle, and repartitioned only when ``partitions`` is set.
        Cells are cut into that many runs of consecutive cells, so that each Python worker reads each
        row group it needs once.
        """
        from pyspark.sql import functions as F

        key = (size, partitions)
        parallelism = partitions or default_parallelism(spark)
        if key not in cache:
            index = self.datasets[size]
            if self.input_mode == TABLE_CELL:
                # spark.range cuts positions 0..n-1 into equal runs, one per partition; the broadcast
                # join keeps that order.
                rows = index.sort_values("cell")[["id", "path", "truth", "cell"]]
                rows.insert(0, "position", np.arange(len(rows)))
                positions = spark.range(0, len(rows), 1, parallelism).withColumnRenamed("id", "position")
                df = positions.join(F.broadcast(spark.createDataFrame(rows)), on="position").drop("position")
            elif self.table is None:
                df = spark.createDataFrame(index, schema="id long, path string, truth string")
                df = df.repartition(parallelism)
            else:
                df = spark.createDataFrame(index)
            cache[key] = df.cache()
            cache[key].count()
        df = cache[key]
        if self.input_mode == TABLE_CELL:
            return df
        if self.table is not None:
            df = self.table.spark_rows(spark, df, size, parallelism)
            if partitions or not self.table.binary:
                # Asked for: exactly this many partitions, at the price of shuffling the images. A table
                # of paths is small, so Spark reads it in one split, one core's work: its rows are spread
                # over every core, and shuffling paths costs next to nothing.
                df = df.repartition(parallelism)
            if self.table.binary:
                return df
        if self.input_mode == "bytes":
            paths = sorted(set(self.datasets[size]["path"]))
            files = spark.read.format("binaryFile").load(paths)
            files = files.selectExpr("regexp_replace(path, '^file:', '') AS path", "content")
            # A left join keeps rows whose file could not be read: they reach the model as missing bytes.
            df = df.join(files.hint("broadcast"), on="path", how="left").select(
                "id", "path", "truth", "content"
            )
        return df

    def engine_input(self, size: int) -> tuple[pd.DataFrame, ImageReader]:
        """The dataset for another engine (Ray Data, Daft): its small index (id, path and, from a
        table, cell), in table order for a table, and the picklable reader with which the engine's
        workers get each row's image source themselves, as Spark's executors do; the driver reads no
        image."""
        index = self.datasets[size]
        columns = ["id", "path"] + (["cell"] if "cell" in index.columns else [])
        rows = index[columns]
        if "cell" in columns:
            rows = rows.sort_values("cell")
        binary_table = self.table is not None and self.table.binary and self.source == "content"
        return rows.reset_index(drop=True), ImageReader(
            self.source, self.table.row_group_reader() if binary_table else None
        )

    def local_chunks(self, size: int, rows: int, by_row_group: bool = False) -> Iterator[pd.DataFrame]:
        """The dataset streamed to a driver-side strategy: chunks of ``rows`` rows with columns id,
        path, truth and, in bytes mode, ``content`` (read chunk by chunk, never all at once). Cells
        come in table order, and with ``by_row_group`` in chunks that end where row groups end
        (``group_aligned_chunks``: up to twice ``rows`` rows)."""
        index = self.datasets[size]
        if self.input_mode == TABLE_CELL:
            ordered = index.sort_values("cell")
            bounds = (
                group_aligned_chunks(ordered["cell"].to_numpy() >> CELL_BITS, rows)
                if by_row_group
                else ((start, start + rows) for start in range(0, len(ordered), rows))
            )
            for start, end in bounds:
                yield ordered.iloc[start:end]
            return
        if self.table is not None:
            yield from self.table.chunks(index, rows, self.source)
            return
        for start in range(0, len(index), rows):
            chunk = index.iloc[start : start + rows]
            if self.source == "content":
                chunk = chunk.assign(content=read_files(chunk["path"]))
            yield chunk


@dataclass(frozen=True)
class ImageReader:
    """What a worker predicts from for rows of a dataset's index: their paths, cells (the predictor
    reads them), or in bytes mode their encoded images, read here from the files or a table's cells."""

    source: str  # the column the predictor predicts from: path, content or cell
    cells: RowGroupReader | None = None  # in bytes mode from a table of images: where to read them

    def __call__(self, rows: pd.DataFrame) -> list[ImageSource]:
        if self.source != "content":
            return rows[self.source].tolist()
        if self.cells is not None:
            return list(self.cells.read(rows["cell"].tolist()))
        return read_files(rows["path"])


def group_aligned_chunks(groups: np.ndarray, rows: int) -> Iterator[tuple[int, int]]:
    """(start, end) of chunks over rows sorted by row group (``groups`` holds each row's group
    number) that end where a row group ends: the last group end within ``rows`` rows, else the first
    within twice that, else after ``rows`` rows (a group that long is shared between chunks anyway).

    For strategies that hand chunks to several processes in turn: a chunk that straddled two row
    groups would make two processes read the same group.
    """
    group_ends = np.append(np.flatnonzero(np.diff(groups)) + 1, len(groups))
    start = 0
    while start < len(groups):
        after = np.searchsorted(group_ends, start + rows, side="right")  # first end past ``rows`` rows
        if after > 0 and group_ends[after - 1] > start:
            end = int(group_ends[after - 1])
        elif group_ends[after] <= start + 2 * rows:
            end = int(group_ends[after])
        else:
            end = start + rows
        yield start, end
        start = end


def _table_config(d: DatasetConfig) -> dict[str, Any]:
    if d.stage:
        return {"uri": d.stage, **STAGE_COLUMNS}
    return {
        "uri": d.table,
        "image_column": d.image_column,
        "id_column": d.id_column,
        "label_column": d.label_column,
    }


def open_table(config: BenchConfig) -> ImageTable | None:
    """The configured table, opened and checked; a stage checked writable where it is local. Called
    before a run starts too, so that bad input is one line and exit 2 before anything is measured."""
    d = config.dataset
    if d.stage:
        check_writable(d.stage, overwrite=d.stage_overwrite)
    if not d.table:
        return None
    table = ImageTable.open(**_table_config(d))
    table.check_sizes(d.sizes)
    table.check_labels(max(d.sizes), list(config.model.classes))
    if d.read_with == "pyarrow" and not table.binary:
        raise UserError(
            f"pyarrow reads image bytes, but column {table.image_column!r} of {table.uri} holds paths; "
            "leave read_with out",
            where="dataset.read_with",
        )
    return table


def prepare_workload(
    config: BenchConfig, config_path: Path, run_dir: Path, table: ImageTable | None = None
) -> tuple[Workload, dict[str, float]]:
    """Datasets, model and reference (staging the synthetic set first when asked); with the seconds
    the model load, the staging and the whole setup took. ``table``: the configured table, already
    opened by ``open_table`` (else opened here)."""
    started = time.perf_counter()
    d = config.dataset
    setup: dict[str, float] = {}
    if table is None:
        table = open_table(config)
    description: dict[str, Any] = {}
    if d.stage:
        stage_started = time.perf_counter()
        stage_dataset(config, run_dir / "seed_images", d.stage, overwrite=d.stage_overwrite)
        setup["stage_s"] = time.perf_counter() - stage_started
        table = ImageTable.open(**_table_config(d), where="dataset.stage")
        description |= {"seed_images": d.seed_images, "stage": d.stage}
    elif table is None:
        description["seed_images"] = d.seed_images
    spec, setup["model_load_s"] = prepare_model(config.model, d.seed, str(config_path))
    if table is None:
        seeds = read_seeds(config, run_dir / "seed_images")
        datasets = {size: draw_rows(seeds, size, d.seed) for size in d.sizes}
        reference = Reference.compute(spec, ((s.path, s.path) for s in seeds), config.parity.tolerance)
        samples = tuple((s.path, s.path) for s in seeds)[:CALIBRATION_IMAGES]
        input_mode = d.input_mode
    else:
        largest = table.index(max(d.sizes), list(config.model.classes))
        datasets = {size: largest.iloc[:size] for size in d.sizes}
        reference = Reference.compute(spec, table.images(max(d.sizes)), config.parity.tolerance)
        samples = tuple(dict(itertools.islice(table.images(max(d.sizes)), CALIBRATION_IMAGES)).items())
        seeds = None
        # Who reads the bytes decides what a strategy gets: a cell for pyarrow, the bytes from Spark.
        by_spark = "bytes" if table.binary else d.input_mode
        input_mode = TABLE_CELL if d.read_with == "pyarrow" else by_spark
        description |= table.describe() | {"read_with": d.read_with}
    description["input_mode"] = input_mode
    workload = Workload(
        datasets,
        samples,
        None if seeds is None else tuple(seeds),
        spec,
        reference,
        input_mode,
        d.on_bad_image == "skip",
        table,
        description,
    )
    setup["setup_s"] = time.perf_counter() - started
    return workload, setup
