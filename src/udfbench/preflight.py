"""Everything a run checks before it starts Spark, in one place that ``validate`` and ``run`` share.

``validate`` must not say "ok" to a config that ``run`` then refuses, so both call ``preflight``: the
budget, the seed images or the table (its columns, row count and reader), the model file, the ports
of standalone clusters and Java. Each problem is a
``UserError`` naming the file and field. Loading a user's model to check it takes a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from udfbench.config import BUILTIN, BenchConfig
from udfbench.errors import UserError
from udfbench.planning import estimate_seconds

if TYPE_CHECKING:
    from udfbench.tables import ImageTable


@dataclass(frozen=True)
class Checked:
    """What the checks found that the run needs: its estimated seconds, and the configured table,
    opened (footers read, ids indexed) so that the run does not open it again."""

    estimate_s: float
    table: ImageTable | None


def _check_budget(config: BenchConfig, config_path: Path, force: bool) -> float:
    estimate = estimate_seconds(config)
    if estimate > config.budget_minutes * 60 and not force:
        raise UserError(
            f"estimated {estimate / 60:.0f} minutes, over the budget of {config.budget_minutes:g}; "
            "raise budget_minutes, shrink the sweep, or pass --force",
            where=f"{config_path}: budget_minutes",
        )
    return estimate


def _check_seed_images(config: BenchConfig, config_path: Path) -> None:
    from udfbench.dataset import read_seed_folder

    if config.dataset.seed_images == BUILTIN:
        return
    try:
        read_seed_folder(Path(config.dataset.seed_images), list(config.model.classes))
    except UserError as err:
        raise UserError(err.message, where=f"{config_path}: {err.where}") from None


def _check_table(config: BenchConfig, config_path: Path) -> ImageTable | None:
    from udfbench.workload import open_table

    try:
        return open_table(config)
    except UserError as err:
        raise UserError(err.message, where=f"{config_path}: {err.where}") from None


def _check_model(config: BenchConfig, config_path: Path) -> None:
    """A user's model must load, take RGB images and match the classes; the built-in one always does."""
    if config.model.path is None:
        return
    from udfbench.model import prepare_model

    prepare_model(config.model, config.dataset.seed, str(config_path))


def _check_ports(config: BenchConfig, config_path: Path) -> None:
    from udfbench.standalone import check_port_free

    for index, cluster in enumerate(config.cluster_list()):
        if cluster.kind != "standalone":
            continue
        for field in ("master_port", "webui_port"):
            port = getattr(cluster, field)
            if port is not None:
                check_port_free(port, f"{config_path}: clusters[{index}].{field} (cluster {cluster.name})")


def _check_java(config: BenchConfig) -> None:
    from udfbench.environment import check_java
    from udfbench.strategies import get_strategy

    if any(get_strategy(name).uses_spark for name in config.strategies):
        check_java()


def preflight(config: BenchConfig, config_path: Path, force: bool = False) -> Checked:
    """Raise ``UserError`` for anything that would stop the run before its first case. Cheap checks
    first, so the common mistakes answer at once."""
    estimate = _check_budget(config, config_path, force)
    _check_seed_images(config, config_path)
    table = _check_table(config, config_path)
    _check_ports(config, config_path)
    _check_java(config)
    _check_model(config, config_path)
    return Checked(estimate, table)
