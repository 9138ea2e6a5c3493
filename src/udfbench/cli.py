"""The command line: one function per verb, errors mapped to exit codes.

Exit status 0 is success, 2 is bad input (one line on stderr naming the file and field), 130 is an
interrupted run (whose finished cases and report are kept). Verbs that judge (``check``) may use 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from udfbench.errors import UserError

if TYPE_CHECKING:
    from udfbench.check import CheckResult, Options

# 1: a run with failed cases, or a check that found a regression.
EXIT_OK, EXIT_FAILED_CASES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line and exit 2 like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message, where=self.prog)


def _utf8(text: str) -> str:
    """A path or URI argument, refused unless its name is UTF-8: results.csv, meta.json and the
    reports hold paths as UTF-8 text, so a run under such a name could not read back its own files."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{os.fsencode(text)!r} is not UTF-8: rename it") from None
    return text


def _path(text: str) -> Path:
    return Path(_utf8(text))


def _int_list(flag: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"expected comma-separated whole numbers, got {text!r}", where=flag) from None
    if not values:
        raise UserError("expected at least one value", where=flag)
    return values


# The config key each command-line setting overrides.
FLAGS = {
    "dataset.sizes": "--sizes",
    "strategies": "--strategies",
    "repeats": "--repeats",
    "warmup": "--warmup",
    "dataset.seed_images": "--seed-images",
    "model.path": "--model",
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line settings as dotted config keys; paths are taken from the current folder."""
    found: dict[str, Any] = {}
    if args.sizes:
        found["dataset.sizes"] = _int_list("--sizes", args.sizes)
    if args.strategies:
        found["strategies"] = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.repeats is not None:
        found["repeats"] = args.repeats
    if args.warmup is not None:
        found["warmup"] = args.warmup
    if args.seed_images:
        found["dataset.seed_images"] = str(Path(args.seed_images).resolve())
    if args.model:
        found["model.path"] = str(Path(args.model).resolve())
    return found


@contextmanager
def _flags_blamed(args: argparse.Namespace) -> Iterator[None]:
    """A bad setting from the command line, found in the config or by a check before the run (the
    seed folder's images, the model file), is blamed on its flag, not on the file."""
    try:
        yield
    except UserError as err:
        field = (err.where or "").removeprefix(f"{args.config}: ")
        given = [d for d in _overrides(args) if field == d or field.startswith((f"{d}[", f"{d}."))]
        if not given:
            raise
        raise UserError(err.message, where=f"{FLAGS[given[0]]} ({field})") from None


def _config(args: argparse.Namespace):
    """The config file with the command line's settings on top."""
    from udfbench.config import load_config

    with _flags_blamed(args):
        return load_config(args.config, _overrides(args))


def _out_folder(out: Path) -> Path:
    """A verb's ``--out`` folder, made now: a file in the way or a folder that cannot be written is
    one line before any work, not a traceback after it."""
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"{out} is a file, not a folder", where="--out")
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror or err}", where="--out") from None
    return out


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=_path, help="the benchmark config (bench.yaml)")
    parser.add_argument("--sizes", help="dataset sizes, e.g. 20,50")
    parser.add_argument("--strategies", help="strategies, e.g. python,udf")
    parser.add_argument("--repeats", type=int, help="measured runs per case")
    parser.add_argument("--warmup", type=int, help="warmup runs per case")
    parser.add_argument("--seed-images", type=_path, help="folder of seed images instead of the config's")
    parser.add_argument("--model", type=_path, help="a .keras, .h5 or .onnx model instead of the config's")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_config_options(parser)
    parser.add_argument(
        "--out", type=_path, help="the run folder to write (default: a new one under reports/)"
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
        type=_path,
        metavar="RUN_DIR",
        help="finish an interrupted run folder started with the same config (its finished cases are kept)",
    )


def _planned(args: argparse.Namespace):
    """The config with its overrides, after every check a run makes before it starts Spark
    (``preflight``): what ``validate`` accepts, ``run`` runs."""
    from udfbench.preflight import preflight

    config = _config(args)
    with _flags_blamed(args):
        return config, preflight(config, args.config, force=getattr(args, "force", False))


