"""Spark, Ray Data and Daft over the same images, model and checks, against the machine's limit.

Runs ``examples/engines.yaml``'s strategies (the best batched Spark strategies, the ceiling
``python_pipelined``, ``ray_map_batches`` and ``daft_udf``) through one ``udfbench run`` over
``--rows`` images (default 1000 and 3000) with the built-in model: calibration first, then per
strategy a warmup and ``--repeats`` measured runs per size. Needs ``pip install -e '.[ray,daft]'``.

Prints the calibration, then per strategy and size: images per second (median), the fraction of the
machine's limit, the cold start (the session's first warmup run: engine, workers and model loads),
the model loads and load seconds inside every measured run (Ray Data and Daft start their workers
for every query), the marginal rate between the two sizes (rows added over seconds added: what the
engine sustains once its fixed cost per run is paid) and the CPU other processes took. The last line
reads ``worst_engine_marginal/limit = R``.

    python benchmarks/engines.py [--rows 1000,3000] [--repeats 2] [--keep DIR] [--from RUN_DIR]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import pandas as pd
from common import calibration_line, run, summary

STRATEGIES = ["map_in_arrow", "predict_batch_udf", "python_pipelined", "ray_map_batches", "daft_udf"]
ENGINES = ["ray_map_batches", "daft_udf"]

CONFIG = """
    name: engines
    dataset: {{sizes: [{sizes}], seed: 42}}
    model: {{image_size: 192}}
    strategies: [{strategies}]
    batch_size: 32
    warmup: 1
    repeats: {repeats}
    budget_minutes: 600
    spark: {{master: "local[*]", driver_memory: 2g}}
"""


def marginal(rows: pd.DataFrame) -> float:
    """Images per second between the smallest and the largest size: the fixed cost per run cancels."""
    small, large = rows.iloc[0], rows.iloc[-1]
    added = large["median"] - small["median"]
    return (large["size"] - small["size"]) / added if len(rows) > 1 and added > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,3000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--keep", type=Path, help="keep the run folder here")
    parser.add_argument("--from", dest="done", type=Path, help="print this run folder's figures, run nothing")
    args = parser.parse_args()
    if args.done:
        out = args.done
    else:
        sizes = sorted(int(r) for r in args.rows.split(","))
        folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-engines-"))
        folder.mkdir(parents=True, exist_ok=True)
        settings = {"strategies": args.strategies, "repeats": args.repeats}
        out = run(folder, "engines", CONFIG.format(sizes=", ".join(map(str, sizes)), **settings))
    table = summary(out)
    repeats = int(table["count"].max())
    limit = float(table["limit_images_per_s"].iloc[0])
    print(f"\n{calibration_line(out)}")
    print(f"built-in CNN 192x192, batch size 32, median of {repeats} measured runs after a warmup:")
    print(
        f"  {'strategy':<18} {'rows':>5} {'images/s':>9} {'of limit':>8} {'cold s':>7} "
        f"{'loads/run':>9} {'load s/run':>10} {'foreign cpu %':>13} status"
    )
    rates = {}
    for name in [n for n in args.strategies.split(",") if n in set(table["strategy"])]:
        rows = table[table["strategy"] == name].sort_values("size")
        for _, row in rows.iterrows():
            cold = "-" if pd.isna(row["cold_s"]) else f"{row['cold_s']:.1f}"  # the session's first case only
            error = row["error"] if isinstance(row["error"], str) else ""
            print(
                f"  {name:<18} {row['size']:>5} {row['images_per_s']:>9.1f} {row['fraction_of_limit']:>8.2f} "
                f"{cold:>7} {_loads(out, name, row['size']):>9} {row['load_s']:>10.2f} "
                f"{row['foreign_cpu_pct']:>13.1f} {row['status']} {error}"
            )
        rates[name] = marginal(rows[rows["status"] == "ok"])
        print(f"  {name:<18} marginal {rates[name]:.1f} images/s = {rates[name] / limit:.2f} of the limit")
    engines = [rates[n] / limit for n in ENGINES if n in rates]
    # Unknown when any engine's is (a marginal rate where the larger size took no longer: noise).
    worst = min(engines) if engines and not any(math.isnan(e) for e in engines) else float("nan")
    print(f"worst_engine_marginal/limit = {worst:.3f}")


def _loads(run_dir: Path, strategy: str, size: int) -> str:
    """The model loads in each measured run of a case (Spark's warm workers: 0)."""
    results = pd.read_csv(run_dir / "results.csv")
    measured = results[(results["strategy"] == strategy) & (results["size"] == size) & ~results["warmup"]]
    return ",".join(str(int(n)) for n in measured["model_loads"])


if __name__ == "__main__":
    main()
