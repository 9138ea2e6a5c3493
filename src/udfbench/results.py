"""The files a run writes, and the one place that knows their schema.

A run folder holds ``results.csv`` (tidy, long: one row per timed run of a case, warmups included),
``parity.csv`` (one row per row-by-row prediction check) and ``meta.json`` (config, versions,
machine, setup timings). Every number in a report, comparison or check is derived from these files,
so nothing downstream needs Spark or TensorFlow. Rows are appended and flushed as they are measured:
a run that is interrupted keeps every case it finished.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from udfbench.config import AXES, UNSET_AXES, BenchConfig
from udfbench.errors import UserError
from udfbench.events import RunListener

SCHEMA_VERSION = 1
RESULTS_FILE = "results.csv"
PARITY_FILE = "parity.csv"
META_FILE = "meta.json"

# What a case is, besides its swept settings (``config.AXES``).
CASE_FIELDS = ("cluster", "strategy", "size", "input_mode", "sink")
# The settings that identify a case: two runs are comparable case by case on these columns.
CASE_KEY = (*CASE_FIELDS, *AXES)
# The case's settings other than where it ran, what ran and how many rows: they name a case only
# where they vary.
SETTINGS = tuple(c for c in CASE_KEY if c not in {"cluster", "strategy", "size"})

Status = Literal["ok", "failed", "unsupported", "parity_failed"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


_MEASUREMENT: dict[str, Any] = {
    "cores": (int, ...),  # executor cores of the cluster (driver cores for local strategies)
    "slots": (int, ...),  # tasks that can run at once: min(cores / task_cpus, partitions); 1 for a loop
    "repeat": (int, ...),
    "warmup": (bool, ...),
    "status": (Status, ...),
    "seconds": (float | None, ...),
    "rows": (int, ...),
    "skipped": (int, ...),
    "images_per_s": (float | None, ...),
    # Model loads in the workers during this run: cold runs only, once per Python worker.
    "model_loads": (int, ...),
    "load_s": (float, ...),
    "decode_s": (float, ...),
    "predict_s": (float, ...),
    "error": (str, ""),
}
# One row per timed run of a case. The swept settings' columns come from config.AXES; a setting
# that may be unset defaults to None, so results written before it existed still read.
ResultRow = create_model(
    "ResultRow",
    __base__=_Row,
    run_id=(str, ...),
    cluster=(str, ...),
    strategy=(str, ...),
    eval_type=(str, ...),
    size=(int, ...),
    input_mode=(str, ...),
    sink=(str, ...),
    **{name: (int | None, None if name in UNSET_AXES else ...) for name in AXES},
    **_MEASUREMENT,
)


class ParityRow(_Row):
    run_id: str
    cluster: str
    strategy: str
    size: int
    rows: int
    label_mismatches: int
    max_score_diff: float | None
    tolerance: float
    status: Literal["ok", "failed"]
    detail: str = ""
    # The fraction of rows with a true class (file name or label column) predicted as it.
    accuracy: float | None = None


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    name: str
    status: Literal["running", "complete", "interrupted", "failed"]
    started_at: str
    finished_at: str | None = None
    config_file: str
    # Read back through the config models: config.py stays the one place that knows the format.
    config: BenchConfig
    model: dict[str, Any] = {}
    versions: dict[str, str] = {}
    machine: dict[str, Any] = {}
    git_commit: str | None = None
    spark_conf: dict[str, dict[str, str]] = {}
    setup_seconds: dict[str, dict[str, float]] = {}
    # What was read: seed folder or table URI, image column, stage (see Workload.description).
    input: dict[str, Any] = {}
    error: str | None = None


class CsvAppender:
    """Appends validated rows to a CSV file, flushed to disk one by one."""

    def __init__(self, path: Path, model: type[_Row]) -> None:
        self.path = path
        self.fields = list(model.model_fields)
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields)
        self._writer.writeheader()
        self._sync()

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, row: _Row) -> None:
        self._writer.writerow({k: "" if v is None else v for k, v in row.model_dump().items()})
        self._sync()

    def close(self) -> None:
        self._file.close()


class ResultsWriter(RunListener):
    """The listener that keeps a run's files: every row appended and flushed as it comes, meta.json
    rewritten whenever it changes, so an interrupted run keeps everything it finished."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.results = CsvAppender(run_dir / RESULTS_FILE, ResultRow)
        self.parity = CsvAppender(run_dir / PARITY_FILE, ParityRow)

    def measured(self, row: _Row) -> None:
        self.results.append(row)

    def case_ended(self, row: _Row, runs_skipped: int) -> None:
        self.results.append(row)

    def parity_checked(self, row: _Row) -> None:
        self.parity.append(row)

    def meta_changed(self, meta: RunMeta) -> None:
        write_meta(self.run_dir, meta)

    def finished(self, meta: RunMeta) -> None:
        self.results.close()
        self.parity.close()
        write_meta(self.run_dir, meta)


