"""The one helper that writes run folders for the reading side's tests, through udfbench's own writers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from udfbench.rundir.schema import RESULTS_FILE, ResultRow, RunMeta
from udfbench.rundir.writers import CsvAppender, write_meta


def result_row(run_id: str, strategy: str, size: int, seconds: float, **overrides) -> ResultRow:
    """A successful measured run of a case with default settings."""
    values = {
        "cluster": "local", "eval_type": "none", "input_mode": "path", "sink": "noop", "batch_size": 32,
        "arrow_batch_size": 10000, "partitions": None, "task_cpus": 1, "threads": None, "cores": 2,
        "slots": 2, "repeat": 1, "warmup": False, "status": "ok", "rows": size, "skipped": 0,
        "images_per_s": size / seconds, "model_loads": 0, "load_s": 0.0, "decode_s": 0.0, "predict_s": 0.0,
    }  # fmt: skip
    return ResultRow(run_id=run_id, strategy=strategy, size=size, seconds=seconds, **(values | overrides))


def bench_config(**overrides) -> dict:
    """A valid bench.yaml as a mapping (what meta.json stores)."""
    return {"dataset": {"sizes": [10]}, "strategies": ["python", "udf"], **overrides}


def case_rows(
    run_id: str,
    strategy: str,
    size: int,
    seconds: Sequence[float],
    warmup_s: float | None = None,
    **fields: Any,
) -> Iterator[ResultRow]:
    """One case's rows: a warmup that took ``warmup_s`` (when given), then measured runs 1, 2, ...
    that took ``seconds``."""
    if warmup_s is not None:
        yield result_row(run_id, strategy, size, warmup_s, repeat=0, warmup=True, **fields)
    for repeat, value in enumerate(seconds, start=1):
        yield result_row(run_id, strategy, size, value, repeat=repeat, **fields)


def write_run_folder(folder: Path, rows: Iterable[ResultRow] = (), **meta: Any) -> Path:
    """A run folder with ``rows`` as results.csv and a complete run's meta.json (``meta`` overrides
    its fields: config, versions, machine, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    values = {
        "run_id": folder.name,
        "name": "t",
        "status": "complete",
        "started_at": "t",
        "config_file": "b.yaml",
        "config": bench_config(),
    }
    write_meta(folder, RunMeta(**(values | meta)))
    CsvAppender(folder / RESULTS_FILE, ResultRow, rows).close()
    return folder
