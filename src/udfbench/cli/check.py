"""``udfbench check``: the regression gate, with ``--confirm``'s reruns of what regressed."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from udfbench.cli.arguments import out_folder, parse_rules, parse_threshold, path
from udfbench.cli.console import CONSOLE_LOG, STOP_REQUESTED, native_stderr_to
from udfbench.errors import UserError

if TYPE_CHECKING:
    from udfbench.analysis.check import CheckResult, Options

HELP = "regression gate: exit 1 when a case got significantly slower than the baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("current", type=path, help="the run folder to judge")
    parser.add_argument("--baseline", type=path, required=True, help="the run folder to compare with")
    parser.add_argument("--threshold", default="10%", help="smallest slowdown that counts (default 10%%)")
    parser.add_argument(
        "--metric",
        choices=["median", "mean", "min", "cpu"],
        default="median",
        help="the statistic of wall seconds judged, or cpu: the median CPU seconds of the run's own "
        "processes, which a busy machine does not make undecided (default median)",
    )
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="PATTERN=THRESHOLD",
        help="a threshold for cases whose name matches a glob, e.g. 'local/udf/*=25%%' (first match wins)",
    )
    parser.add_argument("--relative-to", metavar="STRATEGY", help="judge times as ratios to this strategy's")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument(
        "--allow-different-env",
        action="store_true",
        help="compare even if versions or the cluster configuration differ",
    )
    parser.add_argument(
        "--confirm",
        type=int,
        default=0,
        metavar="N",
        help="rerun each regressed case N times from the current run's config; fail only if the reruns "
        "reproduce it (needs Spark for Spark strategies; the reruns are added to the current run)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on an undecided verdict too (too few repeats, too noisy to tell, a busy machine)",
    )
    parser.add_argument(
        "--out", type=path, help="where to write check.md/json/xml (default: the current run)"
    )


def execute(args: argparse.Namespace) -> int:
    from udfbench.analysis.check import Options, check_runs
    from udfbench.report.check import print_table, write_outputs

    if not 0 < args.alpha < 1:
        raise UserError("must be between 0 and 1", where="--alpha")
    if args.confirm < 0:
        raise UserError("must be a number of reruns, 0 or more", where="--confirm")
    options = Options(
        threshold=parse_threshold(args.threshold, "--threshold"),
        metric=args.metric,
        rules=parse_rules(args.rule),
        relative_to=args.relative_to,
        alpha=args.alpha,
        allow_different_env=args.allow_different_env,
        strict=args.strict,
    )
    out = out_folder(args.out) if args.out else args.current
    result = check_runs(args.current, args.baseline, options)
    if args.confirm and result.regressions:
        result = _confirmed(args, options, result)
    print_table(result)
    paths = write_outputs(result, out)
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return result.exit_status()


def _confirmed(args: argparse.Namespace, options: Options, result: CheckResult) -> CheckResult:
    """``result`` with its regressions rerun ``--confirm`` times and judged again on the reruns."""
    from udfbench.analysis.check import after_reruns, check_runs
    from udfbench.measure.confirm import plan_reruns, rerun
    from udfbench.report.terminal import ProgressDisplay
    from udfbench.spark.java import check_java
    from udfbench.spark.watchdog import guard_children

    check_java()
    guard_children()
    regressed = {key for verdict in result.regressions for key in verdict.case_keys}
    reruns = plan_reruns(args.current, regressed, options.relative_to, args.confirm)
    print(f"{len(result.regressions)} regression(s): rerunning them {args.confirm} times to confirm")
    # As in a run: TensorFlow's and the JVMs' own lines go to the run folder's console.log.
    with native_stderr_to(args.current / CONSOLE_LOG), ProgressDisplay(reruns.total_runs) as progress:
        rerun(args.current.absolute(), reruns, progress, STOP_REQUESTED)  # as in a run: absolute
    again = check_runs(args.current, args.baseline, options, confirmation=reruns.round)
    return after_reruns(result, again, args.confirm)
