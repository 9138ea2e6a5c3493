"""What reading images from a Parquet table costs against reading them by path.

Writes the synthetic set as a table (``udfbench dataset``) and each of its rows as a file of its own,
then runs the batched strategies through ``udfbench run`` on the same rows, once per input:

- ``files``: a table of paths, one file per row, as production keeps images by path (the UDF opens
  each file; Spark reads only the paths). The baseline every ratio is taken against.
- ``seeds``: the synthetic set's own path input, whose rows name the few seed files again and again
  (the same few files stay in the CPU's caches: cheaper than any real dataset's paths).
- ``bytes`` (not run unless asked for): Spark's binaryFile source reads the seed files and sends
  their bytes to Python.
- ``spark``: the table read by Spark (``read_with: spark``), the bytes sent to Python through Arrow.
- ``pyarrow``: the table read by the workers (``read_with: pyarrow``): Spark hands each Python worker
  its rows' places, the worker reads their row groups.

Every run sends one Arrow batch per model batch (``spark.arrow_batch_size`` = batch size) and each
case runs at two sizes, a third of ``--rows`` and ``--rows``. The inputs take turns: each of the
``--repeats`` rounds runs every input once (one warm-up, one measured run per case), each round
starting with the next input, so a machine that slows down over the hour slows every input alike
instead of whichever ran last. Prints per strategy and input the
median seconds at ``--rows`` and two ratios to ``files``, each with a 95% bootstrap interval over the
repeats: the seconds at ``--rows``, and the per-row cost (the slope of seconds over the two sizes,
which leaves out what a run costs whatever its rows: a session's jobs, reading a table of paths).
Then per table reader the extra milliseconds per image over ``files``; the last lines are, for each
table reader, ``worst_<reader>_over_files = R`` (seconds at ``--rows``),
``worst_<reader>_per_row_over_files = R`` and ``slower_<reader>_than_files = N`` (the strategies
whose whole per-row interval lies above 1). With a few repeats a bootstrap interval is narrower than
the truth: read ``slower_*`` as a hint, the ratios beside the calibration as the figures.

    python benchmarks/table_vs_path.py [--rows 3000] [--repeats 3] [--inputs files,seeds,spark,pyarrow]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from common import calibration_line, run

from udfbench.analysis.stats import ratio_ci, slope_intercept_ci
from udfbench.rundir.files import read_results
from udfbench.rundir.identity import measured_runs

BATCHED = (
    "python_pipelined", "pandas_udf", "pandas_udf_iter", "arrow_udf", "predict_batch_udf",
    "map_in_pandas", "map_in_arrow", "rdd_map_partitions",
)  # fmt: skip
INPUTS = ("files", "seeds", "bytes", "spark", "pyarrow")
TABLE_READERS = ("spark", "pyarrow")


def write_one_file_per_row(table: Path, folder: Path) -> Path:
    """Each row's image as a file of its own, and a table of their paths (id, path)."""
    folder.mkdir()
    ids, paths = [], []
    for batch in ds.dataset(table).to_batches(columns=["id", "image"], batch_size=100):
        for image_id, data in zip(batch["id"].to_pylist(), batch["image"].to_pylist(), strict=True):
            path = folder / f"{image_id}.jpeg"
            path.write_bytes(data)
            ids.append(image_id)
            paths.append(str(path))
    pq.write_table(pa.table({"id": ids, "path": paths}), folder.with_suffix(".parquet"))
    return folder.with_suffix(".parquet")


