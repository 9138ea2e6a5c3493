"""``udfbench compare``: runs (and the clusters inside them) side by side.

What is compared is a *column*: one cluster of one run. Cases are matched on everything in
``results.CASE_KEY`` but the cluster; a case present in only some columns is compared where it is
present and listed, never dropped silently. For each case: the median per column, the time ratio to
the first column with a bootstrap interval (``stats.ratio_ci``), and throughput per executor core, so
a bigger cluster is judged by what a row costs as well as by how fast it is. Settings, versions,
machine facts and Spark settings that differ between the columns are listed.

Like a report, a comparison is a function of the run folders' files only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench.analysis import stats
from udfbench.analysis.summary import case_summaries, cost_fits
from udfbench.errors import UserError
from udfbench.rundir.files import load_run, stacked
from udfbench.rundir.identity import CASE_KEY, case_ids, case_name, measured_runs, setting_text
from udfbench.rundir.schema import RESULTS_FILE, RunMeta

MATCH_KEY = tuple(c for c in CASE_KEY if c != "cluster")
# Facts that name a run, cluster or session rather than say how it ran: they always differ.
IDENTITY = {
    "cluster.name",
    "config.name",
    "config.output_dir",
    "machine.hostname",
    "spark.app.id",
    "spark.app.name",
    "spark.app.startTime",
    "spark.app.submitTime",
    "spark.driver.port",
}
ABSENT = "absent"


@dataclass
class Column:
    """One cluster of one run, labelled by run id, cluster name, or both where needed to tell apart."""

    label: str
    run_dir: Path
    meta: RunMeta
    cluster: str
    results: pd.DataFrame


@dataclass(frozen=True)
class Difference:
    setting: str  # dotted: config.batch_size, versions.pyspark, machine.cores, spark.executor.memory
    values: list[str]  # one per column, ``ABSENT`` where a column does not have it


@dataclass
class Comparison:
    columns: list[Column]
    # One row per (case, column) for the cases found in at least two columns.
    table: pd.DataFrame
    only_in_some: list[str]  # "case: not in <labels>" for every case some columns lack
    differences: list[Difference]
    # Summaries and runs of every column, ``cluster`` holding the column label: the single-run plots
    # then draw one series per column.
    summary: pd.DataFrame
    results: pd.DataFrame
    # One row per (strategy and settings, column) for those fitted in at least two columns: the
    # straight-line cost across each column's own sizes, which compares runs of different sizes.
    costs: pd.DataFrame


def _load(run_dir: Path) -> tuple[RunMeta, pd.DataFrame]:
    meta, results = load_run(run_dir)
    if results.empty:
        raise UserError("no timed runs recorded", where=str(run_dir / RESULTS_FILE))
    return meta, results


def _columns(run_dirs: list[Path]) -> list[Column]:
    loaded = [(run_dir, *_load(run_dir)) for run_dir in run_dirs]
    many_runs = len(loaded) > 1
    columns = []
    for run_dir, meta, results in loaded:
        clusters = list(dict.fromkeys(results["cluster"]))
        for cluster in clusters:
            if not many_runs:
                label = cluster
            elif len(clusters) > 1:
                label = f"{meta.run_id}/{cluster}"
            else:
                label = meta.run_id
            columns.append(Column(label, run_dir, meta, cluster, results[results["cluster"] == cluster]))
    labels = [c.label for c in columns]
    if len(set(labels)) != len(labels):  # the same run named twice, or two runs with one id
        for index, column in enumerate(columns, start=1):
            column.label = f"{index}:{column.label}"
    return columns


def _flatten(prefix: str, value: Any, into: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, into)
    else:
        into[prefix] = json.dumps(value) if isinstance(value, list | type(None)) else str(value)


def _facts(column: Column) -> dict[str, str]:
    """How a column ran, as dotted names: config, its cluster, versions, machine, Spark settings."""
    facts: dict[str, str] = {}
    config = column.meta.config
    _flatten("config", config.model_dump(mode="json", exclude={"clusters"}), facts)
    # Of a run's clusters, only this column's own settings describe it (a scaled copy's: its cores);
    # a run without a clusters list is described by spark.master already.
    listed = config.cluster_list() if config.clusters or config.scaling else []
    cluster = next((c for c in listed if c.name == column.cluster), None)
    if cluster is not None:
        _flatten("cluster", cluster.model_dump(mode="json"), facts)
    _flatten("versions", column.meta.versions, facts)
    _flatten("machine", column.meta.machine, facts)
    facts.update(column.meta.spark_conf.get(column.cluster, {}))
    facts["executor cores"] = ", ".join(sorted({str(c) for c in column.results["cores"]}, key=int))
    return {k: v for k, v in facts.items() if k not in IDENTITY}


def differences(columns: list[Column]) -> list[Difference]:
    """Every fact whose value is not the same in all columns, sorted by name."""
    facts = [_facts(c) for c in columns]
    names = sorted(set().union(*facts))
    return [
        Difference(name, [f.get(name, ABSENT) for f in facts])
        for name in names
        if len({f.get(name, ABSENT) for f in facts}) > 1
    ]


def _measured(column: Column) -> dict[tuple[str, ...], pd.DataFrame]:
    """A column's timing samples (status ok, not warmup) per case, keyed on ``MATCH_KEY`` as text."""
    runs = measured_runs(column.results)
    return {
        tuple(setting_text(v) for v in key): group
        for key, group in runs.groupby(list(MATCH_KEY), dropna=False, sort=False)
    }


