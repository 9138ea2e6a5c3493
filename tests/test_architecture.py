"""The house's layout holds: no import circle, no import against the flow of data, and a reading
side (analysis, report) that a laptop without Java, TensorFlow or onnxruntime can run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import udfbench

PACKAGE = Path(udfbench.__file__).parent

# What each part of udfbench may import: data flows from the config (plan) through inputs, the model
# and Spark into the measuring loop, which writes the run folder (rundir); analysis and report only
# read it. The command line is the one place that may reach every part.
MAY_IMPORT = {
    "errors": set(),
    "plan": {"errors"},
    "rundir": {"errors", "plan"},
    "spark": {"errors", "plan"},
    "inputs": {"errors", "plan", "spark"},
    "model": {"errors", "plan", "inputs"},
    "measure": {"errors", "plan", "rundir", "spark", "inputs", "model"},
    "analysis": {"errors", "plan", "rundir"},
    "report": {"errors", "plan", "rundir", "analysis"},
    "cli": {"errors", "plan", "rundir", "spark", "inputs", "model", "measure", "analysis", "report"},
}
TOP_LEVEL = {"__init__", "__main__", "errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The udfbench modules ``name`` imports, at any depth of its code (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            candidates = [f"{node.module}.{a.name}" for a in node.names] or [node.module]
            found |= {c if c in MODULES else node.module for c in candidates}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in MODULES and m != name and m != "udfbench"}


GRAPH = {name: imports_of(name) for name in MODULES}


def part(name: str) -> str:
    return name.split(".")[1] if name.count(".") else "__init__"


def test_the_package_holds_packages_and_a_few_top_level_modules() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == TOP_LEVEL
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(
        MAY_IMPORT
    ) - {"errors"}


def test_no_import_runs_against_the_flow() -> None:
    against = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if part(name) in MAY_IMPORT
        and part(target) != part(name)
        and part(target) not in MAY_IMPORT[part(name)]
    )
    assert against == []


def test_no_import_circle() -> None:
    circles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                circles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_every_module_opens_with_a_line_saying_its_job() -> None:
    silent = [name for name, path in MODULES.items() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert silent == [n for n in silent if n.endswith("__main__")]


def test_the_reading_side_needs_no_spark_tensorflow_or_onnxruntime() -> None:
    reading = sorted(n for n in MODULES if part(n) in {"analysis", "report", "rundir", "plan"})
    code = (
        "import importlib, sys\n"
        f"for name in {reading!r}: importlib.import_module(name)\n"
        "heavy = ('pyspark', 'tensorflow', 'keras', 'onnxruntime', 'py4j')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
