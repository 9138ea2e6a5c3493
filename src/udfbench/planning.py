"""What a config asks for, before anything runs: the cases, how many timed runs, how long.

Pure functions of the config (no Spark, no files), so ``validate``, ``run``'s budget check and the
runner all plan from the same place.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from udfbench.config import BUILTIN, Axes, BenchConfig, ClusterConfig, SparkConfig, axes_grid

# A Spark session and its first Python workers with TensorFlow take about this long on 2 cores.
SESSION_START_S = 10.0


@dataclass(frozen=True)
class Case:
    """One thing measured: a strategy on a cluster at a size with one combination of swept settings."""

    cluster: ClusterConfig
    strategy: str
    size: int
    axes: Axes


@dataclass(frozen=True)
class SessionPlan:
    """The cases that share one Spark session: a strategy on a cluster with the session-wide settings
    (``task_cpus`` and ``threads`` are fixed when a session starts). ``first`` cases of a strategy
    carry its cold start and its row-by-row parity check."""

    cluster: ClusterConfig
    strategy: str
    task_cpus: int
    threads: int | None
    cases: tuple[Case, ...]
    # Whether the session's first case still owes the row-by-row parity check (a resumed run whose
    # check was done, and confirmation reruns, do not).
    parity: bool = True

    @property
    def label(self) -> str:
        return f"{self.cluster.name}/{self.strategy}/task_cpus={self.task_cpus},threads={self.threads}"


def plan(config: BenchConfig) -> list[SessionPlan]:
    """Every case in run order: cluster, session settings, strategy, then size (smallest first), settings.

    Each Spark strategy gets a session of its own, so every strategy starts on fresh Python workers
    and cold starts compare fairly whatever the order in the config.
    """
    by_session: dict[tuple[int, int | None], list[Axes]] = {}
    for axes in axes_grid(config):
        by_session.setdefault((axes.task_cpus, axes.threads), []).append(axes)
    plans = []
    for cluster in config.cluster_list():
        for (task_cpus, threads), axes in by_session.items():
            for strategy in config.strategies:
                cases = tuple(
                    Case(cluster, strategy, size, case_axes)
                    for size, case_axes in itertools.product(sorted(config.dataset.sizes), axes)
                )
                plans.append(SessionPlan(cluster, strategy, task_cpus, threads, cases))
    return plans


def narrow(
    plans: list[SessionPlan], keep: Callable[[Case], bool], parity: Callable[[SessionPlan], bool]
) -> list[SessionPlan]:
    """The plans with only the cases ``keep`` accepts, sessions left empty dropped; ``parity`` says
    which of the remaining sessions still owe their row-by-row check."""
    narrowed = []
    for session in plans:
        kept = tuple(case for case in session.cases if keep(case))
        if kept:
            narrowed.append(dataclasses.replace(session, cases=kept, parity=parity(session)))
    return narrowed


def cases(config: BenchConfig) -> list[Case]:
    return [case for session in plan(config) for case in session.cases]


def runs_per_case(config: BenchConfig) -> int:
    return config.warmup + config.repeats


def total_runs(config: BenchConfig) -> int:
    return len(cases(config)) * runs_per_case(config)


def estimate_seconds(config: BenchConfig) -> float:
    """A deliberately pessimistic guess at the run's length, to refuse sweeps that would not end today.

    It assumes the slowest strategy's rate on a 2-core machine for every case (row-at-a-time at
    192x192: about 25 images/s), scaled by the model's input area, plus a session per strategy.
    """
    c = config
    per_row = (1 / 25) * (c.model.image_size / 192) ** 2 if c.model.path is None else 1 / 25
    per_run = sum(0.5 + size * per_row for size in c.dataset.sizes)
    parity = min(c.dataset.sizes) * per_row
    per_strategy = len(axes_grid(c)) * runs_per_case(c) * per_run + parity + SESSION_START_S
    return 30 + len(c.cluster_list()) * len(c.strategies) * per_strategy


def cluster_cores(cluster: ClusterConfig, spark: SparkConfig, machine_cores: int) -> int | None:
    """The cores a cluster's executors may use, from the config alone; None when it cannot say.

    Local mode: the N of ``local[N]`` (``*``: the machine); a standalone cluster udfbench starts: its
    workers' cores; an external cluster: executor instances x executor cores when both are set.
    """
    if cluster.kind == "standalone":
        return cluster.workers * cluster.worker_cores
    if cluster.kind == "local":
        if cluster.cores:
            return cluster.cores
        match = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", cluster.master_url())
        if match is None:
            return None
        count = match.group(1)
        return machine_cores if count == "*" else int(count or 1)
    if spark.executor_instances and spark.executor_cores:
        return spark.executor_instances * spark.executor_cores
    return None


def input_warnings(config: BenchConfig) -> list[str]:
    """What may break on clusters whose nodes do not share the driver's files: reading seed files
    on an external cluster's executors, unless the dataset is a table or staged as one."""
    d = config.dataset
    if d.table or d.stage:
        return []
    folder = "the built-in seed images in the run folder" if d.seed_images == BUILTIN else d.seed_images
    return [
        f"cluster {cluster.name} is external: its executors will read {folder} at the driver's paths; "
        "if its nodes do not share this machine's files, set dataset.stage to a folder or URI every node "
        "can read (e.g. hdfs://namenode/udfbench/stage)"
        for cluster in config.cluster_list()
        if cluster.kind == "external"
    ]
