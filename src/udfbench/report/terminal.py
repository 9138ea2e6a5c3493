"""The run summary as a terminal table: what a user reads first when a run ends."""

from __future__ import annotations

import sys

import pandas as pd
from rich.console import Console
from rich.table import Table

from udfbench.report.html import REFERENCE, format_number, varying_axes


def print_summary(summary: pd.DataFrame, fits: pd.DataFrame, console: Console | None = None) -> None:
    # Piped output (CI logs) would otherwise be cut to 80 columns.
    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    if summary.empty:
        console.print("No case finished.")
        return
    axes = varying_axes(summary)
    table = Table(title="Summary (seconds; statistics over measured runs)")
    columns = [
        *axes,
        "strategy",
        "size",
        "count",
        "min",
        "median",
        "std",
        "images_per_s",
        "relative",
        "cold_s",
        "status",
    ]
    headers = {
        "count": "runs",
        "min": "best",
        "images_per_s": "images/s",
        "relative": f"vs {REFERENCE}",
        "cold_s": "cold",
    }
    for column in columns:
        table.add_column(
            headers.get(column, column),
            justify="left" if column in {"strategy", "status", *axes} else "right",
        )
    for row in summary.to_dict("records"):
        table.add_row(
            *(format_number(row[c]) if c not in {"strategy", "status"} else str(row[c]) for c in columns)
        )
    console.print(table)
    if not fits.empty:
        cost = Table(title="Cost model: seconds = fixed + per row x rows")
        for column in [*[a for a in axes if a in fits], "strategy", "fixed s", "ms per row", "r2"]:
            cost.add_column(column, justify="left" if column == "strategy" or column in axes else "right")
        for row in fits.to_dict("records"):
            cost.add_row(
                *[format_number(row[a]) for a in axes if a in fits],
                str(row["strategy"]),
                f"{row['fixed_s']:.3g} ± {row['fixed_stderr']:.2g}",
                f"{row['per_row_s'] * 1000:.3g} ± {row['per_row_stderr'] * 1000:.2g}",
                f"{row['r2']:.3f}",
            )
        console.print(cost)
