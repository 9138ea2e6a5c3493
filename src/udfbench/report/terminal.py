"""The terminal: the run summary a user reads first when a run ends, and the progress while it runs."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from udfbench.analysis.answer import Answer, flags, headline
from udfbench.report.format import console as default_console
from udfbench.report.format import fixed_cost, format_number, interval
from udfbench.report.html import REFERENCE, has_skips, varying_axes
from udfbench.rundir.events import RunListener
from udfbench.rundir.identity import case_ids, case_name, varying_settings


def print_summary(
    summary: pd.DataFrame, fits: pd.DataFrame, found: list[Answer], console: Console | None = None
) -> None:
    """The summary table, the cost model, the flags, then the answer: what a user reads last stays."""
    console = console or default_console()
    if summary.empty:
        console.print("No case finished.")
        return
    axes = varying_axes(summary)
    table = Table(title="Summary (seconds; statistics over measured runs)")
    columns = [
        *axes,
        "strategy",
        "size",
        *(["skipped"] if has_skips(summary) else []),
        "count",
        "min",
        "median",
        "std",
        "images_per_s",
        *(["fraction_of_limit"] if summary["fraction_of_limit"].notna().any() else []),
        "relative",
        "cold_s",
        "worker_peak_rss_mb",
        "status",
    ]
    headers = {
        "count": "runs",
        "min": "best",
        "images_per_s": "images/s",
        "fraction_of_limit": "of limit",
        "relative": f"vs {REFERENCE}",
        "cold_s": "cold",
        "worker_peak_rss_mb": "worker MB",
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
        for column in [
            *[a for a in axes if a in fits],
            "strategy",
            "fixed",
            "95% interval",
            "ms per row",
            "r2",
        ]:
            cost.add_column(column, justify="left" if column in {"strategy", "fixed", *axes} else "right")
        for row in fits.to_dict("records"):
            cost.add_row(
                *[format_number(row[a]) for a in axes if a in fits],
                str(row["strategy"]),
                fixed_cost(row),
                interval(row["fixed_low"], row["fixed_high"], digits=".3g"),
                f"{row['per_row_s'] * 1000:.3g} ± {row['per_row_stderr'] * 1000:.2g}",
                f"{row['r2']:.3f}",
            )
        console.print(cost)
    # An answer's line ends with its own case's warnings: the others' are said here, each once.
    said = {answer.case for answer in found}
    several_clusters = summary["cluster"].nunique() > 1
    varying = varying_settings(summary)
    for key, row in zip(case_ids(summary), summary.to_dict("records"), strict=True):
        for warning in () if key in said else flags(row):
            name = case_name(row, varying, with_cluster=several_clusters)
            console.print(f"{name}: {warning}", style="yellow", markup=False, highlight=False)
    for answer in found:
        console.print(headline(answer), style="bold", markup=False, highlight=False)


class ProgressDisplay(RunListener):
    """A progress bar over the planned timed runs; in a log file or CI, one line per timed run."""

    def __init__(self, total_runs: int, most_repeats: int | None = None) -> None:
        """``total_runs`` at most; ``most_repeats``: a case's measured runs at most, with ``repeats:
        auto`` (a case that stops early leaves the rest of them off the bar's count)."""
        columns = (
            TextColumn("{task.description:<48}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        self.bar = Progress(*columns, transient=False)
        self.task = self.bar.add_task("starting", total=total_runs)
        self.total = total_runs
        self.most_repeats = most_repeats
        self.done = 0

    def __enter__(self) -> ProgressDisplay:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def _line(self, text: str, advance: int) -> None:
        self.done += advance
        self.bar.update(self.task, advance=advance, description=text)
        if not self.bar.console.is_terminal:
            self.bar.console.print(f"[{self.done}/{self.total}] {text}", markup=False, highlight=False)

    def stage(self, description: str) -> None:
        self.bar.update(self.task, description=description)

    def measured(self, row: Any) -> None:
        kind = "warmup" if row.warmup else "run"
        text = f"{row.cluster} {row.strategy} n={row.size} {kind} {row.repeat}: {row.seconds:.2f}s"
        if row.stopped_because:
            left = (self.most_repeats or row.repeat) - row.repeat
            self._line(f"{text} ({row.stopped_because})", 1 + left)
        else:
            self._line(text, 1)

    def case_ended(self, row: Any, runs_skipped: int) -> None:
        self._line(f"{row.cluster} {row.strategy} n={row.size}: {row.status}", runs_skipped)
