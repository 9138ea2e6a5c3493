"""Everything a run checks before it starts Spark, in one place that ``validate`` and ``run`` share.

``validate`` must not say "ok" to a config that ``run`` then refuses, so both call ``preflight``: the
budget, where the run folder goes, spark.task_cpus against a local cluster's cores, the seed images
or the table (its columns, row count, labels and reader), the model file, the ports of standalone
clusters and Java. Each problem is a
``UserError`` naming the file and field. Loading a user's model to check it takes a few seconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from udfbench.errors import UserError
from udfbench.plan.cases import cluster_cores, estimate_seconds, run_folder_name
from udfbench.plan.config import BUILTIN, BenchConfig, axes_grid
from udfbench.rundir.files import read_meta
from udfbench.rundir.schema import META_FILE

if TYPE_CHECKING:
    from udfbench.inputs.table import ImageTable


@dataclass(frozen=True)
class Checked:
    """What the checks found that the run needs: its estimated seconds, the configured table,
    opened (footers read, ids indexed) so that the run does not open it again, and what to warn of
    once before it starts."""

    estimate_s: float
    table: ImageTable | None
    warnings: tuple[str, ...] = ()
    # The run folder whose calibration the estimate comes from (None: the built-in 2-core figures).
    estimate_from: str | None = None


# How many of output_dir's newest run folders are searched for a calibration to estimate from.
RUNS_SEARCHED = 20


def last_calibration(config: BenchConfig) -> tuple[float, str] | None:
    """The limit per core of the newest run in output_dir of the same model and seed images, and its
    folder's name: this machine's own figure for the estimate. A folder that cannot be read is passed
    over."""
    try:
        folders = [p for p in Path(config.output_dir).iterdir() if (p / META_FILE).is_file()]
    except OSError:
        return None
    folders.sort(key=lambda p: (p / META_FILE).stat().st_mtime, reverse=True)
    for folder in folders[:RUNS_SEARCHED]:
        try:
            meta = read_meta(folder)
        except UserError:
            continue
        same = (
            meta.config.model == config.model
            and meta.config.dataset.seed_images == config.dataset.seed_images
        )
        calibration = meta.calibration
        if same and calibration is not None and calibration.limit_images_per_s and calibration.cores:
            return calibration.limit_images_per_s / calibration.cores, folder.name
    return None


def _check_budget(config: BenchConfig, config_path: Path, force: bool) -> tuple[float, str | None]:
    last = last_calibration(config)
    estimate = estimate_seconds(config, last[0] if last else None)
    if estimate > config.budget_minutes * 60 and not force:
        raise UserError(
            f"estimated {estimate / 60:.0f} minutes, over the budget of {config.budget_minutes:g}; "
            "raise budget_minutes, shrink the sweep, or pass --force",
            where=f"{config_path}: budget_minutes",
        )
    return estimate, last[1] if last else None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_output_dir(config: BenchConfig, config_path: Path) -> None:
    """The run folder ``<time>-<name>`` can be made under output_dir: no file in the way, a folder
    that can be written, and a name the file system can hold. Nothing is made here."""
    folder = Path(config.output_dir)
    where = f"{config_path}: output_dir"
    found = _nearest_existing(folder)
    if not found.is_dir():
        problem = (
            "is a file, not a folder" if found == folder else "is a file, so no folder can be made in it"
        )
        raise UserError(f"{found} {problem}", where=where)
    if not os.access(found, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {found}", where=where)
    name = run_folder_name(config, datetime.now(UTC))
    try:
        limit = os.pathconf(found, "PC_NAME_MAX")
    except (OSError, ValueError):  # a file system that does not say: the common limit
        limit = 255
    if len(name.encode()) > limit:
        raise UserError(
            f"names the run folder <time>-<name>, {len(name.encode())} bytes here: over the file system's "
            f"limit of {limit}; shorten it",
            where=f"{config_path}: name",
        )


def _check_task_cpus(config: BenchConfig, config_path: Path) -> None:
    """A task needs spark.task_cpus cores at once: more than a local cluster's executor has would fail
    the session (local[N]) or wait forever for a slot (local-cluster[N,C,M])."""
    from udfbench.measure.local_processes import usable_cores

    wanted = max(axes.task_cpus for axes in axes_grid(config))
    for cluster in config.cluster_list():
        if cluster.kind != "local":
            continue
        master = cluster.master_url()
        per_worker = re.fullmatch(r"local-cluster\[\d+,\s*(\d+),\s*\d+\]", master)
        cores = (
            int(per_worker.group(1)) if per_worker else cluster_cores(cluster, config.spark, usable_cores())
        )
        if cores is not None and wanted > cores:
            raise UserError(
                f"{wanted} is more than the {cores} core(s) an executor of cluster {cluster.name} ({master}) "
                "has: no task could start",
                where=f"{config_path}: spark.task_cpus",
            )


def _check_seed_images(config: BenchConfig, config_path: Path) -> list[str]:
    """The seed folder holds images; the warnings: seeds too large for Pillow to take quietly."""
    from udfbench.inputs.decode import oversized
    from udfbench.inputs.seeds import read_seed_folder

    if config.dataset.seed_images == BUILTIN:
        return []
    try:
        seeds = read_seed_folder(Path(config.dataset.seed_images), list(config.model.classes))
    except UserError as err:
        raise UserError(err.message, where=f"{config_path}: {err.where}") from None
    return [f"dataset.seed_images: {said}" for said in oversized(seed.path for seed in seeds)]


def _check_table(config: BenchConfig, config_path: Path) -> ImageTable | None:
    from udfbench.measure.workload import open_table

    try:
        return open_table(config)
    except UserError as err:
        raise UserError(err.message, where=f"{config_path}: {err.where}") from None


def _check_model(config: BenchConfig, config_path: Path) -> None:
    """A user's model must load, take RGB images and match the classes; the built-in one always does."""
    if config.model.path is None:
        return
    from udfbench.model.spec import prepare_model

    prepare_model(config.model, config.dataset.seed, str(config_path))


