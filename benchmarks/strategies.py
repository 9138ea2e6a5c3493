"""Every strategy of Spark and the driver over the same images on this machine, against its measured limit.

Runs the built-in model (192x192) over ``--rows`` images with every strategy through ``udfbench run``
(calibration first, then a warmup and ``--repeats`` measured runs per strategy), then the best batched
Spark strategy again with each Python worker's math threads set to all the machine's cores, to show
what oversubscription costs. Prints the calibration, each strategy's images per second and fraction
of the limit, and ratios taken in this one run; the last line reads ``best_spark/limit = R``.

    python benchmarks/strategies.py [--rows 1000] [--repeats 2] [--batch-size 32] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import calibration_line, run, summary

from udfbench.measure.strategies import STRATEGY_NAMES, get_strategy
from udfbench.measure.strategies.base import EngineStrategy

# Spark's strategies and the driver's; the other engines (their extras needed) are benchmarks/engines.py's.
SPARK_AND_DRIVER = [n for n in STRATEGY_NAMES if not isinstance(get_strategy(n), EngineStrategy)]

CONFIG = """
    name: {name}
    dataset: {{sizes: [{rows}], seed: 42}}
    strategies: [{strategies}]
    batch_size: {batch_size}
    warmup: 1
    repeats: {repeats}
    budget_minutes: 600
    spark: {{master: "local[*]", driver_memory: 4g{threads}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-strategies-"))
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"rows": args.rows, "batch_size": args.batch_size, "repeats": args.repeats}
    names = ", ".join(SPARK_AND_DRIVER)
    every = run(folder, "every", CONFIG.format(name="every", strategies=names, threads="", **settings))
    table = summary(every).set_index("strategy")
    print(f"\n{calibration_line(every)}")
    print(
        f"{args.rows} images, built-in CNN 192x192, batch size {args.batch_size}, median of {args.repeats}:"
    )
    for name in table.sort_values("images_per_s", ascending=False).index:
        row = table.loc[name]
        threads = f"{int(row['python_workers'] or 0)} workers x {int(row['worker_threads'] or 0)} threads"
        rate, fraction = row["images_per_s"], row["fraction_of_limit"]
        print(f"  {name:<20} {rate:8.1f} images/s  {fraction:5.2f} of the limit  ({threads})")
    spark = table[[get_strategy(n).uses_spark for n in table.index]]
    best = spark["images_per_s"].idxmax()
    cores = os.cpu_count() or 1
    crowded = run(folder, "oversubscribed", CONFIG.format(name="oversubscribed", strategies=best,
                  threads=f", threads: {cores}", **settings))  # fmt: skip
    over = summary(crowded).set_index("strategy").loc[best]
    ratio = over["images_per_s"] / spark.loc[best, "images_per_s"]
    print(f"{best} with {cores} math threads per worker: {over['images_per_s']:.1f} images/s")
    print(f"oversubscribed/default = {ratio:.3f}")
    ceiling = table.loc["python_pipelined", "images_per_s"]
    print(f"python_pipelined/best_spark = {ceiling / spark.loc[best, 'images_per_s']:.3f}")
    print(f"python_pipelined/limit = {table.loc['python_pipelined', 'fraction_of_limit']:.3f}")
    print(f"best_spark/limit = {spark.loc[best, 'fraction_of_limit']:.3f}")


if __name__ == "__main__":
    main()
