"""Reading images where the predicting process runs: files by path, or a table's cells with pyarrow.

Both run inside Spark's Python workers (and the driver's own loops), so nothing here needs Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from udfbench.inputs.storage import filesystem

# A cell packs a row's place as ``row group number << CELL_BITS | row within the group``: one long
# that travels through Spark like a path does.
CELL_BITS = 32


class _RowGroupStream:
    """One row group's image column read one row at a time, forward only."""

    def __init__(self, file: str, number: int, column: str) -> None:
        fs, path = filesystem(file)
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
