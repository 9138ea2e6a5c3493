"""The capacity plan: time, core-hours, cost and memory for N images on K executors, with intervals.

Read from a run folder's measured runs alone. Per strategy (and settings, and configured cluster),
two models, fitted together:

    seconds(rows, n cores) = fixed + rows x per_row(n)               one fixed cost, least squares
    throughput(n) = 1 / per_row(n) = λn / (1 + σ(n−1) + κn(n−1))     the Universal Scalability Law

The law is fitted where three or more core counts were measured, Amdahl's law (κ = 0) where two; with
one, scaling is assumed linear (σ = κ = 0) and every output says so. Written as core-seconds per row,
n x per_row(n) = 1/λ + (σ/λ)(n−1) + (κ/λ)n(n−1) is linear in its coefficients, which scipy's
non-negative least squares fits: σ, κ ≥ 0, since no law of contention promises better than linear.

The 95% intervals come from one seeded bootstrap: measured runs are resampled within each (core
count, size) cell, and each resample refits the cost model and the law together, so an interval of a
projection carries both. Strategies without Spark (eval type ``none``: ``python``, ``python_pipelined``)
run on the driver: executors do not change them, and they are projected at the driver's cores.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from udfbench.analysis.stats import linear_fit
from udfbench.errors import UserError
from udfbench.plan.config import PlanConfig
from udfbench.rundir.files import load_run
from udfbench.rundir.identity import SETTINGS, measured_runs, runs_of_round, setting_text, varying_settings
from udfbench.rundir.limits import IMPLAUSIBLE_FRACTION
from udfbench.rundir.schema import BUSY_FOREIGN_CPU_PCT, RESULTS_FILE, RunMeta

CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 0
# A cost model needs a line through two sizes at least, and an interval two runs of each.
MIN_SIZES = 2
MIN_REPEATS = 2
# Below this r² seconds do not grow in a straight line with rows, and a per-row cost means little.
POOR_R2 = 0.9
# Up to this many times the most cores measured, a projection extends a trend it has seen; past it,
# it is only arithmetic: the law never saw a cluster's network, shuffles or stragglers.
ARITHMETIC_PAST = 2.0
# A peak that grew by more than this from the smallest size to the largest grows with the rows.
MEMORY_GROWTH = 0.10
# The deadline search stops here: beyond it no plan is worth the arithmetic.
MAX_EXECUTORS = 100_000
# Where no number of executors meets a deadline, the plan shows the fewest that come within this
# factor of the least time there is: more would cost more for next to nothing.
NEAREST = 1.1
# The eval type of strategies that run on the driver, without Spark.
DRIVER_ONLY = "none"
LAWS = {1: "linear", 2: "amdahl"}
LAWS_SAID = {"linear": "linear scaling", "amdahl": "Amdahl's law", "usl": "the Universal Scalability Law"}
# The peak memory columns of results.csv, by the process they measure.
MEMORY_ROLES = {
    "worker_peak_rss_mb": "Python worker",
    "executor_peak_rss_mb": "executor JVM",
    "driver_peak_rss_mb": "driver",
}
FAILED = ("failed", "parity_failed", "unsupported")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval; low == high when the runs did not vary."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Scaling:
    """How throughput grows with cores: ``law`` is ``usl``, ``amdahl`` or ``linear`` (assumed)."""

    law: str
    cores_measured: tuple[int, ...]
    lam: float  # λ: rows per second of one core
    sigma: float  # contention: the share of the work that does not run in parallel
    kappa: float  # coherency: what each pair of cores costs each other
    peak_cores: float | None  # where throughput is highest (κ > 0), else None: it never falls
    superlinear: bool  # more cores measured faster than linear: σ or κ clipped at zero
    note: str

    def images_per_s(self, cores: float) -> float:
        coefficients = np.array([1 / self.lam, self.sigma / self.lam, self.kappa / self.lam])
        return float(throughput(coefficients, cores))


@dataclass(frozen=True)
class Measured:
    """What one measured core count gave: per-row cost and throughput per core, r² of its line."""

    cores: int
    per_row_s: Interval
    images_per_s_per_core: Interval
    r2: float
    sizes: tuple[int, ...]
    runs: int


@dataclass(frozen=True)
class Growth:
    """How a process's peak memory grew from the smallest size measured to the largest."""

    role: str
    first_rows: int
    first_mb: float
    last_rows: int
    last_mb: float
    mb_per_1000_rows: float

    @property
    def grew(self) -> bool:
        return self.first_mb > 0 and self.last_mb / self.first_mb - 1 > MEMORY_GROWTH


