"""What several verbs parse alike: paths, a config with its overrides, ``--out`` folders, thresholds.

Every bad argument is a ``UserError`` naming its flag (one line, exit 2), never argparse's usage text.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from udfbench.errors import UserError

if TYPE_CHECKING:
    from udfbench.measure.preflight import Checked
    from udfbench.plan.config import BenchConfig


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line and exit 2 like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message, where=self.prog)


def utf8(text: str) -> str:
    """A path or URI argument, refused unless its name is UTF-8: results.csv, meta.json and the
    reports hold paths as UTF-8 text, so a run under such a name could not read back its own files."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{os.fsencode(text)!r} is not UTF-8: rename it") from None
    return text


def path(text: str) -> Path:
    if not text:  # Path("") is the current folder: an empty argument is a mistake, not a choice of "."
        raise argparse.ArgumentTypeError("an empty path")
    return Path(utf8(text))


def _items(flag: str, text: str) -> list[str]:
    """A comma-separated list, each item given: ``''``, ``','`` and ``'20,'`` are mistakes, not lists."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UserError("expected at least one value", where=flag)
    if not all(items):
        raise UserError(f"expected comma-separated values with none left empty, got {text!r}", where=flag)
    return items


def _int_list(flag: str, text: str) -> list[int]:
    try:
        return [int(v) for v in _items(flag, text)]
    except ValueError:
        raise UserError(f"expected comma-separated whole numbers, got {text!r}", where=flag) from None


# The config key each command-line setting overrides.
FLAGS = {
    "dataset.sizes": "--sizes",
    "strategies": "--strategies",
    "repeats": "--repeats",
    "warmup": "--warmup",
    "dataset.seed_images": "--seed-images",
    "model.path": "--model",
}


def _repeats(text: str) -> int | str:
    """--repeats: a whole number, or auto; the config's checks judge the number."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise UserError(f"expected a whole number or auto, got {text!r}", where="--repeats") from None


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=path, help="the benchmark config (bench.yaml)")
    parser.add_argument("--sizes", help="dataset sizes, e.g. 20,50")
    parser.add_argument("--strategies", help="strategies, e.g. python,udf")
    parser.add_argument(
        "--repeats", type=_repeats, help="measured runs per case, or auto (until the median is known)"
    )
    parser.add_argument("--warmup", type=int, help="warmup runs per case")
    parser.add_argument("--seed-images", type=path, help="folder of seed images instead of the config's")
    parser.add_argument("--model", type=path, help="a .keras, .h5 or .onnx model instead of the config's")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line settings as dotted config keys; paths are taken from the current folder."""
    found: dict[str, Any] = {}
    if args.sizes is not None:
        found["dataset.sizes"] = _int_list("--sizes", args.sizes)
    if args.strategies is not None:
        found["strategies"] = _items("--strategies", args.strategies)
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


def config_of(args: argparse.Namespace) -> BenchConfig:
    """The config file with the command line's settings on top."""
    from udfbench.plan.config import load_config

    with _flags_blamed(args):
        return load_config(args.config, _overrides(args))


def checked_config_of(args: argparse.Namespace) -> tuple[BenchConfig, Checked]:
    """The config with its overrides, after every check a run makes before it starts Spark
    (``preflight``): what ``validate`` accepts, ``run`` runs.

    What native code prints while the checks load the model (TensorFlow's start-up lines,
    onnxruntime's warnings about the graph) is not udfbench's to show: a problem that matters
    comes back as the one error line, and a run logs its own loads into console.log."""
    from udfbench.cli.console import native_stderr_to
    from udfbench.measure.preflight import preflight

    config = config_of(args)
    given = getattr(args, "out", None) is not None or getattr(args, "resume", None) is not None
    with _flags_blamed(args), native_stderr_to(Path(os.devnull)):
        return config, preflight(
            config, args.config, force=getattr(args, "force", False), run_folder_given=given
        )


def out_folder(out: Path) -> Path:
    """A verb's ``--out`` folder, made now: a file in the way or a folder that cannot be written is
    one line before any work, not a traceback after it."""
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"{out} is a file, not a folder", where="--out")
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror or err}", where="--out") from None
    return out


def parse_threshold(text: str, where: str) -> float:
    """``10%`` or ``0.1`` -> 0.1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", text)
    if not match:
        raise UserError(f"expected a threshold like 10% or 0.1, got {text!r}", where=where)
    value = float(match.group(1)) / (100 if match.group(2) else 1)
    if value <= 0:
        raise UserError("a threshold must be above zero", where=where)
    return value


def parse_rules(rules: list[str]) -> list[tuple[str, float]]:
    parsed = []
    for rule in rules:
        pattern, sep, threshold = rule.rpartition("=")
        if not sep or not pattern:
            raise UserError(f"expected PATTERN=THRESHOLD, got {rule!r}", where="--rule")
        parsed.append((pattern, parse_threshold(threshold, f"--rule {rule}")))
    return parsed
