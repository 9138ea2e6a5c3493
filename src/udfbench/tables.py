"""Parquet tables of images as input, and staging the synthetic set as one.

Production keeps images in tables (the encoded bytes in a binary column, or a path/URI in a string
column) on storage every node can read. An ``ImageTable`` is such a table as udfbench reads it:

- its schema is checked once on the driver with pyarrow (a missing column names the columns there
  are; a column of the wrong type names its type);
- a dataset of N rows is the table's first N rows in a stable order: by ``id_column`` when given,
  else file order (files sorted by path, rows in file order; the row's id is its ordinal);
- the driver keeps only a small index (id, the image's key, its true class): the key is the path for
  a string column and a SHA-1 digest of the bytes for a binary one, so the reference predicts each
  distinct image once however many rows repeat it;
- Spark reads the table in every timed run, only the files that hold the dataset's rows (known from
  the row groups' id statistics, or row counts in file order), and keeps the dataset's rows by
  joining the index on the id (or, without an id column, on the file name and row index Spark
  reports for each row); the driver-side strategies stream the same rows with pyarrow, one record
  batch at a time;
- the read is not shuffled: Spark splits files at row-group boundaries, and its split size is set
  from the bytes the dataset's files hold, so every core gets a share. A staged table is written
  in small row groups for this; a table whose row groups are large reads in fewer, larger tasks;
- or (``read_with: pyarrow``) Spark reads only the index, whose rows carry each image's place in the
  table (its row group and row, a ``cell``), and whatever process predicts reads the image bytes
  itself with pyarrow (``RowGroupReader``): the bytes never pass through the JVM.

pyarrow opens local paths, ``file://`` and the filesystems it knows (``s3://``, ``hdfs://``,
``gs://``); ``s3a://`` is read as ``s3://`` on the driver.
"""

from __future__ import annotations

import functools
import hashlib
import math
import posixpath
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from udfbench.errors import UserError
from udfbench.preprocess import ImageSource

# The columns of a staged synthetic set (and of ``udfbench dataset``'s output).
STAGE_COLUMNS = {"image_column": "image", "id_column": "id", "label_column": "label"}
ROWS_PER_FILE = 1000
# Rows per row group of a staged table: Spark splits a file's read only between row groups, so small
# ones let a single file's rows spread over every core without a shuffle (50 of the built-in ~230 KB
# images is ~11 MB).
ROWS_PER_ROW_GROUP = 50
# Read splits per core: with two, a core that drew a short split takes another, so the last one
# leaves little idle; many more would add task start-ups for nothing.
SPLITS_PER_CORE = 2
MIN_SPLIT_BYTES = 1 << 20  # below this a split's start-up outweighs any balance it buys
NULL_KEY = "null"  # the key of a null image cell: never decodable, skipped or failed like a bad file
SCAN_ROWS = 256  # rows per pyarrow record batch when streaming
# Rows per record batch when streaming images: 256 rows of the built-in ~230 KB images made 59 MB
# batches, and indexing a 3000-row table took the driver's RSS up by ~400 MB (~200 MB with 32). A
# size in bytes cannot be chosen ahead from the files' metadata: a column of repeated images is
# dictionary-encoded, a fraction of the size it reads to.
SCAN_IMAGE_ROWS = 32
# How a scan streams: one batch read ahead of the one in use, one thread, no file pre-buffered
# whole. With pyarrow's defaults (16 batches and 4 files ahead, threads, pre-buffering) the driver's
# pool held up to 650 MB of a 3000-row table's images while it indexed them; with these, ~220 MB
# in batches of 256 rows and ~80 MB in batches of ``SCAN_IMAGE_ROWS``.
SCAN_STREAMING = {
    "batch_readahead": 1,
    "use_threads": False,
    "fragment_scan_options": ds.ParquetFragmentScanOptions(pre_buffer=False),
}
# A cell packs a row's place as ``row group number << CELL_BITS | row within the group``: one long
# that travels through Spark like a path does.
CELL_BITS = 32


# pyarrow's GCS client retries a failing request for up to 15 minutes: a table whose storage cannot be
# reached (no network, no credentials) would hold the run that long before saying why.
GCS_RETRY_LIMIT_S = 60