def cmd_validate(args: argparse.Namespace) -> int:
    from udfbench.planning import cases, total_runs

    config, checked = _planned(args)
    print(
        f"{args.config}: ok ({len(cases(config))} cases, {total_runs(config)} timed runs, "
        f"at most about {checked.estimate_s / 60:.0f} minutes on 2 cores)"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from udfbench.events import Listeners
    from udfbench.instruments import ResourceSampler
    from udfbench.lifecycle import new_run_dir, run_benchmark
    from udfbench.planning import input_warnings, runs_per_case, total_runs
    from udfbench.report.build import build_report
    from udfbench.report.terminal import ProgressDisplay
    from udfbench.results import MetaWriter, ResultsWriter, read_results
    from udfbench.resume import resumption

    config, checked = _planned(args)
    if args.resume and args.out:
        raise UserError("give --out or --resume, not both (a resumed run stays in its folder)", where="--out")
    for warning in input_warnings(config):
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
    with native_stderr_to(run_dir / CONSOLE_LOG), ProgressDisplay(total) as progress:
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
    report = build_report(run_dir, print_to_terminal=True)
    if failure is not None:
        raise UserError(f"{failure.message}; what was measured before it is in {report}", failure.where)
    if status == EXIT_INTERRUPTED or (meta is not None and meta.status == "interrupted"):
        print(f"interrupted: finished cases kept in {run_dir}; report {report}", file=sys.stderr)
        return EXIT_INTERRUPTED
    assert meta is not None
    failed = failed_cases(run_dir)
    if failed:
        print(
            f"{meta.status} with {failed} failed case(s): results in {run_dir}\nreport: {report}",
            file=sys.stderr,
        )
        return EXIT_FAILED_CASES
    print(f"{meta.status}: results in {run_dir}\nreport: {report}")
    return status


# What native code (TensorFlow's C++ logging, the JVMs, worker processes) prints on stderr during a
# run: kept in the run folder, never through the progress display.
CONSOLE_LOG = "console.log"


@contextmanager
def native_stderr_to(log: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``log`` (children inherit it) while Python's own ``sys.stderr``
    keeps the terminal, so udfbench's messages still reach the user and nothing else does."""
    sys.stderr.flush()
    terminal = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(terminal), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    os.dup2(target, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(terminal)
        os.close(target)


def failed_cases(run_dir: Path) -> int:
    """Cases that ended failed or parity-failed (unsupported ones are not failures)."""
    from udfbench.results import read_results

    results = read_results(run_dir)
    return int(results["status"].isin(["failed", "parity_failed"]).sum())


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    _add_config_options(parser)
    parser.add_argument(
        "--out", required=True, type=_utf8, help="the table to write: a folder or a URI (hdfs://, s3a://)"
    )


def cmd_dataset(args: argparse.Namespace) -> int:
    import tempfile

    from udfbench.environment import check_java
    from udfbench.workload import stage_dataset

    config = _config(args)
    if config.dataset.table:
        raise UserError(
            "the config reads an existing table; there is no synthetic set to write",
            where=f"{args.config}: dataset.table",
        )
    check_java()
    with (
        tempfile.TemporaryDirectory(prefix="udfbench-seeds-") as seeds,
        native_stderr_to(Path(seeds) / CONSOLE_LOG),  # Spark's console chatter stays off the terminal
    ):
        rows = stage_dataset(config, Path(seeds), args.out, where="--out")
    print(f"wrote {rows} rows (columns id, image, label) to {args.out}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from udfbench.report.build import build_report

    print(build_report(args.run_dir))
    return EXIT_OK


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("current", type=_path, help="the run folder to judge")
    parser.add_argument("--baseline", type=_path, required=True, help="the run folder to compare with")
    parser.add_argument("--threshold", default="10%", help="smallest slowdown that counts (default 10%%)")
    parser.add_argument("--metric", choices=["median", "mean", "min"], default="median")
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
        "--out", type=_path, help="where to write check.md/json/xml (default: the current run)"
    )


def cmd_check(args: argparse.Namespace) -> int:
    from udfbench.check import Options, check_runs, parse_rules, parse_threshold
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
    )
    out = _out_folder(args.out) if args.out else args.current
    result = check_runs(args.current, args.baseline, options)
    if args.confirm and result.regressions:
        result = _confirmed(args, options, result)
    print_table(result)
    paths = write_outputs(result, out)
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return result.exit_status()


def _confirmed(args: argparse.Namespace, options: Options, result: CheckResult) -> CheckResult:
    """``result`` with its regressions rerun ``--confirm`` times and judged again on the reruns."""
    from udfbench.check import after_reruns, check_runs
    from udfbench.confirm import plan_reruns, rerun
    from udfbench.environment import check_java
    from udfbench.report.terminal import ProgressDisplay

    check_java()
    reruns = plan_reruns(args.current, result, args.confirm)
    print(f"{len(result.regressions)} regression(s): rerunning them {args.confirm} times to confirm")
    with ProgressDisplay(reruns.total_runs) as progress:
        rerun(args.current.absolute(), reruns, progress, STOP_REQUESTED)  # as in a run: absolute
    again = check_runs(args.current, args.baseline, options, confirmation=reruns.round)
    return after_reruns(result, again, args.confirm)


def _add_compare_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=_path, nargs="+", help="run folders; the first is the reference")
    parser.add_argument(
        "--out",
        type=_path,
        help="where to write compare.html and compare.csv (default: compare-<time> next to the first run)",
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from udfbench.compare import compare_runs, default_out_dir
    from udfbench.report.compare import print_comparison, write_comparison

    out = _out_folder(args.out) if args.out else None
    comparison = compare_runs(args.run_dirs)
    print_comparison(comparison)
    print(write_comparison(comparison, out or default_out_dir(args.run_dirs[0])))
    return EXIT_OK


def _add_history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=_path, nargs="+", help="run folders, or folders of run folders")
    parser.add_argument(
        "--out", type=_path, help="where to write history.html/json (default: next to the newest run)"
    )
    parser.add_argument(
        "--threshold", default="10%", help="smallest lasting slowdown that counts (default 10%%)"
    )
    parser.add_argument("--relative-to", metavar="STRATEGY", help="follow times as ratios to this strategy's")
    parser.add_argument(
        "--allow-different-env", action="store_true", help="follow runs even if versions or clusters differ"
    )


def cmd_history(args: argparse.Namespace) -> int:
    from udfbench.check import parse_threshold
    from udfbench.history import default_out_dir, history
    from udfbench.report.history import print_history, write_history

    out = _out_folder(args.out) if args.out else None
    found = history(
        args.run_dirs,
        parse_threshold(args.threshold, "--threshold"),
        args.relative_to,
        args.allow_different_env,
    )
    print_history(found)
    paths = write_history(found, out or default_out_dir(found))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return found.exit_status()


Verb = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]

