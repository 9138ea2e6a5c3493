"""``udfbench dataset``: write the config's synthetic set as a Parquet table of image bytes."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from udfbench.cli.arguments import add_config_options, config_of, utf8
from udfbench.cli.console import CONSOLE_LOG, EXIT_OK, native_stderr_to
from udfbench.errors import UserError
from udfbench.spark.watchdog import guard_children

HELP = "write the config's synthetic dataset as a Parquet table of image bytes, without a benchmark"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser)
    parser.add_argument(
        "--out", required=True, type=utf8, help="the table to write: a folder or a URI (hdfs://, s3a://)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write over a folder that holds files udfbench did not write (they are deleted)",
    )


def execute(args: argparse.Namespace) -> int:
    from udfbench.inputs.stage import stage_dataset
    from udfbench.spark.java import check_java

    config = config_of(args)
    if config.dataset.table:
        raise UserError(
            "the config reads an existing table; there is no synthetic set to write",
            where=f"{args.config}: dataset.table",
        )
    check_java()
    guard_children()
    with (
        tempfile.TemporaryDirectory(prefix="udfbench-seeds-") as seeds,
        native_stderr_to(Path(seeds) / CONSOLE_LOG),  # Spark's console chatter stays off the terminal
    ):
        rows = stage_dataset(
            config, Path(seeds), args.out, where="--out", overwrite=args.force, overwrite_by="pass --force"
        )
    print(f"wrote {rows} rows (columns id, image, label) to {args.out}")
    return EXIT_OK