# A remote filesystem resolves its endpoint and credentials when it is made: once per file and
# process, not once per row group a worker reads.
@functools.lru_cache(maxsize=64)
def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri and not uri.startswith("file:"):
        return pafs.LocalFileSystem(), uri
    if uri.startswith("s3a://"):
        uri = "s3://" + uri.removeprefix("s3a://")
    if uri.startswith(("gs://", "gcs://")):
        uri += f"?retry_limit_seconds={GCS_RETRY_LIMIT_S}"
    return pafs.FileSystem.from_uri(uri)


def _first_line(err: Exception) -> str:
    """What a storage error says, on one line of at most 300 characters (GCS's run to thousands)."""
    text = str(err).strip()
    return textwrap.shorten(text.splitlines()[0], 300, placeholder=" ...") if text else type(err).__name__


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")


def image_key(value: Any) -> str:
    """The reference's key of one image cell: its path, or a digest of its bytes."""
    if value is None:
        return NULL_KEY
    if isinstance(value, bytes | pa.Buffer):
        return "sha1:" + hashlib.sha1(value, usedforsecurity=False).hexdigest()
    return str(value)


def image_keys(column: pa.ChunkedArray) -> list[str]:
    """Each cell's ``image_key``; bytes are hashed in Arrow's buffers, not copied into Python first
    (which took half the time of indexing a table)."""
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return [image_key(cell.as_buffer()) if cell.is_valid else NULL_KEY for cell in column]
    return [image_key(value) for value in column.to_pylist()]


def _is_int(t: pa.DataType) -> bool:
    return pa.types.is_integer(t)


