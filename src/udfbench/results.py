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
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from udfbench.errors import UserError

SCHEMA_VERSION = 1
RESULTS_FILE = "results.csv"
PARITY_FILE = "parity.csv"
META_FILE = "meta.json"

# The settings that identify a case: two runs are comparable case by case on these columns.
CASE_KEY = (
    "cluster",
    "strategy",
    "size",
    "input_mode",
    "sink",
    "batch_size",
    "arrow_batch_size",
    "partitions",
    "task_cpus",
    "threads",
)
# Knobs that a config may sweep; the report plots throughput against each one that varies.
AXES = ("batch_size", "arrow_batch_size", "partitions", "task_cpus", "threads")

Status = Literal["ok", "failed", "unsupported", "parity_failed"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResultRow(_Row):
    run_id: str
    cluster: str
    strategy: str
    eval_type: str
    size: int
    input_mode: str
    sink: str
    batch_size: int
    arrow_batch_size: int
    partitions: int | None
    task_cpus: int
    threads: int | None
    cores: int  # executor cores of the cluster (driver cores for local strategies)
    slots: int  # tasks that can run at once: min(cores / task_cpus, partitions); 1 for a driver loop
    repeat: int
    warmup: bool
    status: Status
    seconds: float | None
    rows: int
    skipped: int
    images_per_s: float | None
    model_loads: int  # model loads in the workers during this run: cold runs only, once per Python worker
    load_s: float
    decode_s: float
    predict_s: float
    error: str = ""


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


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    name: str
    status: Literal["running", "complete", "interrupted", "failed"]
    started_at: str
    finished_at: str | None = None
    config_file: str
    config: dict[str, Any]
    model: dict[str, Any] = {}
    versions: dict[str, str] = {}
    machine: dict[str, Any] = {}
    git_commit: str | None = None
    spark_conf: dict[str, dict[str, str]] = {}
    setup_seconds: dict[str, dict[str, float]] = {}
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


def write_meta(run_dir: Path, meta: RunMeta) -> None:
    tmp = run_dir / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta.model_dump(), indent=2, default=str), encoding="utf-8")
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


def _read_rows(path: Path, model: type[_Row]) -> pd.DataFrame:
    if not path.is_file():
        raise UserError("file not found", where=str(path))
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = set(model.model_fields) - set(reader.fieldnames or [])
        if missing:
            raise UserError(f"missing columns {', '.join(sorted(missing))}", where=str(path))
        rows = []
        for line, raw in enumerate(reader, start=2):
            cleaned = {k: (None if v == "" and k != "error" and k != "detail" else v) for k, v in raw.items()}
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
