"""``udfbench compare``: runs, or the clusters of one run, side by side."""

from __future__ import annotations

import argparse

from udfbench.cli.arguments import out_folder, path
from udfbench.cli.console import EXIT_OK

HELP = "compare runs, or the clusters of one run: medians, ratios, cost per core, what differs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=path, nargs="+", help="run folders; the first is the reference")
    parser.add_argument(
        "--out",
        type=path,
        help="where to write compare.html and compare.csv (default: compare-<time> next to the first run)",
    )


def execute(args: argparse.Namespace) -> int:
    from udfbench.analysis.compare import compare_runs, default_out_dir
    from udfbench.report.compare import print_comparison, write_comparison

    out = out_folder(args.out) if args.out else None
    comparison = compare_runs(args.run_dirs)
    print_comparison(comparison)
    print(write_comparison(comparison, out or default_out_dir(args.run_dirs[0])))
    return EXIT_OK