@dataclass
class ImageTable:
    """An opened, schema-checked table; see the module docstring for the contract."""

    uri: str
    image_column: str
    id_column: str | None
    label_column: str | None
    dataset: ds.Dataset = field(repr=False)
    binary: bool  # image cells are bytes (else paths)
    # One row per row group in file order: ``file`` (as Spark reads it), ``number`` (within the file),
    # ``rows``, ``bytes``, ``file_bytes`` (the whole file's), ``first_row`` (its first row's ordinal
    # in file order) and ``min_id`` (NaN without statistics).
    groups: pd.DataFrame = field(repr=False)
    # With an id column: the ids in file order.
    _ids: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        uri: str,
        image_column: str,
        id_column: str | None = None,
        label_column: str | None = None,
        where: str = "dataset.table",
    ) -> ImageTable:
        """Open ``uri`` and check its columns; any problem is one ``UserError`` naming ``where``."""
        try:
            fs, path = _filesystem(uri)
            if fs.get_file_info(path).type == pafs.FileType.NotFound:
                raise UserError(f"table {uri} does not exist", where=where)
            dataset = ds.dataset(path, filesystem=fs, format="parquet")
        except (OSError, pa.ArrowException) as err:
            raise UserError(f"cannot read table {uri}: {_first_line(err)}", where=where) from None
        schema = dataset.schema
        roles = {"image_column": image_column, "id_column": id_column, "label_column": label_column}
        for role, name in roles.items():
            if name is not None and name not in schema.names:
                raise UserError(
                    f"no column {name!r} in table {uri}; its columns: {', '.join(schema.names)}",
                    where=f"dataset.{role}",
                )
        image_type = schema.field(image_column).type
        binary = pa.types.is_binary(image_type) or pa.types.is_large_binary(image_type)
        if not binary and not (pa.types.is_string(image_type) or pa.types.is_large_string(image_type)):
            raise UserError(
                f"column {image_column!r} of {uri} is {image_type}; expected binary (encoded images) "
                "or string (paths)",
                where="dataset.image_column",
            )
        if id_column and not _is_int(schema.field(id_column).type):
            raise UserError(
                f"column {id_column!r} of {uri} is {schema.field(id_column).type}; expected integers",
                where="dataset.id_column",
            )
        if label_column:
            label_type = schema.field(label_column).type
            if not (
                _is_int(label_type) or pa.types.is_string(label_type) or pa.types.is_large_string(label_type)
            ):
                raise UserError(
                    f"column {label_column!r} of {uri} is {label_type}; expected class names or indices",
                    where="dataset.label_column",
                )
        groups = _row_groups(dataset, uri, fs, path, id_column)
        table = cls(uri, image_column, id_column, label_column, dataset, binary, groups)
        if id_column:
            ids = [
                f.to_table(columns=[id_column])[id_column].to_numpy(zero_copy_only=False)
                for f in _in_file_order(dataset)
            ]
            in_file_order = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
            if pd.isna(in_file_order).any() or len(np.unique(in_file_order)) != len(in_file_order):
                raise UserError(
                    f"column {id_column!r} of {uri} has nulls or repeated ids", where="dataset.id_column"
                )
            table._ids = in_file_order.astype(np.int64)
        else:
            names = [posixpath.basename(f) for f in dataset.files]
            if len(set(names)) != len(names):
                raise UserError(
                    f"table {uri} has files of the same name in different folders; give an id_column",
                    where="dataset.id_column",
                )
        return table

    @property
    def rows(self) -> int:
        return int(self.groups["rows"].sum())

    def check_sizes(self, sizes: Sequence[int]) -> None:
        too_big = [s for s in sizes if s > self.rows]
        if too_big:
            raise UserError(
                f"size {too_big[0]} is larger than the {self.rows} rows of table {self.uri}",
                where="dataset.sizes",
            )

    def describe(self) -> dict[str, Any]:
        return {
            "table": self.uri,
            "image_column": self.image_column,
            "image_kind": "bytes" if self.binary else "path",
            "id_column": self.id_column,
            "label_column": self.label_column,
            "table_rows": self.rows,
        }

    # -- the driver: streaming reads -----------------------------------------------------------
    def scan(self, size: int, columns: Sequence[str] = ()) -> Iterator[pa.Table]:
        """The dataset of ``size`` rows, streamed: batches of ``columns`` plus ``id`` (and, without
        an id column, ``_file`` and ``_row``: where Spark will find the row)."""
        wanted = [c for c in dict.fromkeys(columns) if c]
        batch_rows = SCAN_IMAGE_ROWS if self.image_column in wanted else SCAN_ROWS
        if self.id_column:
            # The first ``size`` ids are those up to the size-th smallest (ids are unique); the filter
            # lets pyarrow skip row groups by their statistics.
            read = [*dict.fromkeys([self.id_column, *wanted])]
            within = pc.field(self.id_column) <= self.last_id(size)
            found = 0
            batches = self.dataset.to_batches(
                columns=read, filter=within, batch_size=batch_rows, fragment_readahead=1, **SCAN_STREAMING
            )
            for batch in batches:
                ids = pc.cast(batch.column(self.id_column), pa.int64())
                if len(ids):
                    yield pa.table({"id": ids} | {c: batch.column(c) for c in wanted})
                found += len(ids)
                if found >= size:
                    return
            return
        seen = 0
        for fragment in _in_file_order(self.dataset):
            name, offset = posixpath.basename(fragment.path), 0
            for batch in fragment.to_batches(columns=wanted, batch_size=batch_rows, **SCAN_STREAMING):
                take = min(batch.num_rows, size - seen)
                part = pa.Table.from_batches([batch.slice(0, take)])
                part = part.append_column("id", pa.array(np.arange(seen, seen + take, dtype=np.int64)))
                part = part.append_column("_file", pa.array([name] * take, pa.string()))
                part = part.append_column("_row", pa.array(np.arange(offset, offset + take, dtype=np.int64)))
                offset += batch.num_rows
                seen += take
                yield part.select(["id", "_file", "_row", *wanted])
                if seen >= size:
                    return

    def index(self, size: int, classes: Sequence[str]) -> pd.DataFrame:
        """The driver's index of the dataset of ``size`` rows: id, path (the image's key), truth,
        cell (the image's place, for ``RowGroupReader``), and ``_file``/``_row`` without an id
        column."""
        parts = []
        for part in self.scan(size, [self.image_column, self.label_column or ""]):
            frame = pd.DataFrame({"id": part.column("id").to_numpy()})
            if not self.id_column:
                frame["_file"] = part.column("_file").to_pylist()
                frame["_row"] = part.column("_row").to_numpy()
            frame["path"] = image_keys(part.column(self.image_column))
            frame["truth"] = (
                _truths(part.column(self.label_column).to_pylist(), classes) if self.label_column else ""
            )
            parts.append(frame)
        index = pd.concat(parts, ignore_index=True).sort_values("id", ignore_index=True)
        index["cell"] = self._cells(index["id"].to_numpy())
        return index

    def _cells(self, ids: np.ndarray) -> np.ndarray:
        """Each id's cell: its row group's number in ``groups`` and its row within that group."""
        if self._ids is None:
            ordinals = ids  # without an id column the id is the row's ordinal in file order
        else:
            order = np.argsort(self._ids, kind="stable")
            ordinals = order[np.searchsorted(self._ids, ids, sorter=order)]
        first_rows = self.groups["first_row"].to_numpy()
        group = np.searchsorted(first_rows, ordinals, side="right") - 1
        return (group.astype(np.int64) << CELL_BITS) | (ordinals - first_rows[group])

    def row_group_reader(self) -> RowGroupReader:
        places = zip(self.groups["file"].tolist(), self.groups["number"].tolist(), strict=True)
        return RowGroupReader(self.image_column, tuple(places))

    def images(self, size: int) -> Iterator[tuple[str, ImageSource]]:
        """Each distinct image of the dataset once, as (key, what to decode): for the reference."""
        seen: set[str] = set()
        for part in self.scan(size, [self.image_column]):
            column = part.column(self.image_column)
            for key, cell in zip(image_keys(column), column, strict=True):
                if key not in seen:
                    seen.add(key)
                    yield key, cell.as_py()

    def chunks(self, index: pd.DataFrame, rows: int, source: str) -> Iterator[pd.DataFrame]:
        """The rows of ``index`` as pandas chunks of ``rows`` rows (id, path, truth, and in bytes mode
        ``content``), read from the table one record batch at a time."""
        by_id = index.set_index("id")[["path", "truth"]]
        for part in rebatch(self.scan(len(index), [self.image_column]), rows):
            ids = part.column("id").to_numpy()
            known = by_id.loc[ids]
            chunk = pd.DataFrame(
                {"id": ids, "path": known["path"].to_numpy(), "truth": known["truth"].to_numpy()}
            )
            if source == "content":
                chunk["content"] = (
                    part.column(self.image_column).to_pylist() if self.binary else read_files(chunk["path"])
                )
            yield chunk

    def last_id(self, size: int) -> int:
        """The largest id of the dataset of ``size`` rows (with an id column)."""
        assert self._ids is not None
        return int(np.partition(self._ids, size - 1)[size - 1])

    def needed_groups(self, size: int) -> pd.DataFrame:
        """The row groups that may hold rows of the dataset of ``size`` rows."""
        g = self.groups
        if self.id_column:
            return g[g["min_id"].isna() | (g["min_id"] <= self.last_id(size))]
        return g[g["first_row"] < size]

    # -- Spark: read in every timed run --------------------------------------------------------
    def spark_rows(self, spark: Any, index: Any, size: int, parallelism: int) -> Any:
        """The rows of the dataset of ``size`` rows that ``index`` (a small cached DataFrame) names,
        read by Spark in about ``SPLITS_PER_CORE`` splits per core of ``parallelism``: columns id,
        path, truth and, for a binary image column, ``content``.

        Sets the session's ``spark.sql.files.maxPartitionBytes``, which Spark reads when the
        returned DataFrame runs."""
        from pyspark.sql import functions as F

        needed = self.needed_groups(size)
        files = list(dict.fromkeys(needed["file"]))
        # Spark cuts whole files into splits, headers and footers included: sized from the row groups'
        # bytes alone, each file would end in one more, empty split that costs a task.
        in_files = self.groups[self.groups["file"].isin(files)]
        overhead = in_files.groupby("file")["file_bytes"].first().sum() - in_files["bytes"].sum()
        split = math.ceil((needed["bytes"].sum() + overhead) / (parallelism * SPLITS_PER_CORE))
        split = max(MIN_SPLIT_BYTES, split)
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(split))
        reader = spark.read if files == [self.uri] else spark.read.option("basePath", self.uri)
        raw = reader.parquet(*files)
        image = [F.col(self.image_column).alias("content")] if self.binary else []
        if self.id_column:
            keys = ["id"]
            raw = raw.where(F.col(self.id_column) <= self.last_id(size))
            rows = raw.select(F.col(self.id_column).cast("long").alias("id"), *image)
        else:
            keys = ["_file", "_row"]
            rows = raw.select(
                F.col("_metadata.file_name").alias("_file"),
                F.col("_metadata.row_index").alias("_row"),
                *image,
            )
        joined = rows.join(F.broadcast(index), on=keys, how="inner")
        return joined.select("id", "path", "truth", *(["content"] if self.binary else []))


