"""``udfbench run``: measure every case of a config into a run folder, then write its report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from udfbench.cli.arguments import add_config_options, checked_config_of, path
from udfbench.cli.console import (
    CONSOLE_LOG,
    EXIT_FAILED_CASES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    STOP_REQUESTED,
    native_stderr_to,
)
from udfbench.errors import UserError
from udfbench.spark.watchdog import guard_children

HELP = "run a benchmark and write results and a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser)
    parser.add_argument(
        "--out", type=path, help="the run folder to write (default: a new one under reports/)"
    )
    parser.add_argument(
        "--force", action="store_true", help="run even if the estimate exceeds budget_minutes"
    )
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip measuring the machine's limit (seconds) before the run; fractions of it stay empty",
    )
    parser.add_argument(
        "--resume",
        type=path,
        metavar="RUN_DIR",
        help="finish an interrupted run folder started with the same config (its finished cases are kept)",
    )


def execute(args: argparse.Namespace) -> int:
    from udfbench.measure.instruments import ResourceSampler
    from udfbench.measure.resume import resumption
    from udfbench.measure.run import new_run_dir, run_benchmark
    from udfbench.plan.cases import input_warnings, runs_per_case, total_runs
    from udfbench.report.build import build_report
    from udfbench.report.terminal import ProgressDisplay
    from udfbench.rundir.events import Listeners
    from udfbench.rundir.files import read_results
    from udfbench.rundir.writers import MetaWriter, ResultsWriter

    config, checked = checked_config_of(args)
    guard_children()
    if args.resume and args.out:
        raise UserError("give --out or --resume, not both (a resumed run stays in its folder)", where="--out")
    for warning in (*checked.warnings, *input_warnings(config)):
        print(f"udfbench: warning: {warning}", file=sys.stderr)
    resumed = resumption(args.resume, config) if args.resume else None
    # Absolute: Spark names the files it reads by absolute URI (bytes mode joins on them), and
    # executors do not share the driver's working folder.
    run_dir = (args.resume if resumed else new_run_dir(config, args.out)).absolute()
    writer = ResultsWriter(run_dir, resumed.results, resumed.parity) if resumed else ResultsWriter(run_dir)
    total = resumed.cases_left * runs_per_case(config) if resumed else total_runs(config)
    status = EXIT_OK
    meta = None
    failure: UserError | None = None
    with native_stderr_to(run_dir / CONSOLE_LOG), ProgressDisplay(total, config.most_repeats) as progress:
        try:
            listeners = Listeners(ResourceSampler(), writer, MetaWriter(run_dir), progress)
            meta = run_benchmark(
                config,
                args.config,
                run_dir,
                listeners,
                STOP_REQUESTED,
                calibrate_first=not args.no_calibrate,
                resumed=resumed,
                table=checked.table,
            )
        except KeyboardInterrupt:
            status = EXIT_INTERRUPTED
        except UserError as err:
            # Found once the run was under way (a stage that cannot be written, a cluster that went
            # away): the cases measured before it are kept, and reported.
            failure = err
    if failure is not None and read_results(run_dir).empty:
        raise failure
    rebuild = f"the results are kept in {run_dir}: rebuild the report with 'udfbench report {run_dir}'"
    try:
        report = build_report(run_dir, print_to_terminal=True)
    except KeyboardInterrupt:
        print(f"interrupted while writing the report: {rebuild}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as err:
        raise UserError(f"{err.message}; {rebuild}", err.where) from None
    if failure is not None:
        raise UserError(f"{failure.message}; what was measured before it is in {report}", failure.where)
    if status == EXIT_INTERRUPTED or (meta is not None and meta.status == "interrupted"):
        print(f"interrupted: finished cases kept in {run_dir}; report {report}", file=sys.stderr)
        return EXIT_INTERRUPTED
    assert meta is not None
    failed = _failed_cases(run_dir)
    if failed:
        print(
            f"{meta.status} with {failed} failed case(s): results in {run_dir}\nreport: {report}",
            file=sys.stderr,
        )
        return EXIT_FAILED_CASES
    print(f"{meta.status}: results in {run_dir}\nreport: {report}")
    print(_against_estimate(meta.started_at, meta.finished_at, checked.estimate_s))
    return status


def _against_estimate(started_at: str, finished_at: str | None, estimate_s: float) -> str:
    """How long the run took beside validate's upper bound, so that a user can trust the next one."""
    from datetime import datetime

    took = (
        datetime.fromisoformat(finished_at or started_at) - datetime.fromisoformat(started_at)
    ).total_seconds()
    within = "within" if took <= estimate_s else "OVER"
    return f"took {took / 60:.1f} minutes: {within} the estimate of at most {estimate_s / 60:.1f}"


def _failed_cases(run_dir: Path) -> int:
    """Cases that ended failed or parity-failed (unsupported ones are not failures)."""
    from udfbench.rundir.files import read_results

    results = read_results(run_dir)
    return int(results["status"].isin(["failed", "parity_failed"]).sum())
