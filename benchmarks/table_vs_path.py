"""What reading images from a Parquet table costs against reading files by path.

Writes the synthetic set as a table (``udfbench dataset``), then runs the batched strategies twice
through ``udfbench run``: with path input (the UDF opens each file) and with the table (Spark, or
pyarrow for the driver-side ceiling, reads the bytes in every timed run). The same rows either way:
the table holds the draw that path input makes at that size. Prints per strategy the ratio of median
seconds table/path; the last line is ``worst_table_over_path = R``.

    python benchmarks/table_vs_path.py [--rows 3000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd

BATCHED = (
    "python_pipelined", "pandas_udf", "pandas_udf_iter", "arrow_udf", "predict_batch_udf",
    "map_in_pandas", "map_in_arrow", "rdd_map_partitions",
)  # fmt: skip


def udfbench(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "udfbench", *args], check=True, stdout=subprocess.DEVNULL)


def medians(run_dir: Path) -> pd.Series:
    results = pd.read_csv(run_dir / "results.csv")
    measured = results[(results["status"] == "ok") & ~results["warmup"]]
    return measured.groupby("strategy")["seconds"].median()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--strategies", default=",".join(BATCHED))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="udfbench-table-vs-path-"))
    strategies = [s for s in args.strategies.split(",") if s]
    common = f"""
        strategies: [{", ".join(strategies)}]
        batch_size: {args.batch_size}
        warmup: 1
        repeats: {args.repeats}
        budget_minutes: 600
    """
    path_config = work / "path.yaml"
    path_config.write_text(textwrap.dedent(f"dataset: {{sizes: [{args.rows}]}}\n{textwrap.dedent(common)}"))
    table = work / "table"
    udfbench("dataset", str(path_config), "--out", str(table))
    table_config = work / "table.yaml"
    table_config.write_text(
        textwrap.dedent(
            f"dataset: {{sizes: [{args.rows}], table: {table}, image_column: image, id_column: id}}\n"
        )
        + textwrap.dedent(common)
    )
    udfbench("run", str(path_config), "--out", str(work / "path-run"))
    udfbench("run", str(table_config), "--out", str(work / "table-run"))
    by_path, by_table = medians(work / "path-run"), medians(work / "table-run")
    ratios = (by_table / by_path).dropna()
    print(f"{'strategy':<20} {'path s':>8} {'table s':>8} {'table/path':>10}")
    for name in strategies:
        if name in ratios:
            print(f"{name:<20} {by_path[name]:>8.3f} {by_table[name]:>8.3f} {ratios[name]:>10.3f}")
    print(f"worst_table_over_path = {ratios.max():.3f}")


if __name__ == "__main__":
    main()
