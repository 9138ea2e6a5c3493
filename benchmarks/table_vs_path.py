"""What reading images from a Parquet table costs against reading them by path.

Writes the synthetic set as a table (``udfbench dataset``), then runs the batched strategies three
times through ``udfbench run`` on the same rows: ``path`` input (the UDF opens each file), ``bytes``
input (Spark's binaryFile source reads the files and sends their bytes to Python) and the ``table``
(Spark, or pyarrow for the driver-side ceiling, reads the bytes in every timed run). Prints per
strategy the median seconds of each and the ratios table/path and table/bytes, then the extra
milliseconds per image the table costs over path input; the last line is
``worst_table_over_path = R``.

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
        """
    table = work / "images.parquet"
    inputs = {
        "path": f"dataset: {{sizes: [{args.rows}], input_mode: path}}",
        "bytes": f"dataset: {{sizes: [{args.rows}], input_mode: bytes}}",
        "table": f"dataset: {{sizes: [{args.rows}], table: {table}, image_column: image, id_column: id}}",
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
    print(calibration_line(runs["table"]))
    heads = ("path s", "bytes s", "table s", "table/path", "table/bytes")
    print(f"{'strategy':<20} " + " ".join(f"{h:>11}" for h in heads))
    for name, row in seconds.iterrows():
        print(
            f"{name:<20} {row['path']:>11.3f} {row['bytes']:>11.3f} {row['table']:>11.3f} "
            f"{row['table'] / row['path']:>11.3f} {row['table'] / row['bytes']:>11.3f}"
        )
    extra_ms = (seconds["table"] - seconds["path"]).median() / args.rows * 1000
    print(f"table_minus_path_ms_per_image = {extra_ms:.3f}")
    print(f"worst_table_over_path = {(seconds['table'] / seconds['path']).max():.3f}")


if __name__ == "__main__":
    main()