def measured(run_dir: Path) -> pd.DataFrame:
    """Every measured run: strategy, size, seconds."""
    return measured_runs(read_results(run_dir))[["strategy", "size", "seconds"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--strategies", default=",".join(BATCHED))
    parser.add_argument("--inputs", default="files,seeds,spark,pyarrow", help=f"any of {','.join(INPUTS)}")
    args = parser.parse_args()
    inputs = list(dict.fromkeys(["files", *(i for i in args.inputs.split(",") if i)]))
    if args.rows < 3:
        parser.error("--rows must be at least 3 (the smaller size is a third of it)")
    if unknown := set(inputs) - set(INPUTS):
        parser.error(f"unknown inputs {sorted(unknown)}; known: {', '.join(INPUTS)}")
    work = Path(tempfile.mkdtemp(prefix="udfbench-table-vs-path-"))
    strategies = [s for s in args.strategies.split(",") if s]
    sizes = f"[{args.rows // 3}, {args.rows}]"
    common = f"""
        strategies: [{", ".join(strategies)}]
        batch_size: {args.batch_size}
        warmup: 1
        repeats: 1
        budget_minutes: 600
        spark: {{arrow_batch_size: {args.batch_size}}}
        """
    table = work / "images.parquet"
    seeds = f"dataset: {{sizes: {sizes}, input_mode: "
    (work / "stage.yaml").write_text(seeds + "path}" + textwrap.dedent(common))
    subprocess.run(
        [sys.executable, "-m", "udfbench", "dataset", str(work / "stage.yaml"), "--out", str(table)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    paths = write_one_file_per_row(table, work / "one_file_per_row")
    read_table = f"dataset: {{sizes: {sizes}, table: {table}, image_column: image, id_column: id"
    configs = {
        "files": f"dataset: {{sizes: {sizes}, table: {paths}, image_column: path, id_column: id}}",
        "seeds": seeds + "path}",
        "bytes": seeds + "bytes}",
        "spark": read_table + ", read_with: spark}",
        "pyarrow": read_table + ", read_with: pyarrow}",
    }
    runs: dict[str, list[Path]] = {name: [] for name in inputs}
    for round_number in range(args.repeats):
        for name in inputs[round_number % len(inputs) :] + inputs[: round_number % len(inputs)]:
            config = configs[name] + textwrap.dedent(common)
            runs[name].append(run(work, f"{name}-{round_number + 1}", config))
    times = {name: pd.concat([measured(run_dir) for run_dir in dirs]) for name, dirs in runs.items()}
    print(calibration_line(runs[inputs[-1]][-1]))
    print(f"seconds at {args.rows} rows (median of {args.repeats}) per input; ratios to files of those")
    print("seconds and of the per-row cost, [95% bootstrap interval]")
    at_rows = pd.DataFrame(
        {
            name: t[t["size"] == args.rows].groupby("strategy")["seconds"].apply(list)
            for name, t in times.items()
        }
    ).dropna()
    strategies = [s for s in strategies if s in at_rows.index]
    found: dict[str, pd.DataFrame] = {}
    for name in inputs[1:]:
        rows = []
        for strategy in strategies:
            base, this = (times[n][times[n]["strategy"] == strategy] for n in ("files", name))
            seconds = ratio_ci(at_rows.loc[strategy, "files"], at_rows.loc[strategy, name])
            per_row = slope_intercept_ci((base["size"], base["seconds"]), (this["size"], this["seconds"]))
            rows.append({"strategy": strategy, "seconds": seconds, "per_row": per_row["per_row"]})
        found[name] = pd.DataFrame(rows).set_index("strategy")
    medians = at_rows.map(lambda values: pd.Series(values).median())
    for strategy in strategies:
        print(f"{strategy}: " + ", ".join(f"{n} {medians.loc[strategy, n]:.3f} s" for n in inputs))
        for name in inputs[1:]:
            seconds, per_row = found[name].loc[strategy, ["seconds", "per_row"]]
            print(
                f"  {name + '/files':<14} seconds {seconds.ratio:.3f} [{seconds.low:.3f}, {seconds.high:.3f}]"
                f"  per row {per_row.ratio:.3f} [{per_row.low:.3f}, {per_row.high:.3f}]"
            )
    readers = [r for r in TABLE_READERS if r in inputs]
    for reader in readers:
        extra_ms = (medians[reader] - medians["files"]).median() / args.rows * 1000
        print(f"{reader}_table_minus_files_ms_per_image = {extra_ms:.3f}")
    for reader in readers:
        seconds, per_row = found[reader]["seconds"], found[reader]["per_row"]
        print(f"worst_{reader}_over_files = {np.nanmax([e.ratio for e in seconds]):.3f}")
        print(f"worst_{reader}_per_row_over_files = {np.nanmax([e.ratio for e in per_row]):.3f}")
        print(f"slower_{reader}_than_files = {sum(e.low > 1 for e in per_row)}")


if __name__ == "__main__":
    main()
