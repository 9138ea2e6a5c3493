"""Writing a run folder as it is measured: rows appended and flushed one by one, meta.json replaced whole.

An interrupted run keeps every row it finished: each row is on disk before the next run starts, and
a file is rewritten (a resumed run's kept rows) only into a temporary file that then replaces it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from udfbench.rundir.events import RunListener
from udfbench.rundir.schema import META_FILE, PARITY_FILE, RESULTS_FILE, CsvRow, ParityRow, ResultRow, RunMeta


class CsvAppender:
    """Appends validated rows to a CSV file, flushed to disk one by one.

    ``kept`` rows (a resumed run's finished ones) are written first; the file replaces ``path`` only
    once they are on disk, so a crash while rewriting loses nothing.
    """

    def __init__(self, path: Path, model: type[CsvRow], kept: Iterable[CsvRow] = ()) -> None:
        self.path = path
        self.fields = list(model.model_fields)
        tmp = path.with_name(f".{path.name}.tmp")
        self._file = tmp.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields)
        self._writer.writeheader()
        for row in kept:
            self._write(row)
        self._sync()
        tmp.replace(path)

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def _write(self, row: CsvRow) -> None:
        self._writer.writerow({k: "" if v is None else v for k, v in row.model_dump().items()})

    def append(self, row: CsvRow) -> None:
        self._write(row)
        self._sync()

    def close(self) -> None:
        self._file.close()


class ResultsWriter(RunListener):
    """The listener that keeps a run's rows: every row appended and flushed as it comes, so an
    interrupted run keeps everything it finished. ``kept_results`` and ``kept_parity`` start the files
    (a resumed run's finished rows, or a run that confirmation reruns add to)."""

    def __init__(
        self, run_dir: Path, kept_results: Iterable[CsvRow] = (), kept_parity: Iterable[CsvRow] = ()
    ) -> None:
        self.run_dir = run_dir
        self.results = CsvAppender(run_dir / RESULTS_FILE, ResultRow, kept_results)
        self.parity = CsvAppender(run_dir / PARITY_FILE, ParityRow, kept_parity)

    def measured(self, row: CsvRow) -> None:
        self.results.append(row)

    def case_ended(self, row: CsvRow, runs_skipped: int) -> None:
        self.results.append(row)

    def parity_checked(self, row: CsvRow) -> None:
        self.parity.append(row)

    def finished(self, meta: RunMeta) -> None:
        self.results.close()
        self.parity.close()


class MetaWriter(RunListener):
    """The listener that keeps meta.json: rewritten whenever it changes, and when the run ends."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def meta_changed(self, meta: RunMeta) -> None:
        write_meta(self.run_dir, meta)

    def finished(self, meta: RunMeta) -> None:
        write_meta(self.run_dir, meta)


def write_meta(run_dir: Path, meta: RunMeta) -> None:
    tmp = run_dir / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta.model_dump(mode="json"), indent=2, default=str), encoding="utf-8")
    tmp.replace(run_dir / META_FILE)
