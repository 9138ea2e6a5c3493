"""Does the capacity plan predict what it then measures? Plans from small runs against the runs they predict.

One ``udfbench run`` measures the small runs: 100, 300 and 1000 rows, on 1 and 2 cores (``scaling:
{cores: [1, 2]}``, a session per count), a warmup and 3 measured runs per case. A second measures
what the plans predict: 10,000 rows on 2 cores (``local[2]``; a small first case takes the cold start,
then 2 measured runs). Then ``udfbench plan`` predicts, per strategy (built-in model 192x192, batch 32):

- 10,000 rows on 2 cores, from the small runs on both core counts: rows extrapolated 10x;
- 1000 rows and 10,000 rows on 2 cores from the small runs on 1 core alone (a copy of the run folder
  that keeps only the rows measured on 1 core): cores extrapolated 2x with linear scaling assumed.

Each line prints the prediction with its 95% interval, the measured median and the relative error;
the last lines read ``within_interval = K of N`` and ``plan_error = R`` (the largest relative error).
``--small`` runs the same at 20, 60 and 200 rows against 2000, with a 48x48 model: it proves the
script works in minutes, and measures nothing worth quoting.

    python benchmarks/plan_check.py [--strategies pandas_udf,map_in_arrow] [--small] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import calibration_line, run, summary

from udfbench.plan.config import scaled_name
from udfbench.rundir.files import read_result_rows
from udfbench.rundir.schema import RESULTS_FILE, ResultRow
from udfbench.rundir.writers import CsvAppender

SMALL = """
    name: plan-small
    dataset: {{sizes: [{sizes}], seed: 42}}
    model: {{image_size: {image_size}}}
    strategies: [{strategies}]
    batch_size: 32
    warmup: 1
    repeats: 3
    scaling: {{cores: [1, 2]}}
    budget_minutes: 600
    spark: {{driver_memory: 4g}}
"""
# The first, small case of each session takes its cold start, so that the large case is warm.
LARGE = """
    name: plan-large
    dataset: {{sizes: [{cold}, {rows}], seed: 42}}
    model: {{image_size: {image_size}}}
    strategies: [{strategies}]
    batch_size: 32
    warmup: 0
    repeats: 2
    budget_minutes: 600
    spark: {{master: "local[2]", driver_memory: 4g}}
"""


def predict(run_dir: Path, images: int, out: Path) -> dict[str, dict]:
    """``udfbench plan`` for ``images`` on one executor of 2 cores: each strategy's plan by name."""
    command = [sys.executable, "-m", "udfbench", "plan", str(run_dir), "--images", str(images),
               "--executors", "1", "--cores-per-executor", "2", "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return {s["name"]: s for s in json.loads((out / "plan.json").read_text())["strategies"]}


def one_core_copy(run_dir: Path, to: Path) -> Path:
    """The run folder with only the rows measured on 1 core, written by udfbench's own writer."""
    shutil.copytree(run_dir, to)
    rows = [row for row in read_result_rows(run_dir) if row.cores == 1]
    CsvAppender(to / RESULTS_FILE, ResultRow, rows).close()
    return to


def measured(run_dir: Path, cluster: str, strategy: str, rows: int) -> float:
    table = summary(run_dir)
    case = table[(table["cluster"] == cluster) & (table["strategy"] == strategy) & (table["size"] == rows)]
    return float(case["median"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="pandas_udf,map_in_arrow")
    parser.add_argument("--small", action="store_true", help="tiny sizes and model: proves the script works")
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    sizes, rows, cold, image_size = (
        ([20, 60, 200], 2000, 20, 48) if args.small else ([100, 300, 1000], 10_000, 200, 192)
    )
    folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-plan-check-"))
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(strategies)
    small = run(folder, "small", SMALL.format(sizes=", ".join(map(str, sizes)), image_size=image_size,
                                              strategies=names))  # fmt: skip
    large = run(folder, "large", LARGE.format(cold=cold, rows=rows, image_size=image_size, strategies=names))
    one_core = one_core_copy(small, folder / "small-1core")
    largest = max(sizes)
    checks = [
        (f"{rows:,} rows on 2 cores from runs of {sizes[0]}-{largest} rows on 1 and 2 cores",
         predict(small, rows, folder / "plan-both"), lambda s: measured(large, "local", s, rows)),
        (f"{largest:,} rows on 2 cores from the runs on 1 core",
         predict(one_core, largest, folder / "plan-1core-small"),
         lambda s: measured(small, scaled_name("local", 2), s, largest)),
        (f"{rows:,} rows on 2 cores from the runs on 1 core",
         predict(one_core, rows, folder / "plan-1core-large"), lambda s: measured(large, "local", s, rows)),
    ]  # fmt: skip
    print(f"\n{calibration_line(small)}")
    worst, inside, total = 0.0, 0, 0
    for what, plans, measure in checks:
        for strategy in strategies:
            wall = plans[strategy]["wall_s"]
            seconds = measure(strategy)
            error = (wall["value"] - seconds) / seconds
            worst = max(worst, abs(error))
            within = wall["low"] <= seconds <= wall["high"]
            inside, total = inside + within, total + 1
            predicted = f"{wall['value']:.2f} s [{wall['low']:.2f}, {wall['high']:.2f}]"
            print(f"{strategy}, {what}: predicted {predicted}, measured {seconds:.2f} s (median), "
                  f"error {error:+.1%}")  # fmt: skip
    print(f"within_interval = {inside} of {total}")
    print(f"plan_error = {worst:.3f}")


if __name__ == "__main__":
    main()
