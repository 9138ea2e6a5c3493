"""Reading a run folder back: every file validated row by row, each error naming its file, line and column."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from udfbench.errors import UserError, read_text, unreadable
from udfbench.plan.config import RECORDED, error_text, field_path
from udfbench.rundir.identity import CASE_KEY, case_name, setting_text
from udfbench.rundir.schema import (
    META_FILE,
    PARITY_FILE,
    RESULTS_FILE,
    SCHEMA_VERSION,
    CsvRow,
    ParityRow,
    ResultRow,
    RunMeta,
)


def read_meta(run_dir: Path) -> RunMeta:
    path = run_dir / META_FILE
    if not run_dir.exists():
        raise UserError("run folder not found", where=str(run_dir))
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


def _read_models(path: Path, model: type[CsvRow]) -> list[tuple[int, Any]]:
    """Each record of ``path`` as ``model``, with the line it starts on."""
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
                rows.append((ended + 1, _row_model(model, raw, where=f"{path}: line {ended + 1}")))
                ended = reader.line_num
    except (OSError, UnicodeDecodeError) as err:
        raise unreadable(path, err) from None
    except csv.Error as err:
        raise UserError(f"not valid CSV: {err}", where=f"{path}: line {reader.reader.line_num}") from None
    return rows


def _row_model(model: type[CsvRow], raw: dict[str | None, str | list[str]], where: str) -> Any:
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


def rows_frame(rows: Sequence[CsvRow], model: type[CsvRow] = ResultRow) -> pd.DataFrame:
    """Rows as a table with every column of ``model``, in file order."""
    return pd.DataFrame([r.model_dump() for r in rows], columns=list(model.model_fields))


def _one_run(rows: list[tuple[int, Any]], path: Path, run_id: str | None) -> None:
    """Rows of one run, each timed run once: a row of another run (``run_id``, from meta.json) or a
    measured run given twice would be counted into this run's statistics."""
    seen: dict[tuple[Any, ...], int] = {}
    for line, row in rows:
        where = f"{path}: line {line}"
        if run_id is not None and row.run_id != run_id:
            raise UserError(
                f"a row of run {row.run_id!r}, not of this run ({run_id!r}, as meta.json says)", where=where
            )
        if row.status != "ok":
            continue
        values = row.model_dump()
        key = (*(setting_text(values[c]) for c in CASE_KEY), row.repeat, row.warmup, row.confirmation)
        if key in seen:
            kind = "warmup" if row.warmup else "measured run"
            raise UserError(
                f"{kind} {row.repeat} of case {case_name(values)} again (first on line {seen[key]})",
                where=where,
            )
        seen[key] = line


def stacked(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Tables of rows one after another (several runs' results), with every column any of them has.

    A column empty in one table (the driver loop's worker memory, a setting none of its cases set)
    does not decide the column's type: pandas deprecates letting it, and warns on every concat."""
    if not frames:
        return pd.DataFrame()
    columns = list(dict.fromkeys(column for frame in frames for column in frame.columns))
    filled = [frame.dropna(axis=1, how="all") for frame in frames]
    return pd.concat(filled, ignore_index=True).reindex(columns=columns)


def read_result_rows(run_dir: Path, run_id: str | None = None) -> list[Any]:
    """results.csv as validated rows, to write back unchanged (a resumed or confirmed run); with
    ``run_id`` (meta.json's) every row must be of that run."""
    path = run_dir / RESULTS_FILE
    rows = _read_models(path, ResultRow)
    _one_run(rows, path, run_id)
    return [row for _, row in rows]


def read_parity_rows(run_dir: Path) -> list[ParityRow]:
    path = run_dir / PARITY_FILE
    return [row for _, row in _read_models(path, ParityRow)] if path.is_file() else []


def read_results(run_dir: Path, run_id: str | None = None) -> pd.DataFrame:
    return rows_frame(read_result_rows(run_dir, run_id))


def read_parity(run_dir: Path) -> pd.DataFrame:
    return rows_frame(read_parity_rows(run_dir), ParityRow)


def load_run(run_dir: Path) -> tuple[RunMeta, pd.DataFrame]:
    """A run folder's meta and results; a missing folder or files is a UserError naming them."""
    if not run_dir.is_dir():
        raise UserError("run folder not found", where=str(run_dir))
    meta = read_meta(run_dir)
    return meta, read_results(run_dir, meta.run_id)