def _row_groups(
    dataset: ds.Dataset, uri: str, fs: pafs.FileSystem, root: str, id_column: str | None
) -> pd.DataFrame:
    """The table's row groups in file order (files sorted by path), read from the files' footers."""
    single_file = fs.get_file_info(root).type == pafs.FileType.File
    records, first_row = [], 0
    for fragment in _in_file_order(dataset):
        metadata = fragment.metadata
        file = uri if single_file else uri.rstrip("/") + "/" + posixpath.relpath(fragment.path, root)
        file_bytes = fs.get_file_info(fragment.path).size
        columns = [metadata.schema.column(c).path for c in range(metadata.num_columns)]
        id_index = columns.index(id_column) if id_column else None
        for number in range(metadata.num_row_groups):
            group = metadata.row_group(number)
            stats = group.column(id_index).statistics if id_index is not None else None
            records.append(
                {
                    "file": file,
                    "number": number,
                    "rows": group.num_rows,
                    "bytes": sum(group.column(c).total_compressed_size for c in range(group.num_columns)),
                    "file_bytes": file_bytes,
                    "first_row": first_row,
                    "min_id": stats.min if stats is not None and stats.has_min_max else np.nan,
                }
            )
            first_row += group.num_rows
    columns = ["file", "number", "rows", "bytes", "file_bytes", "first_row", "min_id"]
    return pd.DataFrame.from_records(records, columns=columns)


