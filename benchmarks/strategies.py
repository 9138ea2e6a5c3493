"""Every strategy over the same images on this machine, against the single-process ceiling.

Runs the built-in model (192x192) over ``--rows`` images with every strategy (batch size 64), and the
founding study's ``python`` loop at batch size 2, through ``udfbench run`` as a user would. Prints
each strategy's images per second and the ratios taken in this one run; the last line reads
``best_spark/python_pipelined = R``.

    python benchmarks/strategies.py [--rows 3000] [--repeats 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd

from udfbench.strategies import STRATEGY_NAMES, get_strategy

CONFIG = """
    name: {name}
    dataset: {{sizes: [{rows}], seed: 42}}
    strategies: [{strategies}]
    batch_size: {batch_size}
    warmup: 1
    repeats: {repeats}
    budget_minutes: 600
    spark: {{master: "local[*]", driver_memory: 4g}}
"""


def run(
    folder: Path, name: str, strategies: list[str], rows: int, batch_size: int, repeats: int
) -> pd.DataFrame:
    config = folder / f"{name}.yaml"
    config.write_text(
        textwrap.dedent(
            CONFIG.format(
                name=name, rows=rows, strategies=", ".join(strategies), batch_size=batch_size, repeats=repeats
            )
        )
    )
    out = folder / name
    subprocess.run([sys.executable, "-m", "udfbench", "run", str(config), "--out", str(out)], check=True)
    return pd.read_csv(out / "summary.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-strategies-"))
    folder.mkdir(parents=True, exist_ok=True)
    every = run(folder, "every-strategy", list(STRATEGY_NAMES), args.rows, 64, args.repeats)
    founding = run(folder, "founding-loop", ["python"], args.rows, 2, args.repeats)
    rates = dict(zip(every["strategy"], every["images_per_s"], strict=True))
    founding_rate = float(founding["images_per_s"].iloc[0])
    ceiling = rates["python_pipelined"]
    print(f"\n{args.rows} images, built-in CNN 192x192, batch size 64, median of {args.repeats} runs:")
    for name in sorted(rates, key=lambda n: -rates[n]):
        print(f"  {name:<20} {rates[name]:8.1f} images/s  {rates[name] / ceiling:5.2f} of python_pipelined")
    print(f"  {'python (batch 2)':<20} {founding_rate:8.1f} images/s  (the founding study's loop)")
    spark_rates = {n: r for n, r in rates.items() if get_strategy(n).uses_spark}
    best = max(spark_rates, key=spark_rates.get)
    print(f"best Spark strategy: {best}; {spark_rates[best] / founding_rate:.2f}x the founding python loop")
    print(f"best_spark/python_pipelined = {spark_rates[best] / ceiling:.3f}")


if __name__ == "__main__":
    main()
