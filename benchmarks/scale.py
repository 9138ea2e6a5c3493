"""Does the cost grow in a straight line, and memory stay flat, from thousands to 100,000 rows?

Runs ``python`` and a batched Spark strategy (``--strategy``, default ``map_in_arrow``) over the given
sizes through one ``udfbench run`` (built-in model, ``--input bytes`` by default: Spark reads the
files in every run), one measured run per size after a small first case that takes the cold start.
Prints seconds per size, the straight-line fit's r² per strategy, and the peak resident memory of the
driver, the largest Python worker and the largest executor JVM at the largest size over the smallest.
The last two lines read ``linear_r2 = R`` (the worse strategy) and ``peak_rss_ratio = M`` (the largest
ratio of any process kind).

    python benchmarks/scale.py [--rows 10000,30000,100000] [--strategy map_in_arrow] [--input bytes]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import calibration_line, run, summary
from scipy import stats

# A first, small case per strategy takes the session's cold start (workers, model load), so that the
# sizes measured are all warm.
COLD_ROWS = 200
MEMORY = ("driver_peak_rss_mb", "worker_peak_rss_mb", "executor_peak_rss_mb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,30000,100000")
    parser.add_argument("--strategy", default="map_in_arrow")
    parser.add_argument("--input", choices=["path", "bytes"], default="bytes")
    parser.add_argument("--keep", type=Path, help="keep the run folder here")
    args = parser.parse_args()
    sizes = sorted(int(r) for r in args.rows.split(","))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = f"""
        name: scale
        dataset: {{sizes: [{", ".join(map(str, [COLD_ROWS, *sizes]))}], seed: 42, input_mode: {args.input}}}
        strategies: [python, {args.strategy}]
        batch_size: 32
        warmup: 0
        repeats: 1
        budget_minutes: 1000
        spark: {{master: "local[*]", driver_memory: 4g}}
    """
    out = run(folder, "scale", config)
    table = summary(out)
    table = table[table["size"].isin(sizes)]
    print(f"\n{calibration_line(out)}")
    worst_r2, worst_ratio = 1.0, 0.0
    for strategy, rows in table.groupby("strategy"):
        rows = rows.sort_values("size")
        fit = stats.linregress(rows["size"], rows["median"])
        worst_r2 = min(worst_r2, fit.rvalue**2)
        times = ", ".join(f"{int(r['size'])} rows {r['median']:.1f} s" for _, r in rows.iterrows())
        print(f"{strategy}: {times}; {fit.slope * 1000:.2f} ms per row, r² {fit.rvalue**2:.4f}")
        first, last = rows.iloc[0], rows.iloc[-1]
        for column in MEMORY:
            if first[column] == first[column] and first[column] > 0:  # not NaN: this kind of process ran
                ratio = last[column] / first[column]
                worst_ratio = max(worst_ratio, ratio)
                print(f"  {column}: {first[column]:.0f} MB at {int(first['size'])} rows, "
                      f"{last[column]:.0f} MB at {int(last['size'])} rows ({ratio:.3f})")  # fmt: skip
    print(f"linear_r2 = {worst_r2:.4f}")
    print(f"peak_rss_ratio = {worst_ratio:.3f}")


if __name__ == "__main__":
    main()
