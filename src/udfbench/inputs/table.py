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

import hashlib
import math
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from udfbench.errors import UserError
from udfbench.inputs.cells import CELL_BITS, RowGroupReader, read_files
from udfbench.inputs.decode import ImageSource
from udfbench.inputs.storage import filesystem, first_line

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
            fs, path = filesystem(uri)
            if fs.get_file_info(path).type == pafs.FileType.NotFound:
                raise UserError(f"table {uri} does not exist", where=where)
            dataset = ds.dataset(path, filesystem=fs, format="parquet")
        except (OSError, pa.ArrowException) as err:
            raise UserError(f"cannot read table {uri}: {first_line(err)}", where=where) from None
        if not dataset.files:  # its schema would have no columns, and the column check below say only that
            raise UserError(f"table {uri} holds no Parquet files", where=where)
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

    def check_labels(self, size: int, classes: Sequence[str]) -> None:
        """Every true class among the first ``size`` rows names one of ``classes`` (or is an index into
        them; a null is no label): any other would count as a wrong prediction, an accuracy of 0."""
        if not self.label_column:
            return
        strange: dict[str, int] = {}
        for part in self.scan(size, [self.label_column]):
            for value in part.column(self.label_column).to_pylist():
                known = 0 <= value < len(classes) if isinstance(value, int) else value in classes
                if value is not None and not known:
                    strange[str(value)] = strange.get(str(value), 0) + 1
        if strange:
            shown = ", ".join(f"{label!r} ({rows} rows)" for label, rows in list(strange.items())[:3])
            more = f" and {len(strange) - 3} more" if len(strange) > 3 else ""
            raise UserError(
                f"column {self.label_column!r} of {self.uri} holds labels that are not classes: "
                f"{shown}{more}; a label is a class name ({', '.join(classes)}) or its index from 0 "
                "(model.classes)",
                where="dataset.label_column",
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
