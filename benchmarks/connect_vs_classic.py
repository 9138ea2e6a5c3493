"""Spark Connect against a classic session, on the same cores, images and model, in one run.

Runs the built-in model (192x192) over ``--rows`` and a quarter of them with the batched strategies,
once on ``local[2]`` (a classic session) and once through a local Spark Connect server on the same
two cores that udfbench starts (calibration first, then a warmup and ``--repeats`` measured runs per
case). Prints the calibration, then per strategy Connect's time over classic at ``--rows`` with its
95% interval, Connect's per-row cost over classic's (from each cluster's straight-line cost model over
the two sizes), and what a session costs on each side (session start, model shipping). The last line
reads ``connect_per_row/classic_per_row = R`` (the worst strategy's).

    python benchmarks/connect_vs_classic.py [--rows 1000] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import calibration_line, meta, run

from udfbench.analysis.compare import compare_runs

STRATEGIES = ("pandas_udf", "pandas_udf_iter", "map_in_arrow", "predict_batch_udf")
CONFIG = """
    name: connect-vs-classic
    dataset: {{sizes: [{quarter}, {rows}], seed: 42}}
    strategies: [{strategies}]
    batch_size: 32
    warmup: 1
    repeats: {repeats}
    budget_minutes: 600
    clusters:
      - {{name: classic, kind: local, cores: 2}}
      - {{name: connect, kind: connect, cores: 2}}
    spark: {{driver_memory: 2g}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the run folder here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="udfbench-connect-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = CONFIG.format(
        rows=args.rows, quarter=max(args.rows // 4, 1), repeats=args.repeats, strategies=", ".join(STRATEGIES)
    )
    run_dir = run(folder, "connect-vs-classic", config)
    comparison = compare_runs([run_dir])
    setup = meta(run_dir)["setup_seconds"]
    print(f"\n{calibration_line(run_dir)}")
    print(f"{args.rows} images, built-in CNN 192x192, batch size 32, 2 cores, median of {args.repeats}:")
    table = comparison.table.set_index(["strategy", "size", "column"])
    costs = comparison.costs.set_index(["strategy", "column"])
    worst = 0.0
    for name in STRATEGIES:
        classic, connect = table.loc[(name, args.rows, "classic")], table.loc[(name, args.rows, "connect")]
        per_row = costs.loc[(name, "connect"), "per_row_ratio_to_first"]
        worst = max(worst, per_row)
        sessions = {side: setup.get(f"{side}/{name}", {}) for side in ("classic", "connect")}
        nan = float("nan")
        session_text = ", ".join(
            f"{side} session {s.get('session_s', nan):.1f} s + model {s.get('broadcast_s', nan):.2f} s"
            for side, s in sessions.items()
        )
        print(
            f"  {name:<18} classic {classic['images_per_s']:6.1f} images/s, connect "
            f"{connect['images_per_s']:6.1f}; connect/classic time {connect['ratio_to_first']:.3f} "
            f"[{connect['ratio_low']:.3f}, {connect['ratio_high']:.3f}], per row {per_row:.3f}; "
            + session_text
        )
    server = setup.get("connect", {}).get("cluster_start_s", float("nan"))
    print(f"connect server start (once per run): {server:.1f} s")
    print(f"connect_per_row/classic_per_row = {worst:.3f}")


if __name__ == "__main__":
    main()