def _in_file_order(dataset: ds.Dataset) -> list[ds.Fragment]:
    """The table's files sorted by path: the order that "file order" means everywhere."""
    return sorted(dataset.get_fragments(), key=lambda f: f.path)


class _RowGroupStream:
    """One row group's image column read one row at a time, forward only."""

    def __init__(self, file: str, number: int, column: str) -> None:
        fs, path = _filesystem(file)
        # A local file is memory-mapped, so Arrow copies each image straight out of the page cache
        # when its row is read, not the whole column chunk first.
        source = pa.memory_map(path) if isinstance(fs, pafs.LocalFileSystem) else fs.open_input_file(path)
        table = pq.ParquetFile(source)
        # One column a row at a time leaves Arrow's thread pool nothing to share out: with threads,
        # each row was handed to a pool thread and back, doubling the read's cost (60 against 130 us
        # per image here, a file's read being 30).
        self._batches = table.iter_batches(
            batch_size=1, row_groups=[number], columns=[column], use_threads=False
        )
        self.next_row = 0

    def image(self, row: int) -> pa.Buffer | None:
        """The image of ``row`` (at or after ``next_row``); the rows before it are read and dropped."""
        while True:
            batch = next(self._batches)
            self.next_row += 1
            if self.next_row > row:
                return batch.column(0)[0].as_buffer()


# Per process: the stream of the row group being read, by (file, row group, column).
_OPEN_GROUP: dict[tuple[str, int, str], _RowGroupStream] = {}


@dataclass(frozen=True)
class RowGroupReader:
    """Reads a table's image cells where the predicting process runs (a Spark Python worker, the
    driver), with pyarrow, for ``read_with: pyarrow``. Picklable: it travels inside the predictor.

    Cells are read lazily, each image just before it is decoded, as a decoder reading a file by path
    gets it: a worker holds one image, not a row group's tens of megabytes (against reading whole row
    groups first, benchmarks/table_vs_path.py measured the same speed within noise). A row group's
    stream stays open until a cell of another group, or an earlier row, is asked for, so rows that
    arrive in table order are read once.
    """

    image_column: str
    groups: tuple[tuple[str, int], ...]  # (file, row group number in it), by a cell's group number

    def read(self, cells: Iterable[int]) -> Iterator[pa.Buffer | None]:
        for cell in cells:
            group, row = divmod(int(cell), 1 << CELL_BITS)
            file, number = self.groups[group]
            key = (file, number, self.image_column)
            stream = _OPEN_GROUP.get(key)
            if stream is None or row < stream.next_row:
                _OPEN_GROUP.clear()
                stream = _OPEN_GROUP[key] = _RowGroupStream(file, number, self.image_column)
            yield stream.image(row)


