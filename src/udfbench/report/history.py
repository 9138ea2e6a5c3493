"""``udfbench history`` output: a terminal table of the changes, history.html and history.json.

The HTML is one self-contained file (plots embedded as PNG, jinja2 autoescaping every name): small
multiples of each case's medians over the runs, with 95% intervals, commits as x labels and the
changes marked.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from udfbench.analysis.history import CaseHistory, DriftAt, History, StepAt
from udfbench.report.files import make_folder, write_text_atomically
from udfbench.report.format import format_number, interval
from udfbench.report.html import template_environment
from udfbench.report.plots import plt, png_of  # pyplot with the Agg backend


def _changes(history: History) -> list[dict[str, object]]:
    """Every step and drift as one row, slowdowns first, then by case. A step has its verdict, its
    ratio's interval over the runs of both levels and a note; a drift is judged by its ratio alone."""
    rows: list[dict[str, object]] = [
        {
            "case": s.case,
            "kind": "step",
            "runs": s.run_id,
            "ratio": s.ratio,
            "interval": interval(s.verdict.low, s.verdict.high),
            "direction": s.direction,
            "verdict": s.verdict.status,
            "note": s.verdict.note,
            "slowdown": history.is_slowdown(s),
        }
        for s in history.steps
    ]
    rows += [
        {
            "case": d.case,
            "kind": f"drift ({d.kind})",
            "runs": f"{d.start_run_id} .. {d.end_run_id}",
            "ratio": d.ratio,
            "interval": "–",
            "direction": d.direction,
            "verdict": "regression" if history.is_slowdown(d) else "–",
            "note": "",
            "slowdown": history.is_slowdown(d),
        }
        for d in history.drifts
    ]
    return sorted(rows, key=lambda r: (not r["slowdown"], str(r["case"])))


def headline(history: History) -> str:
    mode = f"relative to {history.relative_to}" if history.relative_to else "absolute seconds"
    judged = [
        f"{n} {status}"
        for status in ("unchanged", "undecided")
        if (n := sum(s.verdict.status == status for s in history.steps))
    ]
    of_steps = f" ({', '.join(judged)})" if judged else ""
    return (
        f"{len(history.slowdowns)} slowdown(s) beyond {history.threshold:.0%}, "
        f"{len(history.steps)} step(s){of_steps} and {len(history.drifts)} drift(s) in "
        f"{len(history.series)} case(s) over {len(history.runs)} runs "
        f"({mode}{', strict' if history.strict else ''})"
    )


def print_history(history: History, console: Console | None = None) -> None:
    """The cases with steps or drifts, slowdowns in red; then the headline."""
    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    rows = _changes(history)
    if rows:
        table = Table(title=f"udfbench history: {history.runs[0].run_id} .. {history.runs[-1].run_id}")
        headers = ("case", "change", "at run", "ratio after/before", "95% interval", "direction", "verdict")
        for header in (*headers, "note"):
            table.add_column(header, justify="right" if header.startswith("ratio") else "left")
        for row in rows:
            table.add_row(
                str(row["case"]),
                str(row["kind"]),
                str(row["runs"]),
                format_number(row["ratio"]),
                str(row["interval"]),
                str(row["direction"]),
                str(row["verdict"]),
                str(row["note"]),
                style="bold red"
                if row["slowdown"]
                else ("yellow" if row["verdict"] == "undecided" else None),
            )
        console.print(table)
    for line in history.differences:
        console.print(f"allowed difference: {line}", markup=False, highlight=False)
    console.print(headline(history), markup=False, highlight=False)


def case_plot(history: History, case: CaseHistory) -> str:
    """One case's medians over the runs with 95% intervals; steps as lines by their verdict (red a
    slowdown, green faster beyond the threshold, orange the others), drifts shaded."""
    x = [i for i, p in enumerate(case.points) if p]
    points = [p for p in case.points if p]
    medians = [p.median for p in points]
    below = [p.median - p.low if p.low is not None else 0.0 for p in points]
    above = [p.high - p.median if p.high is not None else 0.0 for p in points]
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    ax.errorbar(x, medians, yerr=[below, above], marker="o", markersize=4, capsize=2, linestyle="-")
    levels = [v if not math.isnan(v) else None for v in case.changes.levels]
    ax.plot(range(len(levels)), levels, color="grey", linestyle="--", linewidth=1, drawstyle="steps-mid")
    colors = {"regression": "#b00020", "improvement": "#1b7a2e"}
    for step in history.steps:
        if step.case == case.case:
            ax.axvline(step.index - 0.5, color=colors.get(step.verdict.status, "orange"), linewidth=1.5)
    for drift in case.changes.drifts:
        ax.axvspan(drift.start - 0.5, drift.end - 0.5, color="orange", alpha=0.2)
    ax.set_xticks(
        range(len(history.runs)), [r.label for r in history.runs], rotation=60, ha="right", fontsize=7
    )
    unit = f"relative to {history.relative_to}" if history.relative_to else "seconds"
    ax.set(ylabel=f"median ({unit})", title=case.case)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    return png_of(fig)


def render_html(history: History) -> str:
    """history.html: the headline, the changes, the runs, then one plot per case (changed cases first)."""
    changed = {row["case"] for row in _changes(history)}
    slowed = {c.case for c in history.slowdowns}
    order = sorted(
        history.series.values(), key=lambda c: (c.case not in slowed, c.case not in changed, c.case)
    )
    return (
        template_environment()
        .get_template("history.html.j2")
        .render(
            headline=headline(history),
            history=history,
            changes=_changes(history),
            figures=[{"case": c.case, "png": case_plot(history, c)} for c in order],
        )
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def to_json(history: History) -> str:
    """history.json: runs, each case's points, and every step and drift with its run ids."""

    def change(item: StepAt | DriftAt) -> dict[str, object]:
        return {**asdict(item), "slowdown": history.is_slowdown(item)}

    return json.dumps(
        {
            "summary": headline(history),
            "threshold": history.threshold,
            "relative_to": history.relative_to,
            "exit_status": history.exit_status(),
            "differences": history.differences,
            "runs": [
                {
                    "run_id": r.run_id,
                    "path": str(r.path),
                    "started_at": r.started_at.isoformat(),
                    "git_commit": r.git_commit,
                }
                for r in history.runs
            ],
            "series": {
                name: {
                    "points": [asdict(p) if p else None for p in case.points],
                    "levels": [_finite(v) for v in case.changes.levels],
                    "noise": case.changes.sigma,
                }
                for name, case in history.series.items()
            },
            "steps": [change(s) for s in history.steps],
            "drifts": [change(d) for d in history.drifts],
        },
        indent=2,
    )


def write_history(history: History, out_dir: Path) -> dict[str, Path]:
    """history.html and history.json in ``out_dir``."""
    make_folder(out_dir)
    return {
        "html": write_text_atomically(out_dir / "history.html", render_html(history)),
        "json": write_text_atomically(out_dir / "history.json", to_json(history)),
    }
