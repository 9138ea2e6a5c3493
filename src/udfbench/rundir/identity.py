"""Case identity: which rows are one case, one session, one round, and the one name a case has everywhere.

Every consumer (report, compare, check, history, resume, confirm) groups and matches rows through
these functions, so that two files agree on what "the same case" means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from udfbench.plan.config import AXES, BenchConfig

if TYPE_CHECKING:
    from udfbench.plan.cases import Case

# What a case is, besides its swept settings (``config.AXES``).
CASE_FIELDS = ("cluster", "strategy", "size", "input_mode", "sink")
# The settings that identify a case: two runs are comparable case by case on these columns.
CASE_KEY = (*CASE_FIELDS, *AXES)
# The case's settings other than where it ran, what ran and how many rows: they name a case only
# where they vary.
SETTINGS = tuple(c for c in CASE_KEY if c not in {"cluster", "strategy", "size"})


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
