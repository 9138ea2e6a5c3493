"""``udfbench plan``: how long N images take on K executors, the core-hours, the cost and the memory."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from udfbench.cli.arguments import out_folder, path
from udfbench.cli.console import EXIT_OK
from udfbench.errors import UserError

if TYPE_CHECKING:
    from udfbench.plan.config import PlanConfig
    from udfbench.rundir.schema import RunMeta

HELP = "a capacity plan from a run: time, core-hours, cost and memory for N images on K executors"

# Each setting of the plan (the config's ``plan:`` keys) by the flag that gives it.
FLAGS = {
    "images": "--images",
    "executors": "--executors",
    "cores_per_executor": "--cores-per-executor",
    "deadline": "--deadline",
    "price_per_core_hour": "--price-per-core-hour",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=path, help="a run folder (reports/<run id>)")
    parser.add_argument("--images", type=int, help="how many images to plan for (default: the config's plan)")
    parser.add_argument("--executors", type=int, help="executors to project (default 1)")
    parser.add_argument(
        "--cores-per-executor",
        type=int,
        help="cores of each executor (default: the most cores a Spark strategy was measured on)",
    )
    parser.add_argument(
        "--deadline", help="instead of --executors: find the fewest that finish in time (2h, 90m, 1h30m)"
    )
    parser.add_argument("--price-per-core-hour", type=float, help="what a core costs an hour: gives the cost")
    parser.add_argument(
        "--out",
        type=path,
        help="where to write plan.json and plan.html (default: plan-<time> beside the run)",
    )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The plan's settings given on the command line."""
    return {field: getattr(args, field) for field in FLAGS if getattr(args, field) is not None}


def _blamed(field: str, args: argparse.Namespace) -> str:
    """Where a bad plan setting came from: its flag, or the run's config (``plan:`` in meta.json)."""
    return FLAGS[field] if field in _given(args) else f"{args.run_dir / 'meta.json'}: config.plan.{field}"


def settings_of(args: argparse.Namespace, meta: RunMeta) -> PlanConfig:
    """The flags given, over the run config's ``plan:`` section; a flag that picks executors or a
    deadline sets aside the config's other choice."""
    from pydantic import ValidationError

    from udfbench.plan.config import PlanConfig, error_text

    given = _given(args)
    if "executors" in given and "deadline" in given:
        raise UserError("give --executors (the time they take) or --deadline, not both", where="--deadline")
    defaults = meta.config.plan.model_dump(exclude_none=True) if meta.config.plan else {}
    for chosen, other in (("executors", "deadline"), ("deadline", "executors")):
        if chosen in given:
            defaults.pop(other, None)
    try:
        settings = PlanConfig.model_validate(defaults | given)
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        field = str(e["loc"][0]) if e["loc"] else "deadline"
        raise UserError(error_text(e), where=_blamed(field, args)) from None
    if settings.images is None:
        raise UserError("how many images to plan for: give it, or plan.images in the config", "--images")
    return settings


def execute(args: argparse.Namespace) -> int:
    from udfbench.analysis.capacity import capacity_plan, default_out_dir
    from udfbench.report.plan import print_plan, write_plan
    from udfbench.rundir.files import load_run

    out = out_folder(args.out) if args.out else None
    meta, results = load_run(args.run_dir)
    settings = settings_of(args, meta)
    try:
        plan = capacity_plan(meta, results, settings, args.run_dir)
    except UserError as err:
        if err.where in FLAGS:  # a setting of the plan, not a file
            raise UserError(err.message, where=_blamed(err.where, args)) from None
        raise
    print_plan(plan)
    paths = write_plan(plan, out or default_out_dir(args.run_dir))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return EXIT_OK
