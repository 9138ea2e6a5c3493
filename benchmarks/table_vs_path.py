"""What reading images from a Parquet table costs against reading them by path.

Writes the synthetic set as a table (``udfbench dataset``), then runs the batched strategies four
times through ``udfbench run`` on the same rows: ``path`` input (the UDF opens each file), ``bytes``
input (Spark's binaryFile source reads the files and sends their bytes to Python), the ``table``
read by Spark (``read_with: spark``: Spark's Parquet source reads the bytes and sends them to Python
through Arrow; pyarrow on the driver for the driver-side ceiling) and the table read by the workers
(``read_with: pyarrow``: Spark hands each Python worker its rows' places, the worker reads their row
groups). Every run sends one Arrow batch per model batch (``spark.arrow_batch_size`` = batch size).
Prints per strategy the median seconds of each and the ratios to path input, then the extra
milliseconds per image each table read costs over path input; the last lines are
``worst_spark_table_over_path = R`` and ``worst_pyarrow_table_over_path = R``.

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
from common import calibration_line, run, summary

BATCHED = (
    "python_pipelined", "pandas_udf", "pandas_udf_iter", "arrow_udf", "predict_batch_udf",
    "map_in_pandas", "map_in_arrow", "rdd_map_partitions",
)  # fmt: skip


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
        spark: {{arrow_batch_size: {args.batch_size}}}
        """
    table = work / "images.parquet"
    read_table = f"dataset: {{sizes: [{args.rows}], table: {table}, image_column: image, id_column: id"
    inputs = {
        "path": f"dataset: {{sizes: [{args.rows}], input_mode: path}}",
        "bytes": f"dataset: {{sizes: [{args.rows}], input_mode: bytes}}",
        "spark": read_table + ", read_with: spark}",
        "pyarrow": read_table + ", read_with: pyarrow}",
    }
    (work / "stage.yaml").write_text(inputs["path"] + textwrap.dedent(common))
    subprocess.run(
        [sys.executable, "-m", "udfbench", "dataset", str(work / "stage.yaml"), "--out", str(table)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    runs = {name: run(work, name, dataset + textwrap.dedent(common)) for name, dataset in inputs.items()}
    medians = {name: summary(run_dir).set_index("strategy")["median"] for name, run_dir in runs.items()}
    seconds = pd.DataFrame(medians).dropna()
    seconds = seconds.reindex([s for s in strategies if s in seconds.index])
    print(calibration_line(runs["spark"]))
    print("seconds (median) per input; spark and pyarrow read the table; ratios are to path input")
    heads = ("path s", "bytes s", "spark s", "pyarrow s", "bytes/path", "spark/path", "pyarrow/path")
    print(f"{'strategy':<20} " + " ".join(f"{h:>12}" for h in heads))
    ratios = seconds.div(seconds["path"], axis=0)
    for name, row in seconds.iterrows():
        cells = [f"{row[i]:>12.3f}" for i in inputs]
        cells += [f"{ratios.loc[name, i]:>12.3f}" for i in list(inputs)[1:]]
        print(f"{name:<20} " + " ".join(cells))
    for reader in ("spark", "pyarrow"):
        extra_ms = (seconds[reader] - seconds["path"]).median() / args.rows * 1000
        print(f"{reader}_table_minus_path_ms_per_image = {extra_ms:.3f}")
    for reader in ("spark", "pyarrow"):
        print(f"worst_{reader}_table_over_path = {ratios[reader].max():.3f}")


if __name__ == "__main__":
    main()
