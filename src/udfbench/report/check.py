"""``udfbench check``'s outputs: the terminal table, check.md (also the CI job summary), check.json
and check.xml (JUnit). Every string that reaches Markdown is escaped: GitHub renders it as HTML."""

from __future__ import annotations

import html
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from udfbench.check import CheckResult, Verdict
from udfbench.report.format import console, interval

HEADERS = ["case", "measure", "ratio now/baseline", "95% interval", "p", "threshold", "verdict", "note"]
ICONS = {"regression": "❌", "improvement": "✅", "unchanged": "➖", "undecided": "⚠️", "unconfirmed": "🔁"}


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def _cells(v: Verdict) -> list[str]:
    runs = min(v.n_baseline, v.n_current) if v.measure == "time" else None
    return [
        v.case,
        v.measure,
        _fmt(v.ratio),
        interval(v.low, v.high, runs) if v.ratio is not None else "–",
        _fmt(v.p_value, ".3g"),
        f"{v.threshold:.0%}",
        v.status,
        v.note,
    ]


def headline(result: CheckResult) -> str:
    counts = {
        s: sum(v.status == s for v in result.verdicts)
        for s in ("regression", "improvement", "unchanged", "undecided")
    }
    o = result.options
    mode = f"relative to {o.relative_to}" if o.relative_to else "absolute seconds"
    unconfirmed = sum(v.status == "unconfirmed" for v in result.verdicts)
    dismissed = f", {unconfirmed} regression(s) not confirmed by reruns" if unconfirmed else ""
    return (
        f"{counts['regression']} regression(s){dismissed}, {counts['improvement']} improvement(s), "
        f"{counts['unchanged']} unchanged, {counts['undecided']} undecided "
        f"({o.metric}, {mode}, alpha {o.alpha})"
    )


def notes(result: CheckResult) -> list[str]:
    found = [f"allowed difference: {d}" for d in result.differences]
    if result.reruns:
        found.append(
            f"each regression was rerun {result.reruns} times from the current run's config; "
            "only those the reruns reproduce fail the check"
        )
    if result.only_in_current:
        found.append("only in the current run (not compared): " + ", ".join(result.only_in_current))
    if result.only_in_baseline:
        found.append("only in the baseline (not compared): " + ", ".join(result.only_in_baseline))
    return found


def print_table(result: CheckResult) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    table = Table(title=Text(f"udfbench check: {result.current} against {result.baseline}"))
    for header in HEADERS:
        table.add_column(header)
    styles = {"regression": "bold red", "improvement": "green", "undecided": "yellow", "unconfirmed": "cyan"}
    for verdict in result.verdicts:
        table.add_row(*(Text(c) for c in _cells(verdict)), style=styles.get(verdict.status))
    out.print(table)
    for line in notes(result):
        out.print(line, markup=False, highlight=False)
    out.print(headline(result), markup=False, highlight=False)


def markdown_text(text: str) -> str:
    """Text safe in a Markdown table cell: HTML escaped (GitHub renders raw HTML), pipes and newlines too."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def to_markdown(result: CheckResult) -> str:
    lines = [
        "## udfbench check",
        "",
        f"**{markdown_text(headline(result))}**",
        "",
        f"Current `{markdown_text(result.current)}` against baseline `{markdown_text(result.baseline)}`.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    for verdict in result.verdicts:
        cells = _cells(verdict)
        cells[6] = f"{ICONS[verdict.status]} {cells[6]}"
        lines.append("| " + " | ".join(markdown_text(c) for c in cells) + " |")
    lines += ["", *(f"- {markdown_text(n)}" for n in notes(result))]
    return "\n".join(lines).rstrip() + "\n"


def to_json(result: CheckResult) -> str:
    return json.dumps(
        {
            "current": result.current,
            "baseline": result.baseline,
            "options": asdict(result.options),
            "summary": headline(result),
            "exit_status": result.exit_status(),
            "differences": result.differences,
            "only_in_current": result.only_in_current,
            "only_in_baseline": result.only_in_baseline,
            "cases": [asdict(v) for v in result.verdicts],
        },
        indent=2,
        default=lambda x: None if isinstance(x, float) and np.isnan(x) else x,
    )


def to_junit(result: CheckResult) -> str:
    suite = ElementTree.Element(
        "testsuite",
        name="udfbench check",
        tests=str(len(result.verdicts)),
        failures=str(len(result.regressions)),
        skipped=str(sum(v.status == "undecided" for v in result.verdicts)),
    )
    for verdict in result.verdicts:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"udfbench.{verdict.measure}", name=verdict.case
        )
        message = " ".join(c for c in _cells(verdict)[2:] if c)
        if verdict.status == "regression":
            ElementTree.SubElement(case, "failure", message=message)
        elif verdict.status == "undecided":
            ElementTree.SubElement(case, "skipped", message=verdict.note)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)


def write_outputs(result: CheckResult, out_dir: Path) -> dict[str, Path]:
    """check.md, check.json and check.xml (JUnit) in ``out_dir``; the Markdown also goes to the CI job
    summary when ``GITHUB_STEP_SUMMARY`` names one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "check.md", "json": out_dir / "check.json", "junit": out_dir / "check.xml"}
    paths["markdown"].write_text(to_markdown(result), encoding="utf-8")
    paths["json"].write_text(to_json(result), encoding="utf-8")
    paths["junit"].write_text(to_junit(result), encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as file:
                file.write(to_markdown(result))
        except OSError as err:  # the verdict stands: a CI runner's summary file is not the gate's input
            print(
                f"udfbench: warning: GITHUB_STEP_SUMMARY: cannot append to {summary}: {err.strerror}",
                file=sys.stderr,
            )
    return paths