def _check_scaling(config: BenchConfig, config_path: Path) -> None:
    """Every core count scaling asks for fits on this machine: its local and standalone clusters
    run here, and more cores than it has would measure contention, not scaling."""
    from udfbench.measure.local_processes import usable_cores

    if config.scaling is None:
        return
    machine = usable_cores()
    for index, cores in enumerate(config.scaling.cores):
        if cores > machine:
            raise UserError(
                f"{cores} cores, but this machine has {machine} for udfbench's clusters to run on",
                where=f"{config_path}: scaling.cores[{index}]",
            )


def _check_ports(config: BenchConfig, config_path: Path) -> None:
    from udfbench.spark.standalone import check_port_free

    # As configured: a cluster's scaled copies start one after another on the same ports.
    for index, cluster in enumerate(config.configured_clusters()):
        if cluster.kind != "standalone":
            continue
        for field in ("master_port", "webui_port"):
            port = getattr(cluster, field)
            if port is not None:
                check_port_free(port, f"{config_path}: clusters[{index}].{field} (cluster {cluster.name})")


def _check_engines(config: BenchConfig, config_path: Path) -> None:
    """A strategy of another engine needs its optional dependency: one line that says how to add it."""
    from udfbench.measure.strategies import get_strategy
    from udfbench.measure.strategies.base import EngineStrategy

    for name in config.strategies:
        strategy = get_strategy(name)
        if isinstance(strategy, EngineStrategy) and (missing := strategy.missing_extra()):
            raise UserError(missing, where=f"{config_path}: strategies")


def _check_java(config: BenchConfig) -> None:
    from udfbench.measure.strategies import get_strategy
    from udfbench.spark.java import check_java

    if any(get_strategy(name).uses_spark for name in config.strategies):
        check_java()


def preflight(
    config: BenchConfig, config_path: Path, force: bool = False, run_folder_given: bool = False
) -> Checked:
    """Raise ``UserError`` for anything that would stop the run before its first case. Cheap checks
    first, so the common mistakes answer at once. ``run_folder_given``: the run goes into a folder of
    the command line's (``--out``, ``--resume``), not a new one under output_dir."""
    estimate, estimate_from = _check_budget(config, config_path, force)
    if not run_folder_given:
        _check_output_dir(config, config_path)
    _check_task_cpus(config, config_path)
    warnings = _check_seed_images(config, config_path)
    table = _check_table(config, config_path)
    _check_scaling(config, config_path)
    _check_ports(config, config_path)
    _check_engines(config, config_path)
    _check_java(config)
    _check_model(config, config_path)
    return Checked(estimate, table, tuple(warnings), estimate_from)
