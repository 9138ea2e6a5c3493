"""The command line: one module per verb, each a function from parsed arguments to an exit status.

A verb module says what it does (``HELP``), which arguments it takes (``add_arguments``) and what it
does with them (``execute``); a new verb is one module and one line in ``VERBS``. The process around
them (signals, exit statuses, native stderr) is ``console``'s; shared arguments are ``arguments``'.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from udfbench.cli import check, compare, dataset, history, plan, report, run, validate
from udfbench.cli.arguments import Parser
from udfbench.cli.console import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    end_process,
    silence_py4j_logging,
    stop_on_signals,
)
from udfbench.errors import UserError

VERBS = {
    "run": run,
    "validate": validate,
    "dataset": dataset,
    "report": report,
    "compare": compare,
    "check": check,
    "history": history,
    "plan": plan,
}


def build_parser() -> Parser:
    from udfbench import __version__

    parser = Parser(
        prog="udfbench", description="Benchmark the ways to run a model over images on Apache Spark."
    )
    parser.add_argument("--version", action="version", version=f"udfbench {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)
    for name, verb in VERBS.items():
        verb_parser = sub.add_parser(name, help=verb.HELP, description=verb.HELP)
        verb.add_arguments(verb_parser)
        verb_parser.set_defaults(execute=verb.execute)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UserError as err:
        print(f"udfbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    stop_on_signals()
    silence_py4j_logging()
    try:
        return args.execute(args)
    except UserError as err:
        print(f"udfbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("udfbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def command() -> NoReturn:
    """The ``udfbench`` command (and ``python -m udfbench``): ``main``, then the process ends with its
    exit status and nothing after it (``console.end_process``)."""
    end_process(main())
