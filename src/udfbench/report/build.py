"""A run's report: a function of its results files only (no Spark, no TensorFlow).

``build_report`` writes ``summary.csv`` (one row per case), ``fits.csv`` (fixed and per-row cost
per strategy) and ``report.html`` (one self-contained file: plots embedded, no network).
"""

from __future__ import annotations

from pathlib import Path

from udfbench.answer import answers
from udfbench.report.html import render_report
from udfbench.results import read_meta, read_parity, read_results
from udfbench.stats import case_summaries, cost_fits


def build_report(run_dir: Path, print_to_terminal: bool = False) -> Path:
    meta = read_meta(run_dir)
    results = read_results(run_dir)
    parity = read_parity(run_dir)
    limits = {name: limit.images_per_s for name, limit in meta.limits.items()}
    summary = case_summaries(results, limits=limits)
    fits = cost_fits(results)
    summary.to_csv(run_dir / "summary.csv", index=False)
    fits.to_csv(run_dir / "fits.csv", index=False)
    found = answers(summary, results)
    if print_to_terminal:
        from udfbench.report.terminal import print_summary

        print_summary(summary, fits, found)
    path = run_dir / "report.html"
    path.write_text(render_report(meta, results, summary, fits, parity, found), encoding="utf-8")
    return path
