"""``udfbench compare``: runs (and the clusters inside them) side by side.

What is compared is a *column*: one cluster of one run. Cases are matched on everything in
``results.CASE_KEY`` but the cluster; a case present in only some columns is listed, not dropped
silently. For each case: the median per column, the time ratio to the first column with a bootstrap
interval, and throughput per executor core, so a bigger cluster is judged by what a row costs as
well as by how fast it is. Settings and versions that differ between the runs are listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from udfbench import stats
from udfbench.errors import UserError
from udfbench.results import CASE_KEY, RunMeta, read_meta, read_results

MATCH_KEY = [c for c in CASE_KEY if c != "cluster"]


@dataclass
class Column:
    label: str
    run_dir: Path
    meta: RunMeta
    cluster: str
    results: pd.DataFrame


@dataclass
class Comparison:
    columns: list[Column]
    table: pd.DataFrame  # one row per (case, column): median, images/s, per core, ratio to the first
    partial: list[str]  # cases missing from some columns, with where they are
    differences: list[dict[str, Any]]  # setting, then one value per column
    summary: pd.DataFrame  # case summaries of every column, ``cluster`` holding the column label
    results: pd.DataFrame  # every run of every column, ``cluster`` holding the column label


def _columns(run_dirs: list[Path]) -> list[Column]:
    loaded = []
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            raise UserError("run folder not found", where=str(run_dir))
        loaded.append((run_dir, read_meta(run_dir), read_results(run_dir)))
    many_runs = len(loaded) > 1
    columns = []
    for run_dir, meta, results in loaded:
        clusters = list(dict.fromkeys(results["cluster"]))
        for cluster in clusters:
            if many_runs and len(clusters) > 1:
                label = f"{meta.run_id}/{cluster}"
            else:
                label = meta.run_id if many_runs else cluster
            columns.append(Column(label, run_dir, meta, cluster, results[results["cluster"] == cluster]))
    labels = [c.label for c in columns]
    if len(set(labels)) != len(labels):  # the same run named twice, say
        for index, column in enumerate(columns):
            column.label = f"{index + 1}:{column.label}"
    return columns


def _case_name(row: pd.Series, varying: list[str]) -> str:
    """``strategy n=size`` plus the settings that vary between the cases compared."""
    return f"{row['strategy']} n={row['size']}" + "".join(f" {c}={row[c]}" for c in varying)


def _flatten(prefix: str, value: Any, into: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, into)
    else:
        into[prefix] = json.dumps(value) if isinstance(value, list | type(None)) else str(value)


def _differences(columns: list[Column]) -> list[dict[str, Any]]:
    """Every setting, version or machine fact whose value is not the same in all columns."""
    facts = []
    for column in columns:
        flat: dict[str, str] = {}
        config = {k: v for k, v in column.meta.config.items() if k not in {"clusters", "name", "output_dir"}}
        _flatten("config", config, flat)
        cluster_config = next(
            (c for c in column.meta.config.get("clusters") or [] if c.get("name") == column.cluster), None
        )
        _flatten(
            "cluster", cluster_config or {"master": column.meta.config.get("spark", {}).get("master")}, flat
        )
        _flatten("versions", column.meta.versions, flat)
        _flatten("machine", {k: v for k, v in column.meta.machine.items() if k != "hostname"}, flat)
        flat["executor cores"] = ", ".join(sorted({str(c) for c in column.results["cores"]}))
        facts.append(flat)
    keys = sorted(set().union(*facts))
    return [
        {"setting": key, "values": [f.get(key, "absent") for f in facts]}
        for key in keys
        if len({f.get(key, "absent") for f in facts}) > 1
    ]


def compare_runs(run_dirs: list[Path]) -> Comparison:
    columns = _columns(run_dirs)
    if len(columns) < 2:
        raise UserError("needs two runs, or a run with two clusters, to compare", where=str(run_dirs[0]))
    measured = {
        c.label: c.results[(c.results["status"] == "ok") & ~c.results["warmup"].astype(bool)] for c in columns
    }
    every = pd.concat(measured.values())
    varying = [c for c in MATCH_KEY if c not in {"strategy", "size"} and every[c].astype(str).nunique() > 1]
    cases: dict[str, dict[str, np.ndarray]] = {}
    for label, runs in measured.items():
        for _, group in runs.groupby(MATCH_KEY, dropna=False, sort=True):
            name = _case_name(group.iloc[0], varying)
            cases.setdefault(name, {})[label] = group["seconds"].to_numpy(dtype=float)
    first = columns[0].label
    rows, partial = [], []
    for name, by_label in sorted(cases.items()):
        if len(by_label) < len(columns):
            missing = [c.label for c in columns if c.label not in by_label]
            partial.append(f"{name}: not in {', '.join(missing)}")
        if len(by_label) < 2:
            continue
        size = int(name.split(" n=")[1].split()[0])
        cores = {c.label: int(c.results["cores"].iloc[0]) for c in columns}
        for column in columns:
            values = by_label.get(column.label)
            if values is None:
                continue
            median = float(np.median(values))
            row = {
                "case": name,
                "column": column.label,
                "runs": len(values),
                "median_s": median,
                "images_per_s": size / median,
                "cores": cores[column.label],
                "images_per_s_per_core": size / median / cores[column.label],
                "ratio_to_first": np.nan,
                "ratio_low": np.nan,
                "ratio_high": np.nan,
            }
            if column.label != first and first in by_label:
                estimate = stats.ratio_ci(by_label[first], values)
                row.update(ratio_to_first=estimate.ratio, ratio_low=estimate.low, ratio_high=estimate.high)
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        raise UserError("no case appears in two of the runs compared", where=", ".join(map(str, run_dirs)))
    relabelled = pd.concat([c.results.assign(cluster=c.label) for c in columns], ignore_index=True)
    return Comparison(
        columns=columns,
        table=table,
        partial=partial,
        differences=_differences(columns),
        summary=stats.case_summaries(relabelled),
        results=relabelled,
    )


def default_out_dir(first_run: Path) -> Path:
    return first_run.parent / f"compare-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def print_comparison(comparison: Comparison) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=180)
    labels = [c.label for c in comparison.columns]
    table = Table(
        title=f"Median seconds; ratio: time / time on {labels[0]} (95% interval); per core: images/s/core"
    )
    table.add_column("case")
    for label in labels:
        table.add_column(label, justify="right")
    for case, group in comparison.table.groupby("case", sort=True):
        cells = []
        for label in labels:
            row = group[group["column"] == label]
            if row.empty:
                cells.append("–")
                continue
            r = row.iloc[0]
            ratio = (
                ""
                if np.isnan(r["ratio_to_first"])
                else f" ×{r['ratio_to_first']:.2f} [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}]"
            )
            cells.append(f"{r['median_s']:.3g}s{ratio} {r['images_per_s_per_core']:.3g}/core")
        table.add_row(case, *cells)
    console.print(table)
    for line in comparison.partial:
        console.print(f"partial: {line}", markup=False, highlight=False)
    for diff in comparison.differences:
        console.print(
            f"differs: {diff['setting']}: {' | '.join(diff['values'])}", markup=False, highlight=False
        )


def write_comparison(comparison: Comparison, out_dir: Path) -> Path:
    """compare.csv (tidy) and compare.html (self-contained) in ``out_dir``."""
    from udfbench.report.html import render_comparison

    out_dir.mkdir(parents=True, exist_ok=True)
    comparison.table.to_csv(out_dir / "compare.csv", index=False)
    path = out_dir / "compare.html"
    path.write_text(render_comparison(comparison), encoding="utf-8")
    return path
