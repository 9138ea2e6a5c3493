"""The capacity plan rendered: a terminal table, plan.json, plan.html and a section of report.html.

Every cell is made once (``plan_rows``), for the terminal and the HTML alike.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from udfbench.analysis.capacity import CapacityPlan, Interval, Memory, StrategyPlan
from udfbench.report import plots
from udfbench.report.format import console as default_console
from udfbench.report.format import format_duration, format_mb, format_number
from udfbench.report.html import template_environment

PLAN_JSON, PLAN_HTML = "plan.json", "plan.html"
LAWS = {"usl": "USL", "amdahl": "Amdahl", "linear": "linear (assumed)"}


def _spread(value: Interval | None, digits: int = 3) -> str:
    """``12.3 [11.9, 12.8]``; the value alone where the runs gave no interval."""
    if value is None:
        return "–"
    text = format_number(value.value, digits)
    if math.isnan(value.low) or math.isnan(value.high):
        return text
    return f"{text} [{format_number(value.low, digits)}, {format_number(value.high, digits)}]"


def _where(s: StrategyPlan) -> str:
    if s.driver_only:
        return f"the driver ({s.cores} cores)"
    return f"{s.executors} x {s.cores // s.executors} cores"


def _law(s: StrategyPlan) -> str:
    if s.driver_only:
        return "none: driver only"
    law = LAWS[s.scaling.law]
    if s.scaling.law == "linear":
        return law
    return f"{law}: σ {format_number(s.scaling.sigma, 2)}, κ {format_number(s.scaling.kappa, 2)}"


def memory_text(memory: Memory) -> str:
    """What a process of the plan needs: the Python workers (how many, each), the JVM, the driver."""
    parts = []
    if memory.python_workers:
        parts.append(
            f"Python {memory.python_workers} x {format_mb(memory.worker_mb)} = {format_mb(memory.python_mb)}"
        )
    if memory.jvm_mb is not None:
        parts.append(f"JVM {format_mb(memory.jvm_mb)}")
    if memory.where == "on the driver" and memory.driver_mb is not None:
        parts.append(f"driver {format_mb(memory.driver_mb)}")
    text = "; ".join(parts) or "not measured"
    return f"{memory.where}: {text}" if memory.where == "on the driver" else text


def plan_rows(plan: CapacityPlan) -> list[dict[str, str]]:
    """One row of display cells per strategy, fastest first, in the order the columns are shown."""
    priced = plan.price_per_core_hour is not None
    rows = []
    for s in sorted(plan.strategies, key=lambda s: s.wall_s.value):
        row = {
            "strategy": s.name,
            "on": _where(s),
            "wall time [95%]": format_duration(s.wall_s.value, s.wall_s.low, s.wall_s.high),
            "core-hours [95%]": _spread(s.core_hours),
        }
        if priced:
            row["cost [95%]"] = _spread(s.cost)
            row["per million images"] = _spread(s.cost_per_million)
        row["images/s per core"] = _spread(s.images_per_s_per_core)
        row["fixed s"] = _spread(s.fixed_s)
        row["memory per executor"] = memory_text(s.memory)
        row["scaling"] = _law(s)
        if plan.deadline is not None:
            row["deadline"] = "meets" if s.meets_deadline else "misses"
        rows.append(row)
    return rows


def headline(plan: CapacityPlan) -> str:
    """What was asked, in one sentence."""
    cores = f"{plan.cores_per_executor} cores" + (
        "" if plan.cores_per_executor_given else " (the most a Spark strategy was measured on)"
    )
    if plan.deadline is not None:
        ask = f"the fewest executors of {cores} that finish within {plan.deadline}"
    else:
        ask = f"{plan.executors} executor(s) of {cores}"
    price = (
        f", at {format_number(plan.price_per_core_hour)} per core-hour"
        if plan.price_per_core_hour is not None
        else " (no price per core-hour given: no cost)"
    )
    return f"{plan.images:,} images on {ask}{price}."


def _lines(plan: CapacityPlan) -> list[tuple[str, str]]:
    """Below the table: (kind, text) for each strategy's warnings and deadline, what is left out,
    and the notes; kind is ``warning``, ``left out`` or ``note``."""
    found = []
    for s in plan.strategies:
        if s.meets_deadline:
            found.append(("note", f"{s.name}: {s.deadline_note}"))
        found += [("warning", f"{s.name}: {w}") for w in s.warnings]
        if not s.driver_only and s.scaling.law != "linear":  # linear is a warning, said above
            found.append(("note", f"{s.name}: {s.scaling.note}"))
    found += [("left out", f"{item.name}: {item.reason}") for item in plan.left_out]
    found += [("note", note) for note in plan.notes]
    return found


def print_plan(plan: CapacityPlan, console: Console | None = None) -> None:
    console = console or default_console()
    rows = plan_rows(plan)
    table = Table(title=Text(f"Capacity plan for run {plan.run_id}: {headline(plan)}"), show_lines=True)
    for column in rows[0]:
        table.add_column(Text(column), justify="left" if column in {"strategy", "on", "scaling"} else "right")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row.values()))
    console.print(table)
    styles = {"warning": "yellow", "left out": "red", "note": None}
    for kind, text in _lines(plan):
        console.print(f"{kind}: {text}", style=styles[kind], markup=False, highlight=False)


def _plain(value: Any) -> Any:
    """JSON's values: NaN and infinities (which JSON has not) as null, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def plan_json(plan: CapacityPlan) -> dict[str, Any]:
    return _plain(dataclasses.asdict(plan))


def section(plan: CapacityPlan | None, reason: str = "") -> dict[str, Any]:
    """What the capacity-plan section of an HTML page shows: the plan, or why there is none."""
    if plan is None:
        return {"plan": None, "reason": reason}
    return {
        "plan": plan,
        "headline": headline(plan),
        "rows": plan_rows(plan),
        "lines": _lines(plan),
        "figure": plots.plan_against_executors(plan),
    }


def render_plan(plan: CapacityPlan) -> str:
    return template_environment().get_template("plan.html.j2").render(capacity=section(plan))


def write_plan(plan: CapacityPlan, out_dir: Path) -> dict[str, Path]:
    """``plan.json`` and ``plan.html`` in ``out_dir``; their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {PLAN_JSON: out_dir / PLAN_JSON, PLAN_HTML: out_dir / PLAN_HTML}
    paths[PLAN_JSON].write_text(json.dumps(plan_json(plan), indent=2, allow_nan=False), encoding="utf-8")
    paths[PLAN_HTML].write_text(render_plan(plan), encoding="utf-8")
    return paths