@dataclass(frozen=True)
class Memory:
    """What an executor needs (``where``: ``per executor``, or ``on the driver`` for a strategy
    without Spark), from the largest peaks measured at the most cores."""

    where: str
    python_workers: int | None  # Python workers at once (per executor, or the driver's processes)
    worker_mb: float | None  # the largest Python worker's peak
    python_mb: float | None  # python_workers x worker_mb
    jvm_mb: float | None  # the largest executor JVM's peak (local mode: driver and executor in one)
    driver_mb: float | None
    measured_cores: int
    growth: tuple[Growth, ...]


@dataclass(frozen=True)
class CurvePoint:
    executors: int
    cores: int
    wall_s: Interval
    cost: Interval | None


@dataclass(frozen=True)
class StrategyPlan:
    name: str  # the strategy, plus the configured cluster and settings where they vary
    strategy: str
    cluster: str
    driver_only: bool
    fixed_s: Interval
    measured: tuple[Measured, ...]
    scaling: Scaling
    executors: int  # the plan's: given, or the fewest that meet the deadline (0: the driver alone)
    cores: int  # the cores projected at: executors x cores per executor, or the driver's
    meets_deadline: bool | None  # None without a deadline
    deadline_note: str
    images_per_s: Interval
    images_per_s_per_core: Interval
    wall_s: Interval
    core_hours: Interval
    cost: Interval | None  # needs a price per core-hour
    cost_per_million: Interval | None
    memory: Memory
    warnings: tuple[str, ...]
    curve: tuple[CurvePoint, ...]


@dataclass(frozen=True)
class LeftOut:
    name: str
    reason: str


@dataclass(frozen=True)
class CapacityPlan:
    run_id: str
    run_dir: str
    images: int
    executors: int | None  # as asked; None with a deadline
    cores_per_executor: int
    cores_per_executor_given: bool  # False: the most cores a Spark strategy was measured on
    deadline: str | None
    deadline_s: float | None
    price_per_core_hour: float | None
    confidence: float
    resamples: int
    seed: int
    measured_cores: tuple[int, ...]
    largest_rows: int
    strategies: tuple[StrategyPlan, ...]
    left_out: tuple[LeftOut, ...]
    notes: tuple[str, ...]


# -- the scaling law --------------------------------------------------------------------------------


def law_for(counts: int) -> str:
    """The law as many core counts can fit: linear (assumed) for one, Amdahl's for two, else USL."""
    return LAWS.get(counts, "usl")


def _design(cores: np.ndarray, law: str) -> np.ndarray:
    n = np.asarray(cores, dtype=float)
    columns = [np.ones_like(n), n - 1, n * (n - 1)]
    return np.column_stack(columns[: {"linear": 1, "amdahl": 2, "usl": 3}[law]])


def fit_law(cores: Sequence[int], core_seconds_per_row: np.ndarray, law: str) -> np.ndarray:
    """The law's coefficients (1/λ, σ/λ, κ/λ) through the core-seconds per row at each core count
    (``[..., count]``: one fit per leading index), by non-negative least squares; those the law leaves
    out (κ for Amdahl's) are zero. Linear scaling has nothing to fit: 1/λ is the core-seconds per row."""
    y = np.asarray(core_seconds_per_row, dtype=float)
    flat = y.reshape(-1, y.shape[-1])
    coefficients = np.zeros((len(flat), 3))
    if law == "linear":
        coefficients[:, 0] = flat[:, 0]
    else:
        design = _design(np.asarray(cores), law)
        for row, values in enumerate(flat):
            fitted, _ = nnls(design, values)
            coefficients[row, : fitted.size] = fitted
    return coefficients.reshape(*y.shape[:-1], 3)


