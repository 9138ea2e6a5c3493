"""Render a run's report.html with jinja2 (autoescaped: every string, file names included)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from udfbench.report import plots
from udfbench.results import AXES, RunMeta

if TYPE_CHECKING:
    from udfbench.compare import Comparison

REFERENCE = "python"
CEILING = "python_pipelined"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("udfbench", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    return env


def format_number(value: Any, digits: int = 3) -> str:
    """Significant digits for timings; a dash for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}g}" if abs(number) < 10**digits else f"{number:,.0f}"


def varying_axes(summary: pd.DataFrame) -> list[str]:
    return [
        c
        for c in ("cluster", "input_mode", "sink", *AXES)
        if c in summary and summary[c].astype(str).nunique() > 1
    ]


def figures(results: pd.DataFrame, summary: pd.DataFrame) -> list[dict[str, str | None]]:
    """Every plot the report shows, with a caption; a plot without data says why instead."""
    shown = [
        ("Time against size", plots.time_vs_size(results, summary), "needs at least one successful case"),
        ("Throughput against size", plots.throughput_vs_size(summary), "needs at least one successful case"),
        (
            f"Speed-up against {REFERENCE}",
            plots.speedup_vs_reference(summary, REFERENCE),
            f"needs the {REFERENCE} strategy and one other",
        ),
        ("Cold start against steady state", plots.cold_vs_steady(summary), "needs warmup runs"),
        ("Where the time goes", plots.time_breakdown(summary), "needs at least one successful case"),
    ]
    for axis in AXES:
        png = plots.throughput_vs_axis(summary, axis)
        if png:
            shown.append((f"Throughput against {axis}", png, ""))
    return [{"title": t, "png": png, "missing": why} for t, png, why in shown]


def render_report(
    meta: RunMeta, results: pd.DataFrame, summary: pd.DataFrame, fits: pd.DataFrame, parity: pd.DataFrame
) -> str:
    axes = varying_axes(summary)
    failures = summary[summary["status"] != "ok"] if not summary.empty else summary
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            meta=meta,
            summary=summary.to_dict("records"),
            axes=axes,
            fits=fits.to_dict("records"),
            parity=parity.to_dict("records"),
            failures=failures.to_dict("records"),
            figures=figures(results, summary),
            runs=len(results),
            reference=REFERENCE,
            ceiling=CEILING if "of_ceiling" in summary and summary["of_ceiling"].notna().any() else None,
            config_yaml=yaml.safe_dump(meta.config, sort_keys=False),
        )
    )


def render_comparison(comparison: Comparison) -> str:
    """compare.html: the cases side by side, what differs, what is only in some runs, the plots overlaid.

    The plots are the single-run report's, drawn over every column's runs at once (one series per
    column), plus throughput per executor core.
    """
    shown = figures(comparison.results, comparison.summary)
    per_core = plots.throughput_vs_size(comparison.summary, per_core=True)
    shown.insert(
        2,
        {
            "title": "Throughput per executor core against size",
            "png": per_core,
            "missing": "needs at least one successful case",
        },
    )
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for row in comparison.table.to_dict("records"):
        cases.setdefault(row["case"], {})[row["column"]] = row
    return (
        _environment()
        .get_template("compare.html.j2")
        .render(
            columns=comparison.columns,
            cases=cases,
            only_in_some=comparison.only_in_some,
            differences=comparison.differences,
            figures=shown,
        )
    )
