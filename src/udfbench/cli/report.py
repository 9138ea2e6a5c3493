"""``udfbench report``: rebuild a run's summary and report.html from its run folder alone."""

from __future__ import annotations

import argparse

from udfbench.cli.arguments import path
from udfbench.cli.console import EXIT_OK

HELP = "rebuild a run's summary and report.html from its CSV files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=path, help="a run folder (reports/<run id>)")


def execute(args: argparse.Namespace) -> int:
    from udfbench.report.build import build_report

    print(build_report(args.run_dir))
    return EXIT_OK