def _case_names(keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """The case names of ``identity.case_name`` without the cluster (clusters are the columns)."""
    varying = [column for i, column in enumerate(MATCH_KEY) if i >= 2 and len({k[i] for k in keys}) > 1]
    return {k: case_name(dict(zip(MATCH_KEY, k, strict=True)), varying, with_cluster=False) for k in keys}


def _row(case: str, key: tuple[str, ...], column: Column, runs: pd.DataFrame) -> dict[str, Any]:
    seconds = runs["seconds"].to_numpy()
    median = float(np.median(seconds))
    size, cores = int(key[1]), int(runs["cores"].iloc[0])
    predicted = size - int(runs["skipped"].max())  # skipped images are not throughput
    return {
        "case": case,
        "strategy": key[0],
        "size": size,
        "column": column.label,
        "runs": len(seconds),
        "median_s": median,
        "images_per_s": predicted / median,
        "cores": cores,
        "images_per_s_per_core": predicted / median / cores,
    }


def _ratios(row: dict[str, Any], first: pd.DataFrame, runs: pd.DataFrame) -> dict[str, float]:
    """Time and core-seconds (cost) relative to the first column, each with a 95% interval.

    The cost ratio is the time ratio times the ratio of executor cores: cores are fixed, so its
    interval is the time interval scaled.
    """
    estimate = stats.ratio_ci(first["seconds"].to_numpy(dtype=float), runs["seconds"].to_numpy(dtype=float))
    cores = row["cores"] / int(first["cores"].iloc[0])
    return {
        "ratio_to_first": estimate.ratio,
        "ratio_low": estimate.low,
        "ratio_high": estimate.high,
        "cost_ratio_to_first": estimate.ratio * cores,
        "cost_ratio_low": estimate.low * cores,
        "cost_ratio_high": estimate.high * cores,
    }


COST_KEY = tuple(c for c in MATCH_KEY if c != "size")


def cost_comparison(columns: list[Column]) -> pd.DataFrame:
    """Per-row and fixed cost of each strategy and settings, fitted over each column's own sizes.

    Runs of different sizes have no case in common, but a column with at least two sizes has a
    straight-line cost (``summary.cost_fits``) whose per-row cost compares across sizes. The ratio to
    the first column is of the point estimates; the fits' standard errors are kept beside them.
    """
    fits = {}
    for column in columns:
        table = cost_fits(column.results)
        fits[column.label] = {
            tuple(setting_text(row[c]) for c in COST_KEY): row for row in table.to_dict("records")
        }
    keys = sorted({k for found in fits.values() for k in found})
    varying = [c for i, c in enumerate(COST_KEY) if i >= 1 and len({k[i] for k in keys}) > 1]
    first = columns[0].label
    rows = []
    for key in keys:
        present = [c for c in columns if key in fits[c.label]]
        if len(present) < 2:
            continue
        name = "/".join([key[0], *(f"{c}={key[COST_KEY.index(c)]}" for c in varying)])
        for column in present:
            fit = fits[column.label][key]
            base = fits[first].get(key)
            measured = measured_runs(column.results)
            sizes = measured.loc[case_ids(measured, COST_KEY).map(lambda k, key=key: k == key), "size"]
            rows.append(
                {
                    "case": name,
                    "strategy": key[0],
                    "column": column.label,
                    "sizes": ", ".join(map(str, sorted(set(sizes)))),
                    "per_row_s": fit["per_row_s"],
                    "per_row_stderr": fit["per_row_stderr"],
                    "fixed_s": fit["fixed_s"],
                    "fixed_stderr": fit["fixed_stderr"],
                    "fixed_low": fit["fixed_low"],
                    "fixed_high": fit["fixed_high"],
                    "fixed_reading": fit["fixed_reading"],
                    "r2": fit["r2"],
                    "per_row_ratio_to_first": (
                        fit["per_row_s"] / base["per_row_s"]
                        if base is not None and column.label != first and base["per_row_s"] > 0
                        else np.nan
                    ),
                }
            )
    return pd.DataFrame(rows)


def compare_runs(run_dirs: list[Path]) -> Comparison:
    """Load the runs and put every cluster of every run side by side; see the module docstring."""
    columns = _columns(run_dirs)
    if len(columns) < 2:
        raise UserError("needs two runs, or a run with two clusters, to compare", where=str(run_dirs[0]))
    measured = {c.label: _measured(c) for c in columns}
    keys = sorted({k for cases in measured.values() for k in cases}, key=lambda k: (k[0], int(k[1]), k[2:]))
    names = _case_names(keys)
    first = columns[0]
    rows, only_in_some = [], []
    for key in keys:
        present = [c for c in columns if key in measured[c.label]]
        if len(present) < len(columns):
            missing = ", ".join(c.label for c in columns if c not in present)
            only_in_some.append(f"{names[key]}: not in {missing}")
        if len(present) < 2:
            continue
        for column in present:
            runs = measured[column.label][key]
            row = _row(names[key], key, column, runs)
            if column is not first and key in measured[first.label]:
                row.update(_ratios(row, measured[first.label][key], runs))
            rows.append(row)
    costs = cost_comparison(columns)
    if not rows and costs.empty:
        raise UserError(
            "no case (strategy, size and settings) has timings in two of the runs compared, and no "
            "strategy has timings at two sizes in two of them to compare its per-row cost",
            where=", ".join(map(str, run_dirs)),
        )
    ratio_columns = [f"{p}{s}" for p in ("ratio", "cost_ratio") for s in ("_to_first", "_low", "_high")]
    row_columns = ["case", "strategy", "size", "column", "runs", "median_s", "images_per_s", "cores",
                   "images_per_s_per_core"]  # fmt: skip
    table = pd.DataFrame(rows).reindex(columns=[*row_columns, *ratio_columns])
    relabelled = stacked([c.results.assign(cluster=c.label) for c in columns])
    return Comparison(
        columns=columns,
        table=table,
        only_in_some=only_in_some,
        differences=differences(columns),
        summary=case_summaries(relabelled),
        results=relabelled,
        costs=costs,
    )


def default_out_dir(first_run: Path) -> Path:
    """A new folder next to the first run: ``compare-<UTC time>``."""
    return first_run.parent / f"compare-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