VERBS: dict[str, Verb] = {
    "run": (
        _add_run_options,
        cmd_run,
        "run a benchmark and write results and a report",
    ),
    "validate": (_add_config_options, cmd_validate, "check a config without running it"),
    "dataset": (
        _add_dataset_options,
        cmd_dataset,
        "write the config's synthetic dataset as a Parquet table of image bytes, without a benchmark",
    ),
    "report": (
        lambda p: p.add_argument("run_dir", type=_path, help="a run folder (reports/<run id>)"),
        cmd_report,
        "rebuild a run's summary and report.html from its CSV files",
    ),
    "compare": (
        _add_compare_options,
        cmd_compare,
        "compare runs, or the clusters of one run: medians, ratios, cost per core, what differs",
    ),
    "check": (
        _add_check_options,
        cmd_check,
        "regression gate: exit 1 when a case got significantly slower than the baseline",
    ),
    "history": (
        _add_history_options,
        cmd_history,
        "lasting steps and drifts across many runs: exit 1 when a case slowed beyond the threshold",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from udfbench import __version__

    parser = _Parser(
        prog="udfbench", description="Benchmark the ways to run a model over images on Apache Spark."
    )
    parser.add_argument("--version", action="version", version=f"udfbench {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    for name, (add_arguments, handler, help_text) in VERBS.items():
        verb = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(verb)
        verb.set_defaults(handler=handler)
    return parser


# Set by Ctrl-C or SIGTERM. TensorFlow's C++ code can swallow the KeyboardInterrupt raised while it
# runs, so the run also checks this flag after every timed run.
STOP_REQUESTED = threading.Event()


def _request_stop(signum: int, frame: object) -> None:
    STOP_REQUESTED.set()
    raise KeyboardInterrupt


def _not_from_py4j(record: logging.LogRecord) -> bool:
    return "py4j" not in Path(record.pathname).parts


def silence_py4j_logging() -> None:
    """Drop py4j's own log for the whole process: it logs a traceback when Ctrl-C interrupts a
    pending JVM call or the gateway's shutdown, and the interruption is reported in one line by
    cmd_run instead; a gateway that really fails still raises, and that error is reported.

    py4j logs both on its own loggers (``py4j.clientserver``: silenced by their parent's level) and
    on the root logger (``logging.exception("KeyboardInterrupt while sending command.")``: dropped by
    a filter on the root logger, which sees only the records logged on it directly)."""
    logging.getLogger("py4j").setLevel(logging.CRITICAL + 1)
    logging.getLogger().addFilter(_not_from_py4j)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UserError as err:
        print(f"udfbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)
    silence_py4j_logging()
    try:
        return args.handler(args)
    except UserError as err:
        print(f"udfbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("udfbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
