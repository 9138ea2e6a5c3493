"""A run's report: a function of its results files only (no Spark, no TensorFlow).

``build_report`` writes ``summary.csv`` (one row per case), ``fits.csv`` (fixed and per-row cost
per strategy) and ``report.html`` (one self-contained file: plots embedded, no network), with a
capacity plan when the config has a ``plan:`` section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from udfbench.analysis.answer import answers
from udfbench.analysis.capacity import capacity_plan
from udfbench.analysis.summary import case_summaries, cost_fits
from udfbench.errors import UserError
from udfbench.report import plan as capacity
from udfbench.report.files import write_csv_atomically, write_text_atomically
from udfbench.report.html import render_report
from udfbench.rundir.files import load_run, read_parity
from udfbench.rundir.schema import RunMeta


def capacity_section(run_dir: Path, meta: RunMeta, results: pd.DataFrame) -> dict[str, Any] | None:
    """The capacity plan the config's ``plan:`` asks for, or why there is none (too few sizes, no
    images given): a report is built whatever its run measured. None without a ``plan:`` section."""
    settings = meta.config.plan
    if settings is None:
        return None
    if settings.images is None:
        return capacity.section(None, "the config's plan section gives no images")
    try:
        return capacity.section(capacity_plan(meta, results, settings, run_dir))
    except UserError as err:
        return capacity.section(None, err.message)


def build_report(run_dir: Path, print_to_terminal: bool = False) -> Path:
    meta, results = load_run(run_dir)
    parity = read_parity(run_dir)
    limits = {name: limit.images_per_s for name, limit in meta.limits.items()}
    busy = meta.calibration is not None and meta.calibration.busy
    summary = case_summaries(results, limits=limits, limit_busy=busy)
    fits = cost_fits(results)
    write_csv_atomically(run_dir / "summary.csv", summary)
    write_csv_atomically(run_dir / "fits.csv", fits)
    found = answers(summary, results)
    if print_to_terminal:
        from udfbench.report.terminal import print_summary

        print_summary(summary, fits, found)
    plan = capacity_section(run_dir, meta, results)
    html = render_report(meta, results, summary, fits, parity, found, plan)
    return write_text_atomically(run_dir / "report.html", html)
