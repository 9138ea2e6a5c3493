"""The regression gate on a busy machine: false alarms and misses of ``check`` on wall and CPU time.

Builds two small ONNX models here (no download): A, a few 3x3 convolutions, and B, the same with one
more convolution block, real extra computation per batch (about 25% more time; a sleep would cost no
CPU and prove nothing). While a background process keeps one core busy, it runs ``udfbench run`` for
A and B in turns (``--runs`` each), then judges every A/A pair (no change: any ``regression`` is a
false alarm) and every A/B pair (a real slowdown: anything but ``regression`` is a miss) with
``udfbench check --metric median`` and ``--metric cpu``. Prints the calibration of the first run, the
slowdown measured, and per metric and pair kind how many verdicts were regression, unchanged,
undecided (improvement too, if any).

    python benchmarks/gate.py [--runs 3] [--rows 40] [--repeats 5] [--keep DIR] [--no-load] [--small]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from common import calibration_line, meta, run, summary
from onnx import TensorProto, helper, numpy_helper

from udfbench.analysis.check import Options, check_runs

CONFIG = """
    name: {name}
    dataset: {{sizes: [{rows}], seed: 42}}
    model: {{path: {model}, classes: [dog, cat]}}
    strategies: [python]
    batch_size: 16
    spark: {{threads: 1}}
    warmup: 1
    repeats: {repeats}
    budget_minutes: 600
"""
# The image side and the convolution blocks: A has BLOCKS, B one more, a third more convolution work
# per batch; with decoding and the rest the same, B's runs take about a quarter longer. The model
# predicts on one thread: a thread pool that spin-waits on a busy machine burns CPU time while it
# waits, which would make CPU time count the neighbours after all.
SIZE, CHANNELS, BLOCKS = 96, 64, 3
VERDICTS = ("regression", "unchanged", "undecided", "improvement")


def conv_model(path: Path, blocks: int) -> Path:
    """NCHW image -> a 3x3 stem convolution -> ``blocks`` 3x3 convolutions with ReLU -> global average
    pool -> a linear layer -> softmax over 2 classes; fixed seeded weights, so A's blocks are B's."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.1, (CHANNELS, 3, 3, 3)).astype(np.float32), "stem")]
    nodes = [helper.make_node("Conv", ["image", "stem"], ["x0"], pads=[1, 1, 1, 1])]
    for i in range(blocks):
        w = rng.normal(0, 0.05, (CHANNELS, CHANNELS, 3, 3)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [
            helper.make_node("Conv", [f"x{i}", f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"x{i + 1}"]),
        ]
    weights += [
        numpy_helper.from_array(rng.normal(0, 0.1, (2, CHANNELS)).astype(np.float32), "fc"),
        numpy_helper.from_array(np.zeros(2, dtype=np.float32), "bias"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", [f"x{blocks}"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        f"conv{blocks}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def verdicts(current: Path, baseline: Path, metric: str) -> list[str]:
    """``udfbench check``'s verdict per case, with its defaults (the B side's model differs from A's
    on purpose); judged in this process, as ``check`` judges, without starting Python each time."""
    options = Options(metric=metric, allow_different_env=True)
    return [verdict.status for verdict in check_runs(current, baseline, options).verdicts]


def measure(folder: Path, args: argparse.Namespace) -> dict[str, list[Path]]:
    """Runs of A and B in turns (a drifting load hits both), beside a process that keeps a core busy."""
    models = {"A": conv_model(folder / "a.onnx", BLOCKS), "B": conv_model(folder / "b.onnx", BLOCKS + 1)}
    load = None if args.no_load else subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        runs: dict[str, list[Path]] = {"A": [], "B": []}
        for i, side in itertools.product(range(args.runs), "AB"):
            name = f"{side.lower()}{i + 1}"
            config = CONFIG.format(name=name, rows=args.rows, model=models[side], repeats=args.repeats)
            runs[side].append(run(folder, name, config))
    finally:
        if load is not None:
            load.terminate()
            load.wait()
    return runs


def complete_runs(folder: Path) -> dict[str, list[Path]]:
    """The complete runs of A and B that an earlier call kept in ``folder``, in the order made."""
    done = [
        p for p in sorted(folder.glob("[ab][0-9]*")) if p.is_dir() and meta(p).get("status") == "complete"
    ]
    return {side: [p for p in done if p.name.startswith(side.lower())] for side in "AB"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of A and of B (default 3)")
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the models and run folders here")
    parser.add_argument("--no-load", action="store_true", help="no background load (a quiet baseline)")
    parser.add_argument("--small", action="store_true", help="2 runs each of 40 rows: the script works")
    parser.add_argument(
        "--judge-only", action="store_true", help="judge the complete runs already in --keep, run none"
    )
    args = parser.parse_args()
    if args.small:
        args.runs, args.rows = 2, 40
    folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-gate-"))
    folder.mkdir(parents=True, exist_ok=True)
    runs = complete_runs(folder) if args.judge_only else measure(folder, args)
    pairs = {
        "A/A": list(itertools.combinations(runs["A"], 2)),
        "A/B": list(itertools.product(runs["A"], runs["B"])),
    }
    first = runs["A"][0]
    calibration = meta(first).get("calibration") or {}
    print(f"\n{calibration_line(first)}")
    rounds = calibration.get("rounds") or [calibration]
    print(
        "calibration rounds: other processes took "
        + ", ".join(f"{r.get('foreign_cpu_pct')}%" for r in rounds)
        + " of the CPU while they measured"
        + (
            " (busy: the limit is understated)"
            if all((r.get("foreign_cpu_pct") or 0) > 10 for r in rounds)
            else ""
        )
    )
    medians = {s: [float(summary(r)["median"].iloc[0]) for r in runs[s]] for s in runs}
    cpu = {s: [float(summary(r)["cpu_ms_per_row"].iloc[0]) for r in runs[s]] for s in runs}
    foreign = [float(summary(r)["foreign_cpu_pct"].iloc[0]) for s in runs for r in runs[s]]
    case = summary(first).iloc[0]
    print(
        f"{len(runs['A'])} runs of A and {len(runs['B'])} of B ({case['size']} rows, {case['count']} "
        "repeats, strategy python), "
        f"{'no background load' if args.no_load else 'one core kept busy by another process'}; "
        f"other processes took {min(foreign):.0f} to {max(foreign):.0f}% of the CPU (median per run)"
    )
    print(
        f"B/A: wall {np.median(medians['B']) / np.median(medians['A']):.3f}, "
        f"CPU {np.median(cpu['B']) / np.median(cpu['A']):.3f} (median over runs)"
    )
    for metric in ("median", "cpu"):
        for kind, chosen in pairs.items():
            found = Counter(v for base, current in chosen for v in verdicts(current, base, metric))
            wrong = found["regression"] if kind == "A/A" else sum(found.values()) - found["regression"]
            label = "false alarms" if kind == "A/A" else "misses"
            counts = ", ".join(f"{v} {found[v]}" for v in VERDICTS if found[v] or v != "improvement")
            print(f"--metric {metric:<6} {kind} ({len(chosen)} pairs): {label} {wrong} ({counts})")
    print(f"run folders: {folder}")


if __name__ == "__main__":
    main()
