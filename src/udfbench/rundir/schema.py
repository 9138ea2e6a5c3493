"""The run folder's files and their schema: the one place that knows what a row and meta.json hold.

A run folder holds ``results.csv`` (tidy, long: one row per timed run of a case, warmups included),
``parity.csv`` (one row per row-by-row prediction check) and ``meta.json`` (config, versions,
machine, setup timings). Every number in a report, comparison or check is derived from these files,
so nothing downstream needs Spark or TensorFlow. ``writers`` appends them as they are measured,
``files`` reads them back, ``identity`` says which rows are one case.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from udfbench.plan.config import AXES, UNSET_AXES, BenchConfig
from udfbench.rundir.limits import Limit, limit_images_per_s

SCHEMA_VERSION = 1
# The packages whose versions meta.json records (``versions``); ``check`` compares them too.
PACKAGES = (
    "udfbench",
    "pyspark",
    "pyarrow",
    "pandas",
    "numpy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "pillow",
    "onnxruntime",
    # the other engines' strategies (udfbench[ray], udfbench[daft]), where installed
    "ray",
    "daft",
)
RESULTS_FILE = "results.csv"
PARITY_FILE = "parity.csv"
META_FILE = "meta.json"

# A timed run during which other processes took more of the machine's CPU than this is "busy": its
# time says as much about the neighbours as about the strategy.
BUSY_FOREIGN_CPU_PCT = 10.0

Status = Literal["ok", "failed", "unsupported", "parity_failed"]
# A dataset's rows: far more than any run measures is a damaged file, not a size (a size of 1e23 made
# a report of 8.5e24 images/s).
MAX_SIZE = 10**12
DatasetSize = Annotated[int, Field(gt=0, le=MAX_SIZE)]


class CsvRow(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Run(CsvRow):
    """A timed run's row: one that ended "ok" was measured, so its seconds are a real duration."""

    @field_validator("seconds", check_fields=False)
    @classmethod
    def _measured(cls, seconds: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("status") == "ok" and not (
            seconds is not None and math.isfinite(seconds) and seconds > 0
        ):
            raise ValueError(
                "a run that ended ok needs its seconds, a positive number; "
                f"this one has {'none' if seconds is None else seconds}"
            )
        return seconds


_MEASUREMENT: dict[str, Any] = {
    "cores": (PositiveInt, ...),  # executor cores of the cluster (driver cores for local strategies)
    "slots": (PositiveInt, ...),  # tasks at once: min(cores / task_cpus, partitions); 1 for a loop
    "repeat": (int, ...),
    "warmup": (bool, ...),
    "status": (Status, ...),
    "seconds": (float | None, ...),
    "rows": (NonNegativeInt, ...),
    "skipped": (NonNegativeInt, ...),
    "images_per_s": (float | None, ...),
    # Model loads in the workers during this run: cold runs only, once per Python worker.
    "model_loads": (int, ...),
    "load_s": (float, ...),
    "decode_s": (float, ...),
    "predict_s": (float, ...),
    # What the instruments read while the run was on (instruments.py); empty where they cannot see.
    "driver_peak_rss_mb": (float | None, None),
    "worker_peak_rss_mb": (float | None, None),  # the largest Python worker
    "executor_peak_rss_mb": (float | None, None),  # the largest executor JVM (local mode: the driver's)
    "python_workers": (int | None, None),  # Python workers alive at once
    "worker_threads": (int | None, None),  # math threads each Python worker's runtime uses
    "oversubscribed": (bool | None, None),  # python_workers x worker_threads > cores
    "foreign_cpu_pct": (float | None, None),  # the machine's CPU that other processes took
    # CPU seconds of the run's own processes (driver, Python workers, local executor JVMs) during it:
    # what other processes on a shared machine cannot steal, as they steal wall time.
    "cpu_s": (float | None, None),
    "lost_executors": (int | None, None),  # executors the cluster lost so far in this session
    "error": (str, ""),
    # 0: the run as planned; k: the k-th round of reruns by ``check --confirm`` (absent in older files).
    "confirmation": (int, 0),
    # With ``repeats: auto``, on a case's last measured run: why it stopped repeating (plan/repeats.py).
    "stopped_because": (Literal["converged", "max_repeats", "budget"] | None, None),
}
# One row per timed run of a case. The swept settings' columns come from config.AXES; a setting
# that may be unset defaults to None, so results written before it existed still read.
ResultRow = create_model(
    "ResultRow",
    __base__=_Run,
    run_id=(str, ...),
    cluster=(str, ...),
    strategy=(str, ...),
    eval_type=(str, ...),
    size=(DatasetSize, ...),
    input_mode=(str, ...),
    sink=(str, ...),
    **{name: (int | None, None if name in UNSET_AXES else ...) for name in AXES},
    **_MEASUREMENT,
)


class ParityRow(CsvRow):
    run_id: str
    cluster: str
    strategy: str
    size: int
    rows: int
    label_mismatches: int
    max_score_diff: float | None
    tolerance: float
    status: Literal["ok", "failed"]
    detail: str = ""
    # The fraction of rows with a true class (file name or label column) predicted as it.
    accuracy: float | None = None


class CalibrationRound(BaseModel):
    """One short calibration, taken at one moment of the run (before the first case, between sessions):
    a machine that other processes share is quiet at some moments and busy at others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    when: str  # "before the first case", "before local/udf"
    decode_ms: float
    predict_ms: dict[int, float]
    limit_images_per_s: float | None  # for the calibration's cores
    repeats: int
    seconds: float
    foreign_cpu_pct: float | None  # the machine's CPU that other processes took meanwhile

    @property
    def busy(self) -> bool:
        return self.foreign_cpu_pct is not None and self.foreign_cpu_pct > BUSY_FOREIGN_CPU_PCT

    @property
    def cost_ms(self) -> float:
        """Decode plus predict at the best batch size, per image: the lower, the higher the limit."""
        return self.decode_ms + min(self.predict_ms.values())


class Calibration(BaseModel):
    """The machine's physical limit for this model and these seeds; goes into meta.json as ``calibration``.

    Its figures are those of the best quiet round (``rounds``; the best of them all, marked busy, when
    every round was busy). A run before rounds were kept has none: its figures are its one round.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    decode_ms: float  # decode+resize per image, weighted as the datasets draw the seeds
    predict_ms: dict[int, float]  # predict per image, by batch size (always includes 1)
    best_batch_size: int
    gflop_per_image: float | None
    gflop_per_s: float | None  # achieved by one process (one core) at the best batch size
    flops_unknown_reason: str | None
    cores: int | None  # the cores the limit is for
    limit_images_per_s: float | None
    limit_unknown_reason: str | None
    processes: int  # single-threaded processes that measured at once
    repeats: int  # measured repetitions per process (the fewest any process made)
    images_used: int  # distinct seed images measured
    images_skipped: int  # distinct seed images that could not be read
    seconds: float  # wall time of every round, process start included
    # The machine's CPU that other processes took while the chosen round measured (absent in older
    # runs): a busy calibration understates the limit, so no case is called implausible against it.
    foreign_cpu_pct: float | None = None
    # Every round, in the order taken (absent in older runs, which took one).
    rounds: list[CalibrationRound] = []
    # Whether the limit comes from a busy round, which is chosen only when every round was busy: then
    # the limit is understated and no case is called implausible against it. Derived from
    # foreign_cpu_pct, and written out so that meta.json says it.
    busy: bool = False

    @model_validator(mode="before")
    @classmethod
    def _busy_from_foreign_cpu(cls, data: Any) -> Any:
        if isinstance(data, dict):
            pct = data.get("foreign_cpu_pct")
            data = data | {"busy": pct is not None and pct > BUSY_FOREIGN_CPU_PCT}
        return data

    @property
    def limit_spread(self) -> tuple[float, float] | None:
        """The lowest and highest limit of the quiet rounds (of every round when all were busy); None
        with fewer than two such rounds or no limit."""
        rounds = [r for r in self.rounds if not r.busy] or self.rounds
        limits = [r.limit_images_per_s for r in rounds if r.limit_images_per_s is not None]
        return (min(limits), max(limits)) if len(limits) > 1 else None

    def limit_for(self, cores: int | None) -> Limit:
        """The limit for another number of cores (a cluster's executors), from the same measurements."""
        return limit_images_per_s(cores, self.decode_ms, self.predict_ms)


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    name: str
    status: Literal["running", "complete", "interrupted", "failed"]
    started_at: str
    finished_at: str | None = None
    config_file: str
    # Read back through the config models: config.py stays the one place that knows the format.
    config: BenchConfig
    model: dict[str, Any] = {}
    # How many seed images and a digest of their bytes (``dataset.seeds_digest``); absent in older runs.
    seed_images: dict[str, Any] = {}
    versions: dict[str, str] = {}
    machine: dict[str, Any] = {}
    git_commit: str | None = None
    spark_conf: dict[str, dict[str, str]] = {}
    # The driver machine's limit for this model and seeds (None: not calibrated, with --no-calibrate).
    calibration: Calibration | None = None
    calibration_error: str | None = None
    # Per cluster: the cores its executors may use and the limit for them (None with a reason).
    limits: dict[str, Limit] = {}
    setup_seconds: dict[str, dict[str, float]] = {}
    # What was read: seed folder or table URI, image column, stage (see Workload.description).
    input: dict[str, Any] = {}
    error: str | None = None
    # When ``run --resume`` took the run up again after an interruption, oldest first.
    resumed_at: list[str] = []
