"""``udfbench compare``'s outputs: the terminal table, compare.csv and a self-contained compare.html."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

from udfbench.analysis.compare import Comparison
from udfbench.report.files import make_folder, write_csv_atomically, write_text_atomically
from udfbench.report.format import console, fixed_cost, format_number, interval
from udfbench.report.html import render_comparison

NO_COMMON_SIZE = (
    "No case has the same size in two of the runs: they are compared by the per-row cost of the "
    "straight-line fit through each run's own sizes."
)


# A cell's lines from its row and the case's rows by column.
CellLines = Callable[[dict[str, Any], dict[str, dict[str, Any]]], list[str]]


def _side_by_side(title: str, labels: list[str], frame: pd.DataFrame, cell: CellLines) -> Table:
    """One row per case, one column per run (or cluster); ``cell`` gives a cell's lines, "–" if absent."""
    table = Table(title=title, show_lines=True)
    table.add_column("case")
    for label in labels:
        table.add_column(Text(label), justify="right")
    for case, group in frame.groupby("case", sort=False):
        by_column = {r["column"]: r for r in group.to_dict("records")}
        cells = [Text("\n".join(cell(by_column[label], by_column))) if label in by_column else Text("–")
                 for label in labels]  # fmt: skip
        table.add_row(Text(str(case)), *cells)
    return table


def _cost_lines(r: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[str]:
    per_row, stderr = r["per_row_s"] * 1000, r["per_row_stderr"] * 1000
    lines = [
        f"{format_number(per_row)} ± {format_number(stderr, 2)} ms/row",
        f"fixed {fixed_cost(r)} (n={r['sizes']})",
    ]
    if not math.isnan(r["per_row_ratio_to_first"]):
        lines.append(f"per row ×{r['per_row_ratio_to_first']:.2f}")
    return lines


def print_costs(comparison: Comparison) -> None:
    """Per-row and fixed cost of each strategy and settings per column, with the ratio to the first."""
    if comparison.costs.empty:
        return
    labels = [c.label for c in comparison.columns]
    title = f"Cost model per column: ms per row (± se), fixed s, per-row × {labels[0]}'s"
    console().print(_side_by_side(title, labels, comparison.costs, _cost_lines))


def print_comparison(comparison: Comparison) -> None:
    """The cases side by side in the terminal, the cost models, what is only in some runs and what
    differs."""
    labels = [c.label for c in comparison.columns]
    if comparison.table.empty:
        console().print(NO_COMMON_SIZE, markup=False, highlight=False)
    else:

        def time_lines(r: dict[str, Any], by_column: dict[str, dict[str, Any]]) -> list[str]:
            lines = [f"{format_number(r['median_s'])} s"]
            if not math.isnan(r["ratio_to_first"]):
                first_runs = by_column.get(labels[0], {}).get("runs", 0)
                spread = interval(r["ratio_low"], r["ratio_high"], min(r["runs"], first_runs), ".2f")
                lines.append(f"×{r['ratio_to_first']:.2f} {spread}")
            return [*lines, f"{format_number(r['images_per_s_per_core'])}/core"]

        title = f"Median seconds, time × {labels[0]}'s [95% interval], images/s per executor core"
        console().print(_side_by_side(title, labels, comparison.table, time_lines))
    print_costs(comparison)
    _print_notes(comparison)


def _print_notes(comparison: Comparison) -> None:
    out = console()
    for line in comparison.only_in_some:
        out.print(f"only in some: {line}", markup=False, highlight=False)
    for diff in comparison.differences:
        out.print(f"differs: {diff.setting}: {' | '.join(diff.values)}", markup=False, highlight=False)


def write_comparison(comparison: Comparison, out_dir: Path) -> Path:
    """``compare.csv`` (one row per case and column), ``compare-costs.csv`` (one row per strategy and
    column, when cost models were fitted) and a self-contained ``compare.html``."""
    make_folder(out_dir)
    write_csv_atomically(out_dir / "compare.csv", comparison.table)
    if not comparison.costs.empty:
        write_csv_atomically(out_dir / "compare-costs.csv", comparison.costs)
    return write_text_atomically(out_dir / "compare.html", render_comparison(comparison))
