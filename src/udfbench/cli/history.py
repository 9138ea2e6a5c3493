"""``udfbench history``: lasting steps and drifts across many runs."""

from __future__ import annotations

import argparse

from udfbench.cli.arguments import out_folder, parse_threshold, path

HELP = "lasting steps and drifts across many runs: exit 1 when a case slowed beyond the threshold"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=path, nargs="+", help="run folders, or folders of run folders")
    parser.add_argument(
        "--out", type=path, help="where to write history.html/json (default: next to the newest run)"
    )
    parser.add_argument(
        "--threshold", default="10%", help="smallest lasting slowdown that counts (default 10%%)"
    )
    parser.add_argument("--relative-to", metavar="STRATEGY", help="follow times as ratios to this strategy's")
    parser.add_argument(
        "--allow-different-env", action="store_true", help="follow runs even if versions or clusters differ"
    )
    parser.add_argument(
        "--metric",
        choices=["median", "cpu"],
        default="median",
        help="follow wall seconds, or cpu: the CPU seconds of the run's own processes (default median)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on an undecided step too (too noisy to tell, runs on a busy machine)",
    )


def execute(args: argparse.Namespace) -> int:
    from udfbench.analysis.history import default_out_dir, history
    from udfbench.report.history import print_history, write_history

    out = out_folder(args.out) if args.out else None
    found = history(
        args.run_dirs,
        parse_threshold(args.threshold, "--threshold"),
        args.relative_to,
        args.allow_different_env,
        args.strict,
        args.metric,
    )
    print_history(found)
    paths = write_history(found, out or default_out_dir(found))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return found.exit_status()
