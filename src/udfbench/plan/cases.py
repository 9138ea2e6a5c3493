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
from datetime import datetime

from udfbench.plan.config import BUILTIN, Axes, BenchConfig, ClusterConfig, SparkConfig, axes_grid
from udfbench.plan.names import DRIVER_ONLY
from udfbench.plan.repeats import MIN_AUTO_REPEATS

# The estimate is an upper bound for a 2-core machine that other jobs share (a busy CI runner measured
# half the quiet limit, and 44 to 93 images/s where a quiet one gave 186): a Spark session and its
# first Python workers with TensorFlow; a Spark job's own cost; the driver's setup (TensorFlow, the
# model, the reference), the calibration and the report.
SESSION_START_S = 25.0
JOB_S = 1.5
SETUP_S = 45.0 + 30.0 + 15.0
# Row-at-a-time prediction of the built-in CNN at 192x192, the slowest strategy, on such a machine:
# about 0.8 of the busiest limit measured (44 images/s).
SLOWEST_IMAGES_PER_S = 35.0
# The same as a fraction of that machine's quiet limit per core (185.6 images/s on 2 cores): with the
# calibration of a last run of the same model and seeds, the slowest rate is this fraction of its
# limit per core (a row-at-a-time loop gains little from more cores, so per core, not in all).
SLOWEST_FRACTION_OF_CORE_LIMIT = SLOWEST_IMAGES_PER_S / (185.6 / 2)
# Rounds of calibration a run takes at most: one before the first case (in SETUP_S), the others
# between sessions. Each costs seconds (its processes start and load the model), and one taken while
# the neighbours are quiet is enough: three meet a load that comes and goes at three moments.
CALIBRATION_ROUNDS = 3
CALIBRATION_ROUND_S = 20.0


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
    and cold starts compare fairly whatever the order in the config. A driver-only strategy uses no
    cluster: it runs once, with the first cluster's cases (its rows carry that cluster's name).
    """
    by_session: dict[tuple[int, int | None], list[Axes]] = {}
    for axes in axes_grid(config):
        by_session.setdefault((axes.task_cpus, axes.threads), []).append(axes)
    plans = []
    for index, cluster in enumerate(config.cluster_list()):
        strategies = [s for s in config.strategies if index == 0 or s not in DRIVER_ONLY]
        for (task_cpus, threads), axes in by_session.items():
            for strategy in strategies:
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
    """Timed runs a case takes at most (``repeats: auto`` may stop before ``max_repeats``)."""
    return config.warmup + config.most_repeats


def total_runs(config: BenchConfig) -> int:
    return len(cases(config)) * runs_per_case(config)


def estimate_seconds(config: BenchConfig, core_limit: float | None = None) -> float:
    """A deliberately pessimistic guess at the run's length (an upper bound, not a forecast), to
    refuse sweeps that would not end today.

    It assumes the slowest strategy's rate on a busy 2-core machine for every case, scaled by the
    model's input area, a Spark job's cost per timed run, a session per strategy, and the setup,
    calibration rounds and report around them. With ``repeats: auto`` the budget bounds the repeats
    past the minimum: at most the longer of the run at the minimum and the budget, and never more
    than the run at ``max_repeats``. ``core_limit``: this machine's limit per core (images/s) for the
    model and seeds, from the calibration of a last run of them; the slowest strategy's rate is then
    taken from it, not from the built-in CNN's on a 2-core machine.
    """
    if not config.auto_repeats:
        return _estimate(config, config.most_repeats, core_limit)
    least = _estimate(config, MIN_AUTO_REPEATS, core_limit)
    most = _estimate(config, config.max_repeats, core_limit)
    return min(most, max(least, config.budget_minutes * 60))


def _estimate(config: BenchConfig, repeats: int, core_limit: float | None) -> float:
    c = config
    if core_limit:
        per_row = 1 / (SLOWEST_FRACTION_OF_CORE_LIMIT * core_limit)
    else:
        per_row = (1 / SLOWEST_IMAGES_PER_S) * (
            (c.model.image_size / 192) ** 2 if c.model.path is None else 1
        )
    per_run = sum(JOB_S + size * per_row for size in c.dataset.sizes)
    parity = min(c.dataset.sizes) * per_row
    per_strategy = len(axes_grid(c)) * (c.warmup + repeats) * per_run + parity + SESSION_START_S
    sessions = len(plan(c))
    rounds = min(CALIBRATION_ROUNDS, sessions) - 1  # the first is in SETUP_S
    strategies = len({(p.cluster.name, p.strategy) for p in plan(c)})
    return SETUP_S + rounds * CALIBRATION_ROUND_S + strategies * per_strategy


def cluster_cores(cluster: ClusterConfig, spark: SparkConfig, machine_cores: int) -> int | None:
    """The cores a cluster's executors may use, from the config alone; None when it cannot say.

    Local mode: the N of ``local[N]`` (``*``: the machine); a standalone cluster udfbench starts: its
    workers' cores; a local Connect server udfbench starts: its ``local[cores]`` (the machine's when
    unset); an external cluster or Connect endpoint: executor instances x executor cores when both
    are set.
    """
    if cluster.kind == "standalone":
        return cluster.workers * cluster.worker_cores
    if cluster.kind == "connect" and cluster.master is None:
        return cluster.cores or machine_cores
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


def run_folder_name(config: BenchConfig, when: datetime) -> str:
    """The name of a run folder made under output_dir: ``<UTC time>-<name>``, in file-name-safe letters."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name).strip("-") or "run"
    return f"{when.strftime('%Y%m%d-%H%M%S')}-{safe}"


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
