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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from udfbench.config import AXES, RECORDED, UNSET_AXES, BenchConfig, error_text, field_path
from udfbench.errors import UserError, read_text, unreadable
from udfbench.events import RunListener
from udfbench.limits import Limit, limit_images_per_s

if TYPE_CHECKING:
    from udfbench.planning import Case

SCHEMA_VERSION = 1
RESULTS_FILE = "results.csv"
PARITY_FILE = "parity.csv"
META_FILE = "meta.json"

# A timed run during which other processes took more of the machine's CPU than this is "busy": its
# time says as much about the neighbours as about the strategy.
BUSY_FOREIGN_CPU_PCT = 10.0

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


class _Run(_Row):
    """A timed run's row: one that ended "ok" was measured, so its seconds are a real duration."""

    @field_validator("seconds", check_fields=False)
    @classmethod
    def _measured(cls, seconds: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("status") == "ok" and not (
            seconds is not None and math.isfinite(seconds) and seconds > 0
        ):
            raise ValueError(
                "a run that ended ok needs its seconds, a positive number; "
                f"this one has {'none' if seconds is None else seconds}"
            )
        return seconds


_MEASUREMENT: dict[str, Any] = {
    "cores": (PositiveInt, ...),  # executor cores of the cluster (driver cores for local strategies)
    "slots": (PositiveInt, ...),  # tasks at once: min(cores / task_cpus, partitions); 1 for a loop
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
    # What the instruments read while the run was on (instruments.py); empty where they cannot see.
    "driver_peak_rss_mb": (float | None, None),
    "worker_peak_rss_mb": (float | None, None),  # the largest Python worker
    "executor_peak_rss_mb": (float | None, None),  # the largest executor JVM (local mode: the driver's)
    "python_workers": (int | None, None),  # Python workers alive at once
    "worker_threads": (int | None, None),  # math threads each Python worker's runtime uses
    "oversubscribed": (bool | None, None),  # python_workers x worker_threads > cores
    "foreign_cpu_pct": (float | None, None),  # the machine's CPU that other processes took
    "lost_executors": (int | None, None),  # executors the cluster lost so far in this session
    "error": (str, ""),
    # 0: the run as planned; k: the k-th round of reruns by ``check --confirm`` (absent in older files).
    "confirmation": (int, 0),
}
# One row per timed run of a case. The swept settings' columns come from config.AXES; a setting
# that may be unset defaults to None, so results written before it existed still read.
ResultRow = create_model(
    "ResultRow",
    __base__=_Run,
    run_id=(str, ...),
    cluster=(str, ...),
    strategy=(str, ...),
    eval_type=(str, ...),
    size=(PositiveInt, ...),
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


class Calibration(BaseModel):
    """The machine's physical limit for this model and these seeds; goes into meta.json as ``calibration``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decode_ms: float  # decode+resize per image, weighted as the datasets draw the seeds
    predict_ms: dict[int, float]  # predict per image, by batch size (always includes 1)
    best_batch_size: int
    gflop_per_image: float | None
    gflop_per_s: float | None  # achieved by one process (one core) at the best batch size
    flops_unknown_reason: str | None
    cores: int | None  # the cores the limit is for
    limit_images_per_s: float | None
    limit_unknown_reason: str | None
    processes: int  # single-threaded processes that measured at once
    repeats: int  # measured repetitions per process (the fewest any process made)
    images_used: int  # distinct seed images measured
    images_skipped: int  # distinct seed images that could not be read
    seconds: float  # wall time of the whole calibration, process start included

    def limit_for(self, cores: int | None) -> Limit:
        """The limit for another number of cores (a cluster's executors), from the same measurements."""
        return limit_images_per_s(cores, self.decode_ms, self.predict_ms)


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
    # How many seed images and a digest of their bytes (``dataset.seeds_digest``); absent in older runs.
    seed_images: dict[str, Any] = {}
    versions: dict[str, str] = {}
    machine: dict[str, Any] = {}
    git_commit: str | None = None
    spark_conf: dict[str, dict[str, str]] = {}
    # The driver machine's limit for this model and seeds (None: not calibrated, with --no-calibrate).
    calibration: Calibration | None = None
    calibration_error: str | None = None
    # Per cluster: the cores its executors may use and the limit for them (None with a reason).
    limits: dict[str, Limit] = {}
    setup_seconds: dict[str, dict[str, float]] = {}
    # What was read: seed folder or table URI, image column, stage (see Workload.description).
    input: dict[str, Any] = {}
    error: str | None = None
    # When ``run --resume`` took the run up again after an interruption, oldest first.
    resumed_at: list[str] = []


class CsvAppender:
    """Appends validated rows to a CSV file, flushed to disk one by one.

    ``kept`` rows (a resumed run's finished ones) are written first; the file replaces ``path`` only
    once they are on disk, so a crash while rewriting loses nothing.
    """

    def __init__(self, path: Path, model: type[_Row], kept: Iterable[_Row] = ()) -> None:
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

    def _write(self, row: _Row) -> None:
        self._writer.writerow({k: "" if v is None else v for k, v in row.model_dump().items()})

    def append(self, row: _Row) -> None:
        self._write(row)
        self._sync()

    def close(self) -> None:
        self._file.close()


class ResultsWriter(RunListener):
    """The listener that keeps a run's rows: every row appended and flushed as it comes, so an
    interrupted run keeps everything it finished. ``kept_results`` and ``kept_parity`` start the files
    (a resumed run's finished rows, or a run that confirmation reruns add to)."""

    def __init__(
        self, run_dir: Path, kept_results: Iterable[_Row] = (), kept_parity: Iterable[_Row] = ()
    ) -> None:
        self.run_dir = run_dir
        self.results = CsvAppender(run_dir / RESULTS_FILE, ResultRow, kept_results)
        self.parity = CsvAppender(run_dir / PARITY_FILE, ParityRow, kept_parity)

    def measured(self, row: _Row) -> None:
        self.results.append(row)

    def case_ended(self, row: _Row, runs_skipped: int) -> None:
        self.results.append(row)

    def parity_checked(self, row: _Row) -> None:
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


def read_meta(run_dir: Path) -> RunMeta:
    path = run_dir / META_FILE
    if not path.is_file():
        raise UserError("not a udfbench run folder (no meta.json)", where=str(run_dir))
    try:
        meta = RunMeta.model_validate_json(read_text(path), context={RECORDED: True})
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        raise UserError(error_text(e), where=f"{path}: {field_path(e['loc'])}") from None
    if meta.schema_version != SCHEMA_VERSION:
        raise UserError(
            f"schema version {meta.schema_version}, this udfbench reads {SCHEMA_VERSION}", str(path)
        )
    return meta


# Columns where an empty cell is the empty string, not a missing value.
TEXT_COLUMNS = frozenset({"error", "detail"})


def _read_models(path: Path, model: type[_Row]) -> list[Any]:
    if not path.is_file():
        raise UserError("file not found", where=str(path))
    rows = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            required = {name for name, info in model.model_fields.items() if info.is_required()}
            missing = required - set(reader.fieldnames or [])
            if missing:
                raise UserError(f"missing columns {', '.join(sorted(missing))}", where=str(path))
            ended = reader.line_num  # a record may span lines: it is named by its first
            for raw in reader:
                rows.append(_row_model(model, raw, where=f"{path}: line {ended + 1}"))
                ended = reader.line_num
    except (OSError, UnicodeDecodeError) as err:
        raise unreadable(path, err) from None
    except csv.Error as err:
        raise UserError(f"not valid CSV: {err}", where=f"{path}: line {reader.reader.line_num}") from None
    return rows


def _row_model(model: type[_Row], raw: dict[str | None, str | list[str]], where: str) -> Any:
    """One CSV record as ``model``; ``where`` names its line."""
    if None in raw:
        raise UserError("more cells than the header has columns", where=where)
    # Only a quote left open makes a cell span lines; it would swallow the rows after it unseen.
    spanning = [k for k, v in raw.items() if k not in TEXT_COLUMNS and "\n" in str(v)]
    if spanning:
        raise UserError(f"column {spanning[0]} runs over several lines (a quote left open?)", where=where)
    cleaned = {k: (None if v == "" and k not in TEXT_COLUMNS else v) for k, v in raw.items()}
    try:
        return model.model_validate(cleaned)
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        column = e["loc"][0] if e["loc"] else "(row)"
        raise UserError(error_text(e), where=f"{where}, column {column}") from None


def rows_frame(rows: Sequence[_Row], model: type[_Row] = ResultRow) -> pd.DataFrame:
    """Rows as a table with every column of ``model``, in file order."""
    return pd.DataFrame([r.model_dump() for r in rows], columns=list(model.model_fields))


def read_result_rows(run_dir: Path) -> list[Any]:
    """results.csv as validated rows, to write back unchanged (a resumed or confirmed run)."""
    return _read_models(run_dir / RESULTS_FILE, ResultRow)


def read_parity_rows(run_dir: Path) -> list[ParityRow]:
    path = run_dir / PARITY_FILE
    return _read_models(path, ParityRow) if path.is_file() else []


def read_results(run_dir: Path) -> pd.DataFrame:
    return rows_frame(read_result_rows(run_dir))


def read_parity(run_dir: Path) -> pd.DataFrame:
    return rows_frame(read_parity_rows(run_dir), ParityRow)


# -- the measured runs and the case identity: every consumer derives its figures from these ----------


def runs_of_round(results: pd.DataFrame, confirmation: int = 0) -> pd.DataFrame:
    """The rows of the run as planned (0), or of the k-th round of ``check --confirm`` reruns: a
    report, comparison or history describes the run as planned; reruns only ever answer a check."""
    if "confirmation" not in results:  # a table made before the column existed
        return results if confirmation == 0 else results.iloc[0:0]
    return results[results["confirmation"].astype(int) == confirmation]


def measured_runs(results: pd.DataFrame, confirmation: int = 0) -> pd.DataFrame:
    """The timed runs that every statistic is computed from: successful, not warmups, of the run as
    planned (or of the given round of confirmation reruns)."""
    rows = runs_of_round(results, confirmation)
    ok = rows[(rows["status"] == "ok") & ~rows["warmup"].astype(bool)]
    return ok.astype({"seconds": float})


# What starts a fresh session (fresh Python workers, or for a driver loop an empty model cache).
SESSION_KEY = ("cluster", "strategy", "task_cpus", "threads")


def cold_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The cold start of each session: its first timed run, when that is a successful warmup.

    A session starts with fresh Python workers that import TensorFlow and load the model; only the
    first warmup run of its first case pays that. Later cases' warmups are warm, so they are not
    cold starts. ``results`` must be in the order the runs were made (as results.csv is).
    """
    if results.empty:
        return results
    first = results.groupby(case_ids(results, SESSION_KEY), sort=False).head(1)
    return first[first["warmup"].astype(bool) & (first["status"] == "ok")].astype({"seconds": float})


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


def planned_case_id(case: Case, config: BenchConfig) -> tuple[str, ...]:
    """The identity (as ``case_ids`` gives it) that a planned case's rows carry: maps a verdict or a
    row back to the ``Case`` that measures it."""
    row = {
        "cluster": case.cluster.name,
        "strategy": case.strategy,
        "size": case.size,
        "input_mode": config.dataset.input_mode,
        "sink": config.sink,
        **case.axes.model_dump(),
    }
    return tuple(setting_text(row[c]) for c in CASE_KEY)


def varying_settings(frame: pd.DataFrame, columns: Sequence[str] = SETTINGS) -> list[str]:
    """The case settings (by default beyond cluster, strategy and size) that take more than one value."""
    return [c for c in columns if c in frame and frame[c].map(setting_text).nunique() > 1]


def case_name(
    row: Mapping[str, Any], varying: Sequence[str] = (), with_cluster: bool = True, with_size: bool = True
) -> str:
    """The one name of a case everywhere: ``cluster/strategy/n=size``, then ``/setting=value`` for each
    setting that varies among the cases shown. ``with_cluster=False`` where clusters are columns,
    ``with_size=False`` where the size is said already."""
    parts = [str(row["cluster"])] if with_cluster else []
    parts.append(str(row["strategy"]))
    parts += [f"n={setting_text(row['size'])}"] if with_size else []
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
