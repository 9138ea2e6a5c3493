"""``udfbench check``'s outputs: the terminal table, check.md (also the CI job summary), check.json
and check.xml (JUnit). Every string that reaches Markdown is escaped for Markdown (a code span
holds it as it is): GitHub renders the job summary, so a run folder's or a setting's name must
not become a link, an image, emphasis or HTML."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from udfbench.analysis.check import CheckResult, Verdict
from udfbench.report.files import make_folder, write_text_atomically
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


# Why verdicts were undecided, as the summary line counts them.
REASONS = {
    "noisy": "too noisy",
    "few repeats": "too few repeats",
    "busy": "busy machine",
    "nothing to judge": "nothing to judge",
}


def headline(result: CheckResult) -> str:
    counts = {
        s: sum(v.status == s for v in result.verdicts)
        for s in ("regression", "improvement", "unchanged", "undecided")
    }
    o = result.options
    mode = f"relative to {o.relative_to}" if o.relative_to else "absolute seconds"
    unconfirmed = sum(v.status == "unconfirmed" for v in result.verdicts)
    dismissed = f", {unconfirmed} regression(s) not confirmed by reruns" if unconfirmed else ""
    why = [
        f"{n} {label}"
        for reason, label in REASONS.items()
        if (n := sum(v.undecided_because == reason for v in result.undecided))
    ]
    reasons = f" ({', '.join(why)})" if why else ""
    return (
        f"{counts['regression']} regression(s){dismissed}, {counts['improvement']} improvement(s), "
        f"{counts['unchanged']} unchanged, {counts['undecided']} undecided{reasons} "
        f"({o.metric}, {mode}, alpha {o.alpha}{', strict' if o.strict else ''})"
    )


def notes(result: CheckResult) -> list[str]:
    found = [f"allowed difference: {d}" for d in result.differences]
    if result.options.strict and result.undecided:
        found.append(f"--strict: the {len(result.undecided)} undecided verdict(s) fail the check")
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


# What makes Markdown of text (GitHub's: CommonMark with tables, strikethrough and autolinks): code,
# emphasis, links and images, raw HTML and entities, table cells, and what GitHub turns into a link
# by itself ("://", "www.", "@"). A backslash makes any ASCII punctuation plain text.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]()<>!|&~@]|:(?=//)|(?<=[A-Za-z])\.")


def markdown_text(text: str) -> str:
    """``text`` as plain text in Markdown, in a table cell too: every character that would make
    Markdown (or HTML, which GitHub renders inside Markdown) backslash-escaped, a newline a space.
    A dot after a letter is escaped too: ``www.example.com`` would become a link."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text.replace("\n", " "))


def markdown_code(text: str) -> str:
    """``text`` as an inline code span: nothing inside one is Markdown or an entity, so the text goes
    in as it is, between more backticks than any run of them it holds (padded by a space where it
    starts or ends with one, which Markdown strips)."""
    text = text.replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def to_markdown(result: CheckResult) -> str:
    lines = [
        "## udfbench check",
        "",
        f"**{markdown_text(headline(result))}**",
        "",
        f"Current {markdown_code(result.current)} against baseline {markdown_code(result.baseline)}.",
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
    """One test case per verdict: a regression fails, an undecided one is skipped (with ``--strict``,
    fails)."""
    strict = result.options.strict
    suite = ElementTree.Element(
        "testsuite",
        name="udfbench check",
        tests=str(len(result.verdicts)),
        failures=str(len(result.regressions) + (len(result.undecided) if strict else 0)),
        skipped=str(0 if strict else len(result.undecided)),
    )
    for verdict in result.verdicts:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"udfbench.{verdict.measure}", name=verdict.case
        )
        message = " ".join(c for c in _cells(verdict)[2:] if c)
        if verdict.status == "regression" or (strict and verdict.status == "undecided"):
            ElementTree.SubElement(case, "failure", message=message)
        elif verdict.status == "undecided":
            ElementTree.SubElement(case, "skipped", message=verdict.note)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)


def write_outputs(result: CheckResult, out_dir: Path) -> dict[str, Path]:
    """check.md, check.json and check.xml (JUnit) in ``out_dir``; the Markdown also goes to the CI job
    summary when ``GITHUB_STEP_SUMMARY`` names one."""
    make_folder(out_dir)
    paths = {
        "markdown": write_text_atomically(out_dir / "check.md", to_markdown(result)),
        "json": write_text_atomically(out_dir / "check.json", to_json(result)),
        "junit": write_text_atomically(out_dir / "check.xml", to_junit(result)),
    }
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