def _truths(values: list[Any], classes: Sequence[str]) -> list[str]:
    """Labels as class names: a name as given, an index into ``classes``; a null is no label."""
    out = []
    for value in values:
        if value is None:
            out.append("")
        elif isinstance(value, int):
            out.append(classes[value] if 0 <= value < len(classes) else str(value))
        else:
            out.append(str(value))
    return out


def read_files(paths: Iterable[str]) -> list[bytes | None]:
    """The bytes of each file; None where it cannot be read (decoding then skips or fails it)."""
    out: list[bytes | None] = []
    for path in paths:
        try:
            with open(path, "rb") as file:
                out.append(file.read())
        except OSError:
            out.append(None)
    return out


def rebatch(parts: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last may be shorter) from tables of any length."""
    pending: list[pa.Table] = []
    held = 0
    for part in parts:
        pending.append(part)
        held += part.num_rows
        while held >= rows:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, rows)
            pending, held = [whole.slice(rows)], whole.num_rows - rows
    if held:
        yield pa.concat_tables(pending)


def check_writable(uri: str, where: str = "dataset.stage") -> None:
    """Refuse, before anything starts, a local stage that cannot be a folder; a remote one is known
    only when Spark writes it."""
    if not is_local(uri):
        return
    folder = Path(uri.removeprefix("file://").removeprefix("file:"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".udfbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write a table to {uri}: {err.strerror or err}", where=where) from None


def write_stage(spark: Any, rows: pd.DataFrame, uri: str, where: str = "dataset.stage") -> None:
    """Write ``rows`` (id, path, truth of files on this machine) as Parquet with the image bytes to
    ``uri``: columns id, image, label; ``ROWS_PER_FILE`` rows per file (the last may hold fewer) in
    row groups of ``ROWS_PER_ROW_GROUP``, one row per page, ordered by id, uncompressed.

    Spark reads the files (its ``binaryFile`` source), so this runs in a local session on the driver.
    """
    from pyspark.sql import functions as F

    # Each row's file by its place in id order: files of exactly ``ROWS_PER_FILE`` rows (the last may
    # be shorter) end where a row group ends. With files cut by id range they held about as many
    # rows, each ending in a short row group, which ``python_pipelined`` predicted as a batch of
    # another size: every new batch shape made each of its TensorFlow workers keep ~400 MB more.
    numbered = rows.sort_values("id").assign(file=np.arange(len(rows)) // ROWS_PER_FILE)
    index = spark.createDataFrame(
        numbered[["id", "path", "truth", "file"]], schema="id long, path string, truth string, file long"
    )
    files = spark.read.format("binaryFile").load(sorted(set(rows["path"])))
    files = files.selectExpr("regexp_replace(path, '^file:', '') AS path", "content")
    table = index.join(F.broadcast(files), on="path", how="left").select(
        "id", "file", F.col("content").alias("image"), F.col("truth").alias("label")
    )
    files_out = max(1, math.ceil(len(rows) / ROWS_PER_FILE))
    ordered = table.repartitionByRange(files_out, "file").sortWithinPartitions("id").drop("file")
    # Encoded images do not compress: Parquet compression would only cost CPU in every timed read.
    writer = ordered.write.mode("overwrite").option("compression", "none")
    writer = writer.option("parquet.block.row.count.limit", ROWS_PER_ROW_GROUP)
    # One row per page: a worker reading one image (``RowGroupReader``) then reads one image's page,
    # not a whole row group's (Spark's Parquet writer checks a page's size only every 100 rows by
    # default, so a group of 50 images was one page of ~11 MB). Read in a loop here: 45 us against 79.
    writer = writer.option("parquet.page.row.count.limit", 1).option("parquet.page.size.row.check.min", 1)
    # Spark's range partitioner draws its bounds from a sample, ``sampleSizePerPartition`` keys per
    # output partition: with ``ROWS_PER_FILE`` of them it samples every row (up to its cap of a
    # million), so its bounds fall exactly between file numbers and each file is one partition.
    sample_size = "spark.sql.execution.rangeExchange.sampleSizePerPartition"
    before = spark.conf.get(sample_size)
    spark.conf.set(sample_size, str(ROWS_PER_FILE))
    try:
        writer.parquet(uri)
    except Exception as err:  # py4j and Hadoop raise many kinds; all mean "not written"
        message = f"cannot write the staged dataset to {uri}: {_first_line(err)}"
        raise UserError(message, where=where) from None
    finally:
        spark.conf.set(sample_size, before)