def throughput(coefficients: np.ndarray, cores: float) -> np.ndarray:
    """Rows per second at ``cores`` from the law's coefficients (any leading shape)."""
    a, b, c = coefficients[..., 0], coefficients[..., 1], coefficients[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return cores / (a + b * (cores - 1) + c * cores * (cores - 1))


def scaling_of(coefficients: np.ndarray, cores_measured: Sequence[int], superlinear: bool) -> Scaling:
    """The law's parameters in the usual terms (λ, σ, κ), what it says of its peak, and a note."""
    a, b, c = (float(x) for x in coefficients)
    counts = tuple(sorted(cores_measured))
    law = law_for(len(counts))
    peak = math.sqrt((a - b) / c) if c > 0 and a > b else None
    shown = ", ".join(map(str, counts))
    if law == "linear":
        note = (
            f"scaling assumed linear: throughput was measured at one core count ({shown}), so each "
            "core is taken to add as much as the measured ones did"
        )
    elif law == "amdahl":
        note = f"Amdahl's law (κ = 0) through the two core counts measured ({shown})"
    else:
        note = f"Universal Scalability Law fitted to {len(counts)} core counts ({shown})"
    return Scaling(law, counts, 1 / a, b / a, c / a, peak, superlinear, note)


def fit_scaling(cores: Sequence[int], images_per_s: Sequence[float]) -> Scaling:
    """The law through measured throughputs, one per core count (what ``capacity_plan`` fits inside
    its bootstrap); the law is chosen by how many counts there are."""
    n = np.asarray(cores, dtype=float)
    core_seconds = n / np.asarray(images_per_s, dtype=float)
    law = law_for(len(n))
    coefficients = fit_law(n, core_seconds, law)
    return scaling_of(coefficients, [int(x) for x in n], _superlinear(n, core_seconds))


def _superlinear(cores: np.ndarray, core_seconds: np.ndarray) -> bool:
    """Whether a law fitted freely would take σ or κ below zero: more cores measured faster than
    linear, which the fit clips (a law with a negative σ would promise endless speed-ups)."""
    if cores.size < 2:
        return False
    free, *_ = np.linalg.lstsq(_design(cores, law_for(cores.size)), core_seconds, rcond=None)
    return bool(np.any(free[1:] < -1e-9 * abs(free[0])))


# -- the cost model, resampled ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Samples:
    """Everything fitted, on the measured runs (row 0) and on each bootstrap resample (rows 1..)."""

    counts: np.ndarray  # the distinct core counts, ascending
    fixed: np.ndarray  # [sample]
    per_row: np.ndarray  # [sample, count]
    law: np.ndarray  # [sample, 3]: the coefficients (1/λ, σ/λ, κ/λ); NaN where a fit was not positive
    superlinear: bool

    def wall(self, images: int, cores: float) -> np.ndarray:
        return self.fixed + images / throughput(self.law, cores)


def _resample(measured: pd.DataFrame, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Row positions of each resample: every (cores, size) cell keeps its count of runs."""
    index = np.empty((resamples, len(measured)), dtype=int)
    for positions in measured.groupby(["cores", "size"]).indices.values():
        draws = rng.integers(0, positions.size, size=(resamples, positions.size))
        index[:, positions] = positions[draws]
    return index


def _fit_samples(measured: pd.DataFrame, resamples: int, seed: int) -> _Samples:
    """The cost model (one fixed cost, a per-row cost per core count) and the law, on the runs and
    their resamples. Resampling within cells keeps the sizes, so each fit is the same linear map of
    the seconds: all of them are one matrix product."""
    measured = measured.reset_index(drop=True)
    cores = measured["cores"].to_numpy(dtype=int)
    sizes = measured["size"].to_numpy(dtype=float)
    seconds = measured["seconds"].to_numpy(dtype=float)
    counts = np.unique(cores)
    design = np.column_stack([np.ones_like(sizes), *[sizes * (cores == n) for n in counts]])
    index = _resample(measured, np.random.default_rng(seed), resamples)
    fits = np.vstack([seconds, seconds[index]]) @ np.linalg.pinv(design).T
    per_row = fits[:, 1:]
    law = np.full((len(fits), 3), np.nan)
    positive = np.all(per_row > 0, axis=1)  # a resample whose rows cost nothing has no law
    law[positive] = fit_law(counts, counts * per_row[positive], law_for(counts.size))
    superlinear = _superlinear(counts.astype(float), counts * per_row[0])
    return _Samples(counts, fits[:, 0], per_row, law, superlinear)


def intervals(samples: np.ndarray, confidence: float = CONFIDENCE) -> list[Interval]:
    """Per row of ``samples`` ([quantity, sample]): sample 0's value and the percentile interval of
    the resamples, leaving out those without a figure (NaN, infinite)."""
    tail = (1 - confidence) / 2
    rest = np.where(np.isfinite(samples[:, 1:]), samples[:, 1:], np.nan)
    with warnings.catch_warnings():  # a quantity no resample gave a figure for has a NaN interval
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(rest, [tail, 1 - tail], axis=1)
    return [
        Interval(float(v), float(lo), float(hi)) for v, lo, hi in zip(samples[:, 0], low, high, strict=True)
    ]


def interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """One quantity's value (sample 0) and the percentile interval of its resamples."""
    return intervals(samples[np.newaxis], confidence)[0]


def _scaled(value: Interval, factor: float) -> Interval:
    return Interval(value.value * factor, value.low * factor, value.high * factor)


# -- one strategy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    name: str
    strategy: str
    cluster: str
    runs: pd.DataFrame  # every row of its cases, failed ones too
    measured: pd.DataFrame  # its measured runs


def _units(meta: RunMeta, results: pd.DataFrame) -> list[_Unit]:
    """The plan's rows: a strategy with its settings on a configured cluster (whose scaled copies are
    one cluster measured at several core counts)."""
    rows = runs_of_round(results)
    if rows.empty:
        return []
    bases = meta.config.cluster_bases()
    rows = rows.assign(base=rows["cluster"].map(lambda c: bases.get(c, c)))
    measured = measured_runs(rows)
    varying = varying_settings(rows, SETTINGS)
    many_clusters = rows["base"].nunique() > 1
    units = []
    for key, group in rows.groupby(["base", "strategy", *varying], dropna=False, sort=True):
        base, strategy, *values = key
        parts = [*([str(base)] if many_clusters else []), str(strategy)]
        parts += [f"{c}={setting_text(v)}" for c, v in zip(varying, values, strict=True)]
        own = measured.loc[measured.index.intersection(group.index)]
        units.append(_Unit("/".join(parts), str(strategy), str(base), group, own))
    return units


def _not_plannable(unit: _Unit) -> str | None:
    """Why a strategy cannot be planned (a failure, too few sizes or repeats), or None."""
    failed = unit.runs[unit.runs["status"].isin(FAILED)]
    if len(failed):
        first = failed.iloc[0]
        what = (
            "unsupported" if first["status"] == "unsupported" else f"{first['status']} at n={first['size']}"
        )
        return f"{what} on {first['cluster']}: {first['error'] or 'no reason recorded'}"
    measured = unit.measured
    if measured.empty:
        return "no measured run"
    for cores, at in measured.groupby("cores"):
        sizes = sorted(at["size"].unique())
        if len(sizes) < MIN_SIZES:
            return (
                f"a cost model needs measured runs at {MIN_SIZES} or more sizes; "
                f"has only n={', '.join(map(str, sizes))} at {cores} cores"
            )
        repeats = at.groupby("size").size()
        if repeats.min() < MIN_REPEATS:
            size = int(repeats.idxmin())
            return (
                f"an interval needs {MIN_REPEATS} or more measured runs per size; has {repeats.min()} "
                f"at n={size} on {cores} cores (raise repeats)"
            )
    return None


def _memory(measured: pd.DataFrame, driver_only: bool, cores_per_executor: int) -> Memory:
    """Peaks at the most cores measured (the nearest to an executor), and how each grew with rows."""
    top = int(measured["cores"].max())
    at = measured[measured["cores"] == top]

    def peak(column: str) -> float | None:
        values = at[column].astype(float)
        return float(values.max()) if values.notna().any() else None

    growth = []
    for column, role in MEMORY_ROLES.items():
        if driver_only and column == "executor_peak_rss_mb":  # a JVM of another session, not its own
            continue
        by_size = at.groupby("size")[column].max().astype(float).dropna()
        if len(by_size) < 2:
            continue
        rows, mb = by_size.index.to_numpy(dtype=float), by_size.to_numpy()
        slope = float(np.polyfit(rows, mb, 1)[0])
        growth.append(Growth(role, int(rows[0]), float(mb[0]), int(rows[-1]), float(mb[-1]), slope * 1000))
    workers_at_once = at["python_workers"].astype(float)
    worker_mb = peak("worker_peak_rss_mb")
    if not workers_at_once.notna().any() or not workers_at_once.max() or worker_mb is None:
        workers = None
    elif driver_only:
        workers = int(workers_at_once.max())
    else:  # an executor of C cores runs as many Python workers as C cores of the measured run did
        workers = math.ceil(float((workers_at_once / at["cores"]).max()) * cores_per_executor)
    return Memory(
        where="on the driver" if driver_only else "per executor",
        python_workers=workers,
        worker_mb=worker_mb,
        python_mb=None if workers is None or worker_mb is None else workers * worker_mb,
        jvm_mb=None if driver_only else peak("executor_peak_rss_mb"),
        driver_mb=peak("driver_peak_rss_mb"),
        measured_cores=top,
        growth=tuple(growth),
    )


@dataclass(frozen=True)
class _Target:
    """What the plan asks, resolved: images, executors (None: find them for the deadline), cores."""

    images: int
    executors: int | None
    cores_per_executor: int
    deadline_s: float | None
    price: float | None


def _fewest_executors(upper: Callable[[int], float], deadline_s: float, most: int) -> int | None:
    """The fewest executors, 1..``most``, whose upper end of the time interval meets the deadline;
    the upper end falls as executors are added up to the law's peak, so a bisection finds it."""
    if upper(most) > deadline_s:
        return None
    low, high = 1, most
    while low < high:
        middle = (low + high) // 2
        if upper(middle) <= deadline_s:
            high = middle
        else:
            low = middle + 1
    return low


def _executor_grid(most: int) -> list[int]:
    return sorted({int(k) for k in np.round(np.geomspace(1, max(most, 2), 40))} | {1, most})


def _extrapolation(cores: int, counts: np.ndarray, scaling: Scaling) -> list[str]:
    """How far the projection's cores lie from those measured, said plainly."""
    most, fewest = int(counts.max()), int(counts.min())
    found = []
    if cores > most * ARITHMETIC_PAST:
        found.append(
            f"projected at {cores} cores from runs on at most {most} ({cores / most:.0f}x more): this far "
            f"past the measured cores (over {ARITHMETIC_PAST:g}x) the projection is only arithmetic; the "
            "law never saw a cluster's network, shuffles or stragglers"
        )
    elif cores > most:
        found.append(f"projected at {cores} cores, past the {most} measured: extrapolated")
    elif cores < fewest:
        found.append(f"projected at {cores} cores, fewer than the {fewest} measured: extrapolated")
    if scaling.peak_cores is not None and cores > scaling.peak_cores:
        found.append(
            f"past the fitted peak of throughput at {scaling.peak_cores:.0f} cores: more cores make it slower"
        )
    return found


def _implausible(measured: pd.DataFrame, limits: dict[str, float | None]) -> list[str]:
    """Cases measured faster than the machine's limit allows: their timings are not to be trusted."""
    found = []
    for (cluster, size), at in measured.groupby(["cluster", "size"], sort=True):
        limit = limits.get(str(cluster))
        if not limit:
            continue
        fraction = (int(size) - int(at["skipped"].max())) / float(at["seconds"].median()) / limit
        if fraction > IMPLAUSIBLE_FRACTION:
            found.append(
                f"implausibly fast at n={int(size)} on {cluster} ({fraction:.2f} of the machine's limit): "
                "check the calibration and that every row was predicted"
            )
    return found


def _plan_unit(
    unit: _Unit, samples: _Samples, target: _Target, limits: dict[str, float | None]
) -> StrategyPlan:
    measured = unit.measured
    driver_only = _driver_only(unit)
    scaling = scaling_of(samples.law[0], samples.counts.tolist(), samples.superlinear)
    per_executor = target.cores_per_executor
    deadline_note = ""
    meets: bool | None = None

    def upper(cores: int) -> float:
        return interval(samples.wall(target.images, cores)).high

    if driver_only:  # the driver's cores, whatever the executors
        executors, cores = 0, int(samples.counts.max())
        if target.deadline_s is not None:
            meets = upper(cores) <= target.deadline_s
            deadline_note = (
                "meets the deadline on the driver alone" if meets
                else "misses the deadline on the driver, and executors do not help it"
            )  # fmt: skip
        curve_at = [(k, cores) for k in _executor_grid(16)]
    else:
        if target.deadline_s is None:
            executors = target.executors or 1
        else:
            executors, meets, deadline_note = _for_deadline(samples, scaling, target, upper)
        cores = executors * per_executor
        shown = max(16, (4 if target.deadline_s is None else 2) * executors)
        curve_at = [(k, k * per_executor) for k in _executor_grid(min(shown, MAX_EXECUTORS))]

    seconds = samples.wall(target.images, cores)
    core_hours = interval(seconds * cores / 3600)
    rate = interval(throughput(samples.law, cores))
    price = target.price
    walls = np.stack([samples.wall(target.images, n) for _, n in curve_at])
    times = intervals(walls)
    costs = (
        intervals(walls * np.array([[n] for _, n in curve_at]) / 3600 * price) if price is not None else None
    )
    curve = tuple(
        CurvePoint(k, n, times[i], None if costs is None else costs[i]) for i, (k, n) in enumerate(curve_at)
    )
    measured_counts = _measured_counts(measured, samples)
    memory = _memory(measured, driver_only, per_executor)
    cautions = _warnings(measured, limits, samples, scaling, measured_counts, cores, driver_only)
    rows_each = target.images if driver_only else target.images / max(executors, 1)
    for g in memory.growth:
        if g.grew:
            reach = g.last_mb + g.mb_per_1000_rows * (rows_each - g.last_rows) / 1000
            cautions.append(
                f"the {g.role}'s memory grew with the rows ({g.first_mb:.0f} MB at {g.first_rows} rows, "
                f"{g.last_mb:.0f} MB at {g.last_rows}): a straight line would reach {reach:,.0f} MB at "
                f"{rows_each:,.0f} rows {memory.where}; measure larger sizes before trusting the memory"
            )
    if meets is False:
        cautions.append(deadline_note)
    return StrategyPlan(
        name=unit.name,
        strategy=unit.strategy,
        cluster=unit.cluster,
        driver_only=driver_only,
        fixed_s=interval(samples.fixed),
        measured=measured_counts,
        scaling=scaling,
        executors=executors,
        cores=cores,
        meets_deadline=meets,
        deadline_note=deadline_note,
        images_per_s=rate,
        images_per_s_per_core=_scaled(rate, 1 / cores),
        wall_s=interval(seconds),
        core_hours=core_hours,
        cost=None if price is None else _scaled(core_hours, price),
        cost_per_million=None if price is None else _scaled(core_hours, price * 1e6 / target.images),
        memory=memory,
        warnings=tuple(cautions),
        curve=curve,
    )


def _for_deadline(
    samples: _Samples, scaling: Scaling, target: _Target, upper: Callable[[int], float]
) -> tuple[int, bool, str]:
    """The fewest executors that finish by the deadline (by the upper end of the interval), whether
    any do, and what to say. Past the law's peak more executors only slow the job, so the search
    stops there; where none finish in time, the plan is shown at the executors that come nearest."""
    assert target.deadline_s is not None
    per_executor, deadline = target.cores_per_executor, target.deadline_s
    peak = scaling.peak_cores
    most = MAX_EXECUTORS if peak is None else max(1, min(MAX_EXECUTORS, math.floor(peak / per_executor)))
    fixed = float(samples.fixed[0])
    found = None
    if fixed < deadline:
        found = _fewest_executors(lambda k: upper(k * per_executor), deadline, most)
    if found is not None:
        return found, True, (
            f"{found} executor(s) of {per_executor} cores finish in time, by the upper end of the "
            f"{CONFIDENCE:.0%} interval of the time"
        )  # fmt: skip
    nearest = _nearest(samples, target, most)
    if fixed >= deadline:
        why = f"its fixed cost alone ({fixed:.3g} s) is longer than the deadline"
    elif peak is not None:
        why = f"the fitted throughput peaks at {peak:.0f} cores"
    elif scaling.sigma > 0:
        why = (
            f"{LAWS_SAID[scaling.law]} caps the throughput at λ/σ = {scaling.lam / scaling.sigma:,.0f} "
            "images/s however many cores"
        )
    else:
        why = f"it would take more than {MAX_EXECUTORS:,} executors"
    return nearest, False, (
        f"no number of executors of {per_executor} cores finishes in time: {why}; "
        f"shown at {nearest} executor(s), the fewest within {NEAREST - 1:.0%} of the least time"
    )  # fmt: skip


def _nearest(samples: _Samples, target: _Target, most: int) -> int:
    """The fewest executors, up to ``most``, whose projected time is within ``NEAREST`` of the least
    time any number up to ``most`` gives (the time falls towards ``most``)."""

    def point(executors: int) -> float:
        return float(samples.wall(target.images, executors * target.cores_per_executor)[0])

    found = _fewest_executors(point, point(most) * NEAREST, most)
    return most if found is None else found


def _measured_counts(measured: pd.DataFrame, samples: _Samples) -> tuple[Measured, ...]:
    found = []
    for column, n in enumerate(samples.counts):
        at = measured[measured["cores"] == n]
        fit = linear_fit(at["size"], at["seconds"])
        per_row = samples.per_row[:, column]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_core = np.where(per_row > 0, 1 / (per_row * n), np.nan)
        sizes = tuple(int(s) for s in sorted(at["size"].unique()))
        r2 = fit.r2 if fit is not None else math.nan
        found.append(Measured(int(n), interval(per_row), interval(per_core), r2, sizes, len(at)))
    return tuple(found)


def _warnings(
    measured: pd.DataFrame,
    limits: dict[str, float | None],
    samples: _Samples,
    scaling: Scaling,
    counts: tuple[Measured, ...],
    cores: int,
    driver_only: bool,
) -> list[str]:
    """What makes a strategy's projection doubtful, each said plainly."""
    found = []
    if driver_only:
        found.append(
            f"runs on the driver without Spark: executors do not change it; projected at the driver's "
            f"{cores} cores"
        )
    else:
        if scaling.law == "linear":
            found.append(scaling.note)
        if scaling.superlinear:
            found.append(
                "more cores measured faster than linear (caches, or noise), which no law extrapolates: "
                "projected as no better than linear"
            )
        found += _extrapolation(cores, samples.counts, scaling)
    fixed = interval(samples.fixed)
    if fixed.high < 0:
        found.append(
            f"the fixed cost fitted below zero ({fixed.value:.3g} s, {CONFIDENCE:.0%} interval "
            f"{fixed.low:.3g} to {fixed.high:.3g}): seconds grew faster than the rows over the measured "
            "sizes (the larger runs slower per row, or on a busier machine), so the per-row cost, and "
            "the projection, lean high"
        )
    for m in counts:
        if m.r2 < POOR_R2:
            found.append(
                f"the cost model fits poorly at {m.cores} cores (r² {m.r2:.2f}): seconds do not grow in a "
                "straight line with rows, so the per-row cost is uncertain"
            )
    busy = int((measured["foreign_cpu_pct"].astype(float) > BUSY_FOREIGN_CPU_PCT).sum())
    if busy:
        found.append(
            f"{busy} of {len(measured)} measured runs were on a busy machine (other processes took over "
            f"{BUSY_FOREIGN_CPU_PCT:.0f}% of the CPU): their times include the neighbours'"
        )
    return found + _implausible(measured, limits)


# -- the whole plan ---------------------------------------------------------------------------------


def _driver_only(unit: _Unit) -> bool:
    return bool((unit.runs["eval_type"] == DRIVER_ONLY).all())


def _target(settings: PlanConfig, planned: list[_Unit]) -> _Target:
    if settings.images is None:
        raise UserError("how many images to plan for is not given", where="images")
    spark = [u for u in planned if not _driver_only(u)]
    measured = pd.concat([u.measured for u in spark or planned])
    return _Target(
        images=settings.images,
        executors=None if settings.deadline else (settings.executors or 1),
        cores_per_executor=settings.cores_per_executor or int(measured["cores"].max()),
        deadline_s=settings.deadline_s,
        price=settings.price_per_core_hour,
    )


def _refusal(left_out: list[LeftOut]) -> str:
    """Why nothing can be planned, one line: the strategies grouped by the reason they share."""
    by_reason: dict[str, list[str]] = {}
    for item in left_out:
        by_reason.setdefault(item.reason, []).append(item.name)
    reasons = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
    return f"no strategy can be planned: {reasons}"


def capacity_plan(
    meta: RunMeta,
    results: pd.DataFrame,
    settings: PlanConfig,
    run_dir: Path,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> CapacityPlan:
    """The plan for ``settings`` from a run's meta and results; see the module docstring.

    A strategy whose runs failed, or that has too few sizes or repeats for a cost model, is left out
    and listed; a run with nothing to plan, or a deadline shorter than every strategy's fixed cost,
    is a ``UserError`` (``where`` names the setting at fault: ``images``, ``deadline``; or the file).
    """
    planned: list[tuple[_Unit, _Samples]] = []
    left_out = []
    for unit in _units(meta, results):
        reason = _not_plannable(unit)
        if reason is None:
            samples = _fit_samples(unit.measured, resamples, seed)
            flat = [int(n) for n, cost in zip(samples.counts, samples.per_row[0], strict=True) if cost <= 0]
            if flat:
                reason = f"seconds did not grow with rows at {flat[0]} cores: there is no per-row cost"
        if reason is None:
            planned.append((unit, samples))
        else:
            left_out.append(LeftOut(unit.name, reason))
    if not planned:
        reason = _refusal(left_out) if left_out else "no timed runs recorded"
        raise UserError(reason, where=str(run_dir / RESULTS_FILE))
    target = _target(settings, [unit for unit, _ in planned])
    # A limit calibrated on a busy machine is understated: nothing is called implausible against it.
    busy = meta.calibration is not None and meta.calibration.busy
    limits = {} if busy else {name: limit.images_per_s for name, limit in meta.limits.items()}
    plans = [_plan_unit(unit, samples, target, limits) for unit, samples in planned]
    if target.deadline_s is not None:
        shortest = min(plans, key=lambda p: p.fixed_s.value)
        if shortest.fixed_s.value >= target.deadline_s:
            raise UserError(
                f"{settings.deadline} is shorter than the fixed cost of every strategy (the shortest: "
                f"{shortest.name}'s {shortest.fixed_s.value:.3g} s): no number of executors finishes in time",
                where="deadline",
            )
    every = pd.concat([unit.measured for unit, _ in planned])
    largest = int(every["size"].max())
    notes = [
        f"Projected to {target.images:,} images from runs of at most {largest:,} rows "
        f"({target.images / largest:,.0f}x): the cost is taken to stay a straight line in rows.",
        "Core-hours count the executors' cores for the wall time (the driver's cores for a strategy "
        "without Spark); the driver of a Spark job is not counted.",
        f"Intervals are {CONFIDENCE:.0%} percentile bootstraps over the measured runs ({resamples} "
        f"resamples, seed {seed}), refitting the cost model and the scaling law together.",
    ]
    return CapacityPlan(
        run_id=meta.run_id,
        run_dir=str(run_dir),
        images=target.images,
        executors=target.executors,
        cores_per_executor=target.cores_per_executor,
        cores_per_executor_given=settings.cores_per_executor is not None,
        deadline=settings.deadline,
        deadline_s=target.deadline_s,
        price_per_core_hour=target.price,
        confidence=CONFIDENCE,
        resamples=resamples,
        seed=seed,
        measured_cores=tuple(sorted(int(n) for n in every["cores"].unique())),
        largest_rows=largest,
        strategies=tuple(plans),
        left_out=tuple(left_out),
        notes=tuple(notes),
    )


def plan_run(run_dir: Path, settings: PlanConfig) -> CapacityPlan:
    """The plan of a run folder (its files only: no Spark, no TensorFlow)."""
    meta, results = load_run(run_dir)
    return capacity_plan(meta, results, settings, run_dir)


def default_out_dir(run_dir: Path) -> Path:
    """A new folder next to the run: ``plan-<UTC time>``."""
    return run_dir.parent / f"plan-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