def write_meta(run_dir: Path, meta: RunMeta) -> None:
    tmp = run_dir / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta.model_dump(mode="json"), indent=2, default=str), encoding="utf-8")
    tmp.replace(run_dir / META_FILE)


def read_meta(run_dir: Path) -> RunMeta:
    path = run_dir / META_FILE
    if not path.is_file():
        raise UserError("not a udfbench run folder (no meta.json)", where=str(run_dir))
    try:
        meta = RunMeta.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        raise UserError(e["msg"], where=f"{path}: {'.'.join(map(str, e['loc']))}") from None
    if meta.schema_version != SCHEMA_VERSION:
        raise UserError(
            f"schema version {meta.schema_version}, this udfbench reads {SCHEMA_VERSION}", str(path)
        )
    return meta


# Columns where an empty cell is the empty string, not a missing value.
TEXT_COLUMNS = frozenset({"error", "detail"})


def _read_rows(path: Path, model: type[_Row]) -> pd.DataFrame:
    if not path.is_file():
        raise UserError("file not found", where=str(path))
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        required = {name for name, info in model.model_fields.items() if info.is_required()}
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise UserError(f"missing columns {', '.join(sorted(missing))}", where=str(path))
        rows = []
        for line, raw in enumerate(reader, start=2):
            cleaned = {k: (None if v == "" and k not in TEXT_COLUMNS else v) for k, v in raw.items()}
            try:
                rows.append(model.model_validate(cleaned).model_dump())
            except ValidationError as err:
                e = err.errors(include_url=False)[0]
                raise UserError(f"{e['msg']}", where=f"{path}: line {line}, column {e['loc'][0]}") from None
    return pd.DataFrame(rows, columns=list(model.model_fields))


def read_results(run_dir: Path) -> pd.DataFrame:
    return _read_rows(run_dir / RESULTS_FILE, ResultRow)


def read_parity(run_dir: Path) -> pd.DataFrame:
    path = run_dir / PARITY_FILE
    return (
        _read_rows(path, ParityRow) if path.is_file() else pd.DataFrame(columns=list(ParityRow.model_fields))
    )


# -- the measured runs and the case identity: every consumer derives its figures from these ----------


def measured_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The timed runs that every statistic is computed from: successful, not warmups."""
    ok = results[(results["status"] == "ok") & ~results["warmup"].astype(bool)]
    return ok.astype({"seconds": float})


def setting_text(value: Any) -> str:
    """A setting as text that matches across files: unset is "default", 8.0 (pandas' int-with-NaN) is 8."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "default"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def case_ids(frame: pd.DataFrame, columns: Sequence[str] = CASE_KEY) -> pd.Series:
    """Each row's case as a tuple of setting texts: a key that groups and matches across files, NaN-safe."""
    present = [c for c in columns if c in frame.columns]
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    return frame[present].apply(lambda row: tuple(setting_text(v) for v in row), axis=1)


def varying_settings(frame: pd.DataFrame, columns: Sequence[str] = SETTINGS) -> list[str]:
    """The case settings (by default beyond cluster, strategy and size) that take more than one value."""
    return [c for c in columns if c in frame and frame[c].map(setting_text).nunique() > 1]


def case_name(row: Mapping[str, Any], varying: Sequence[str] = (), with_cluster: bool = True) -> str:
    """The one name of a case everywhere: ``cluster/strategy/n=size``, then ``/setting=value`` for each
    setting that varies among the cases shown. ``with_cluster=False`` where clusters are columns."""
    parts = [str(row["cluster"])] if with_cluster else []
    parts += [str(row["strategy"]), f"n={setting_text(row['size'])}"]
    parts += [f"{column}={setting_text(row[column])}" for column in varying]
    return "/".join(parts)


def case_names(frame: pd.DataFrame, varying: Sequence[str] = (), with_cluster: bool = True) -> pd.Series:
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    return frame.apply(lambda row: case_name(row, varying, with_cluster), axis=1)


def load_run(run_dir: Path) -> tuple[RunMeta, pd.DataFrame]:
    """A run folder's meta and results; a missing folder or files is a UserError naming them."""
    if not run_dir.is_dir():
        raise UserError("run folder not found", where=str(run_dir))
    return read_meta(run_dir), read_results(run_dir)
