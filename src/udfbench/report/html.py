"""Render a run's report.html with jinja2 (autoescaped: every string, file names included)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from udfbench.analysis.answer import REFERENCE, Answer, flags, headline, repeats_note
from udfbench.plan.config import AXES
from udfbench.report import plots
from udfbench.report.format import fixed_cost, format_number, interval
from udfbench.rundir.identity import SETTINGS, varying_settings
from udfbench.rundir.schema import BUSY_FOREIGN_CPU_PCT, RunMeta

if TYPE_CHECKING:
    from udfbench.analysis.compare import Comparison

CEILING = "python_pipelined"


def template_environment() -> Environment:
    """The jinja2 environment every HTML output renders with: the package's templates, autoescaped."""
    env = Environment(
        loader=PackageLoader("udfbench", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.globals["interval"] = interval
    env.globals["fixed_cost"] = fixed_cost
    return env


def varying_axes(summary: pd.DataFrame) -> list[str]:
    return varying_settings(summary, ("cluster", *SETTINGS))


def has_skips(summary: pd.DataFrame) -> bool:
    """Whether any case left images out (``on_bad_image: skip``): then the tables show how many."""
    return "skipped" in summary and bool(summary["skipped"].fillna(0).gt(0).any())


def figures(results: pd.DataFrame, summary: pd.DataFrame) -> list[dict[str, str | None]]:
    """Every plot the report shows, with a caption; a plot without data says why instead."""
    if summary.empty:  # a run stopped or failed before its first timed run
        return [{"title": "Plots", "png": None, "missing": "no timed run finished in this run"}]
    if summary["size"].nunique() > 1:
        shown = [
            ("Time against size", plots.time_vs_size(results, summary), "needs a successful case"),
            ("Throughput against size", plots.throughput_vs_size(summary), "needs a successful case"),
            (
                f"Speed-up against {REFERENCE}",
                plots.speedup_vs_reference(summary, REFERENCE),
                f"needs the {REFERENCE} strategy and one other",
            ),
        ]
        memory = plots.memory_vs_size(summary)
        if memory:  # runs recorded before udfbench sampled memory have none
            shown.append(("Peak memory against size", memory, ""))
    else:  # one size: lines through one point say nothing, ranked bars do
        shown = [("Throughput, ranked", plots.ranked_throughput(results, summary), "needs a successful case")]
    shown += [
        ("Cold start against steady state", plots.cold_vs_steady(summary), "needs warmup runs"),
        ("Where the time goes", plots.time_breakdown(summary), "needs at least one successful case"),
    ]
    for axis in AXES:
        png = plots.throughput_vs_axis(summary, axis)
        if png:
            shown.append((f"Throughput against {axis}", png, ""))
    return [{"title": t, "png": png, "missing": why} for t, png, why in shown]


def render_report(
    meta: RunMeta,
    results: pd.DataFrame,
    summary: pd.DataFrame,
    fits: pd.DataFrame,
    parity: pd.DataFrame,
    found: list[Answer],
    capacity: dict[str, Any] | None = None,
) -> str:
    """report.html; ``capacity``: the capacity-plan section (``report.plan.section``), or None."""
    axes = varying_axes(summary)
    failures = summary[summary["status"] != "ok"] if not summary.empty else summary
    return (
        template_environment()
        .get_template("report.html.j2")
        .render(
            meta=meta,
            busy_pct=BUSY_FOREIGN_CPU_PCT,
            answers=[{"answer": a, "headline": headline(a)} for a in found],
            capacity=capacity,
            limits=any(a.fraction_of_limit is not None for a in found),
            summary=[r | {"flags": flags(r), "note": repeats_note(r)} for r in summary.to_dict("records")],
            axes=axes,
            fits=fits.to_dict("records"),
            parity=parity.to_dict("records"),
            failures=failures.to_dict("records"),
            skipped=has_skips(summary),
            figures=figures(results, summary),
            runs=len(results),
            reference=REFERENCE,
            ceiling=CEILING if "of_ceiling" in summary and summary["of_ceiling"].notna().any() else None,
            config_yaml=yaml.safe_dump(meta.config.model_dump(mode="json"), sort_keys=False),
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
    costs: dict[str, dict[str, dict[str, Any]]] = {}
    for row in comparison.costs.to_dict("records"):
        costs.setdefault(row["case"], {})[row["column"]] = row
    return (
        template_environment()
        .get_template("compare.html.j2")
        .render(
            columns=comparison.columns,
            cases=cases,
            only_in_some=comparison.only_in_some,
            differences=comparison.differences,
            costs=costs,
            no_common_size=comparison.table.empty,
            figures=shown,
        )
    )
