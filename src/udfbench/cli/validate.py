"""``udfbench validate``: every check ``run`` makes before it starts Spark, and the estimate."""

from __future__ import annotations

import argparse
import math
import sys

from udfbench.cli.arguments import add_config_options, checked_config_of
from udfbench.cli.console import EXIT_OK

HELP = "check a config without running it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser)


def execute(args: argparse.Namespace) -> int:
    from udfbench.plan.cases import cases, total_runs

    config, checked = checked_config_of(args)
    for warning in checked.warnings:
        print(f"udfbench: warning: {warning}", file=sys.stderr)
    basis = f"from the calibration of run {checked.estimate_from}" if checked.estimate_from else "on 2 cores"
    print(
        f"{args.config}: ok ({len(cases(config))} cases, {'up to ' if config.auto_repeats else ''}"
        f"{total_runs(config)} timed runs, "
        f"at most about {math.ceil(checked.estimate_s / 60)} minutes {basis})"
    )
    return EXIT_OK
