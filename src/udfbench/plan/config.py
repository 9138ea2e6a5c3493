"""The bench.yaml file format: pydantic models, loading, overrides and error messages.

This is the one module that knows the file format. Unknown keys are errors, relative paths are
resolved against the config file's folder, and every problem is reported as one line naming the file
and the field (``UserError``), never as a traceback.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from udfbench.errors import UserError, read_text
from udfbench.plan.names import MODEL_SUFFIXES, STRATEGY_NAMES
from udfbench.plan.repeats import MIN_AUTO_REPEATS

# The validation context a run folder's recorded config (meta.json) is read with: a strategy removed
# from the registry since the run still reads, so old runs stay in reports and history; a config to
# run must name strategies that exist.
RECORDED = "recorded"

# Strict: YAML's `true` is not the number 1, and "3" is not 3.
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
# Spark reads local[N]'s numbers, spark.task.cpus, the Arrow batch bounds and a repartition's count
# as Java ints: a larger number fails only inside the JVM, with a Java error.
_JAVA_INT_MAX = 2**31 - 1
JavaInt = Annotated[int, Field(gt=0, le=_JAVA_INT_MAX, strict=True)]
# Spark's size strings (JavaUtils.byteStringAs): a whole number and an optional unit, in bytes at most
# what a Java long holds.
_SIZE = re.compile(r"([1-9]\d*)([kmgtp]b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}
_JAVA_LONG_MAX = 2**63 - 1


def size_bytes(size: str) -> int:
    """A Spark size string in bytes (``64m`` is 67108864; no unit: bytes); ValueError unless it is one."""
    match = _SIZE.fullmatch(size)
    if match is None:
        raise ValueError(f"{size!r} is not a Spark size; expected a number and a unit, like 512m or 2g")
    count = int(match.group(1)) << _SIZE_UNITS[(match.group(2) or "").lower()[:1]]
    if count > _JAVA_LONG_MAX:
        raise ValueError(
            f"{size!r} is more than a Spark size holds (at most 8191p: Spark counts bytes in a long)"
        )
    return count


def _byte_count(value: Any) -> Any:
    """A number of bytes as Spark writes one (``64m``) or as a whole number."""
    return size_bytes(value) if isinstance(value, str) else value


def _distinct(values: list[Any]) -> list[Any]:
    """A sweep's values: each once (a value listed twice would run the same case twice)."""
    return _once_each(values, "value")


class _SweepMarker:
    """Marks a setting that a run may sweep; everything else about the axis is derived from it."""


SWEEP = _SweepMarker()
_ByteCount = Annotated[JavaInt, BeforeValidator(_byte_count)]
_OneOrMany = JavaInt | Annotated[list[JavaInt], Field(min_length=1), AfterValidator(_distinct)]
_BytesOneOrMany = _ByteCount | Annotated[list[_ByteCount], Field(min_length=1), AfterValidator(_distinct)]
# A knob that a run may sweep: one value, or a list of distinct values that become an axis of the
# cases. Declaring a field of one of these types in BenchConfig or SparkConfig is all it takes to add
# an axis: the case identity, the results column, the grid and the report's plot follow from it.
Sweepable = Annotated[_OneOrMany, SWEEP]
# The same, where unset (None) means Spark's own default.
SweepableOrUnset = Annotated[_OneOrMany | None, SWEEP]
# A byte count (a whole number or Spark's size syntax, 64m), where unset means Spark's default.
SweepableBytesOrUnset = Annotated[_BytesOneOrMany | None, SWEEP]

BUILTIN = "builtin"
CONNECT_START_TIMEOUT_S = 180.0
# A Spark Connect endpoint: sc://host[:port][/;param=value;...].
_CONNECT = re.compile(r"sc://[^\s/:;]+(:\d+)?(/(;[^\s;=]+=[^\s;]*)*)?")

# The master URLs Spark understands (https://spark.apache.org/docs/latest/submitting-applications.html
# #master-urls): anything else would only fail inside the JVM with a Java stack trace.
_MASTER = re.compile(
    r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]"
    r"|spark://[^\s:/]+:\d+(,[^\s:/]+:\d+)*|yarn|k8s://\S+"
)
_MASTER_FORMS = (
    "local, local[N], local[*], local[N,M], local-cluster[N,C,M], spark://host:port, yarn"
    " or k8s://https://host:port"
)


def _master_url(master: str) -> str:
    if master.startswith("sc://"):
        if not _CONNECT.fullmatch(master):
            raise ValueError(f"{master!r} is not a Spark Connect URL; expected sc://host:port")
    elif not _MASTER.fullmatch(master):
        raise ValueError(f"{master!r} is not a Spark master URL; expected {_MASTER_FORMS} or sc://host:port")
    if master.startswith("local") and any(int(n) > _JAVA_INT_MAX for n in re.findall(r"\d+", master)):
        raise ValueError(f"{master!r}: Spark takes numbers up to {_JAVA_INT_MAX} there")
    spark_or_connect = master.startswith(("spark://", "sc://"))
    ports = [int(port) for port in re.findall(r":(\d+)", master.split("/;")[0])] if spark_or_connect else []
    if any(not 1 <= port <= 65535 for port in ports):
        raise ValueError(f"{master!r}: a port is a number from 1 to 65535")
    return master


def _memory(size: str | None) -> str | None:
    if size is not None:
        try:
            size_bytes(size)
        except ValueError as err:
            raise ValueError(str(err).replace("a Spark size", "a Spark memory size", 1)) from None
    return size


_UNIT_BYTES = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def memory_bytes(size: str) -> int:
    """A Spark size string (checked by ``MemorySize``) in bytes; a bare number is bytes."""
    digits = size.rstrip("bBkKmMgGtTpP")
    return int(digits) * _UNIT_BYTES[size[len(digits) :].lower().rstrip("b") or ""]


# What an executor asks of a worker when spark.executor.memory is unset (Spark's default).
SPARK_DEFAULT_EXECUTOR_MEMORY = "1g"

# A duration as people write one: "2h", "90m", "1h30m", "45s" (hours, minutes, seconds).
_DURATION = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*[hms]\s*)+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def duration_seconds(text: str) -> float:
    """``2h``, ``90m``, ``1h30m`` or ``45s`` in seconds; anything else, or zero, is a ValueError."""
    if not _DURATION.fullmatch(text):
        raise ValueError(f"expected a duration like 2h, 90m, 1h30m or 45s, got {text!r}")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"a duration must be above zero, got {text!r}")
    return seconds


def _duration(text: str) -> str:
    duration_seconds(text)
    return text


MasterUrl = Annotated[str, AfterValidator(_master_url)]
MemorySize = Annotated[str, AfterValidator(_memory)]
Duration = Annotated[str, AfterValidator(_duration)]


def _once_each(values: list[Any], what: str) -> list[Any]:
    """``values`` as given, unless one is listed twice (a size, a class or a strategy names one thing)."""
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} {', '.join(repeated)} is listed more than once")
    return values


def unknown_strategies(names: list[str]) -> str | None:
    """What is wrong with ``names`` as strategies to run: None when the registry has each."""
    unknown = [n for n in names if n not in STRATEGY_NAMES]
    return f"unknown strategy {', '.join(unknown)}; known: {', '.join(STRATEGY_NAMES)}" if unknown else None


def _conf_value(value: Any) -> Any:
    """A Spark conf value as YAML gives it: Spark takes text, so a mapping, a list or a null is no value."""
    if not isinstance(value, str | int | float | bool):
        kind = {dict: "a mapping", list: "a list", type(None): "empty (null)"}.get(type(value))
        raise ValueError(
            f"a Spark conf value is a string, a number or true/false, not {kind or type(value).__name__}"
        )
    return value


ConfValue = Annotated[str | int | float | bool, BeforeValidator(_conf_value)]
# The Spark confs given in Spark's size syntax whose bad value stops the JVM before it can say why
# (the launcher passes spark.driver.memory to -Xmx) or fails every session: checked as sizes.
SIZE_CONFS = frozenset(
    {
        "spark.driver.memory",
        "spark.driver.memoryOverhead",
        "spark.driver.maxResultSize",
        "spark.executor.memory",
        "spark.executor.memoryOverhead",
        "spark.executor.pyspark.memory",
        "spark.memory.offHeap.size",
        "spark.python.worker.memory",
    }
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(Strict):
    seed_images: str = Field(BUILTIN, description="folder of JPEG/PNG seed images, or 'builtin'")
    sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    # numpy's and TensorFlow's seeds are unsigned 32-bit numbers.
    seed: Annotated[int, Field(strict=True, ge=0, lt=2**32)] = 42
    input_mode: Literal["path", "bytes"] = "path"
    on_bad_image: Literal["fail", "skip"] = "fail"
    # A Parquet table of images (file or folder, any URI Spark and pyarrow read) instead of seeds.
    table: str | None = None
    image_column: str = "image"
    id_column: str | None = None
    label_column: str | None = None
    # Where to write the synthetic set (Parquet with the image bytes) so that every strategy reads it
    # from there: what a cluster whose nodes share no files with the driver needs.
    stage: str | None = None
    # Write the stage over a folder that holds files udfbench did not write (they are deleted).
    stage_overwrite: bool = False
    # Who reads a table's image bytes: Spark (its Parquet source, then Arrow to the Python workers),
    # or pyarrow in the process that predicts (Spark hands it only each row's place in the table).
    read_with: Literal["spark", "pyarrow"] = "spark"

    @model_validator(mode="after")
    def _one_input(self) -> DatasetConfig:
        if self.table and self.stage:
            raise ValueError("give either 'table' (an existing table) or 'stage' (write one), not both")
        if self.table and self.seed_images != BUILTIN:
            raise ValueError("'seed_images' is not used with 'table'; leave one out")
        defaults = type(self).model_fields
        columns = [
            c
            for c in ("image_column", "id_column", "label_column")
            if getattr(self, c) != defaults[c].default
        ]
        if columns and not self.table:
            raise ValueError(f"'{columns[0]}' names a column of 'table', which is not given")
        if self.stage_overwrite and not self.stage:
            raise ValueError(
                "'stage_overwrite' says whether 'stage' may replace a folder; 'stage' is not given"
            )
        if self.read_with != "spark" and not (self.table or self.stage):
            raise ValueError("'read_with' says how a 'table' or 'stage' is read; neither is given")
        return self

    @field_validator("sizes")
    @classmethod
    def _distinct_sizes(cls, sizes: list[int]) -> list[int]:
        return _once_each(sizes, "size")


class NormalizeConfig(Strict):
    """Per-channel ``(x - mean) / std`` on RGB images already scaled to [0, 1] (PyTorch's convention)."""

    mean: list[Annotated[float, Field(allow_inf_nan=False)]]
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]]

    @field_validator("mean", "std")
    @classmethod
    def _one_per_channel(cls, values: list[float]) -> list[float]:
        if len(values) != 3:
            raise ValueError(f"needs 3 numbers, one per channel (red, green, blue), got {len(values)}")
        return values


class ModelConfig(Strict):
    path: str | None = Field(None, description="a .keras, .h5 or .onnx file; empty means the built-in CNN")
    # The built-in CNN's input size, and the size fed to a model whose input takes any size.
    image_size: PositiveInt = 192
    classes: Annotated[list[str], Field(min_length=2)] = ["dog", "cat"]
    normalize: NormalizeConfig | None = None

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, classes: list[str]) -> list[str]:
        return _once_each(classes, "class")


class ParityConfig(Strict):
    tolerance: Annotated[float, Field(gt=0, lt=1)] = 1e-4


class SparkConfig(Strict):
    master: MasterUrl = "local[*]"
    driver_memory: MemorySize = "2g"
    executor_instances: PositiveInt | None = None
    executor_cores: PositiveInt | None = None
    executor_memory: MemorySize | None = None
    arrow_batch_size: Sweepable = 10_000
    # spark.sql.execution.arrow.maxBytesPerBatch: image rows are large, so bytes bound a batch too.
    arrow_max_bytes: SweepableBytesOrUnset = None
    partitions: SweepableOrUnset = None
    task_cpus: Sweepable = 1
    threads: SweepableOrUnset = None
    conf: dict[str, ConfValue] = {}

    @field_validator("conf")
    @classmethod
    def _conf_sizes(cls, conf: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        for key, value in conf.items():
            if key in SIZE_CONFS and not isinstance(value, bool):
                try:
                    _memory(str(value))
                except ValueError as err:
                    raise ValueError(f"{key}: {err}") from None
        return conf


class ClusterConfig(Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Literal["local", "standalone", "external", "connect"]
    # local: the master URL is local[cores]; external: the URL given; standalone: started by udfbench;
    # connect: the sc:// URL given, or without one a local Spark Connect server on local[cores] that
    # udfbench starts.
    cores: PositiveInt | None = None
    master: MasterUrl | None = None
    workers: PositiveInt = 2
    worker_cores: PositiveInt = 1
    worker_memory: MemorySize = "2g"
    start_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0
    # standalone (and a local connect server: master_port is its gRPC port): ports to bind on
    # 127.0.0.1; unset means a free one is picked.
    master_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    webui_port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _connect_server_start_timeout(cls, data: Any) -> Any:
        """A local Connect server starts a whole Spark driver: on a busy 2-core machine that took 90 s."""
        local_server = isinstance(data, dict) and data.get("kind") == "connect" and not data.get("master")
        if local_server and "start_timeout_s" not in data:
            return {**data, "start_timeout_s": CONNECT_START_TIMEOUT_S}
        return data

    @model_validator(mode="after")
    def _kind_fields(self) -> ClusterConfig:
        if self.kind == "external" and not self.master:
            raise ValueError("an external cluster needs 'master' (spark://host:7077)")
        if self.kind == "local" and self.master and not self.master.startswith("local"):
            raise ValueError("a local cluster's master must start with 'local'")
        connect = bool(self.master) and self.master.startswith("sc://")
        if connect != (self.kind == "connect") and self.master:
            raise ValueError(
                "an sc:// master is a Spark Connect endpoint: give it as kind: connect"
                if connect
                else "a connect cluster's master is an sc://host:port URL (or none: udfbench starts a server)"
            )
        if self.kind == "connect" and self.master and self.cores:
            raise ValueError(
                "'cores' is for the local server udfbench starts, not an existing sc:// endpoint"
            )
        if self.master_port is not None and self.master_port == self.webui_port:
            raise ValueError(
                f"master_port and webui_port are both {self.master_port}: the master binds each port once"
            )
        return self

    def master_url(self) -> str:
        """The master URL; a local connect server's is known only once started."""
        if self.kind == "local":
            return self.master or (f"local[{self.cores}]" if self.cores else "local[*]")
        assert self.master is not None, (
            "standalone masters and local Connect servers are known only once started"
        )
        return self.master


def scaled_name(cluster: str, cores: int) -> str:
    """The name of a cluster's copy that runs on ``cores`` cores (``scaling``): ``local-2cores``."""
    return f"{cluster}-{cores}core{'' if cores == 1 else 's'}"


class ScalingConfig(Strict):
    """Throughput measured at several core counts: each local or standalone cluster runs once per
    count (a cluster of its own, so one session per count), and ``udfbench plan`` fits how it scales."""

    cores: Annotated[list[PositiveInt], Field(min_length=1)]

    @field_validator("cores")
    @classmethod
    def _distinct_counts(cls, cores: list[int]) -> list[int]:
        return _once_each(cores, "core count")

    def copy_of(self, cluster: ClusterConfig, cores: int) -> ClusterConfig:
        """``cluster`` on ``cores`` cores: ``local[cores]``, or a standalone cluster of
        ``cores / worker_cores`` workers."""
        update: dict[str, Any] = {"name": scaled_name(cluster.name, cores)}
        if cluster.kind == "local":
            update |= {"cores": cores, "master": None}
        else:
            update["workers"] = cores // cluster.worker_cores
        return cluster.model_copy(update=update)


class PlanConfig(Strict):
    """What ``udfbench plan`` projects the run to, and the defaults of its flags (``plan:``)."""

    images: PositiveInt | None = None
    executors: PositiveInt | None = None
    cores_per_executor: PositiveInt | None = None
    # The longest the whole job may take; the plan finds the fewest executors that finish in time.
    deadline: Duration | None = None
    price_per_core_hour: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _executors_or_deadline(self) -> PlanConfig:
        if self.executors is not None and self.deadline is not None:
            raise ValueError(
                "give either 'executors' (the time they take) or 'deadline' (the executors it takes), "
                "not both"
            )
        return self

    @property
    def deadline_s(self) -> float | None:
        return None if self.deadline is None else duration_seconds(self.deadline)


class BenchConfig(Strict):
    name: str = "udfbench"
    dataset: DatasetConfig
    model: ModelConfig = ModelConfig()
    strategies: Annotated[list[str], Field(min_length=1)]
    batch_size: Sweepable = 32
    warmup: NonNegativeInt = 1
    # Measured runs per case, or "auto": repeat until the median is known to within repeat_until
    # (its 95% interval, either side), at least MIN_AUTO_REPEATS and at most max_repeats times, and
    # within the case's share of budget_minutes (plan/repeats.py).
    repeats: PositiveInt | Literal["auto"] = 3
    max_repeats: Annotated[int, Field(ge=MIN_AUTO_REPEATS, strict=True)] = 20
    repeat_until: Annotated[float, Field(gt=0, lt=1)] = 0.03
    sink: Literal["noop", "sorted"] = "noop"
    parity: ParityConfig = ParityConfig()
    spark: SparkConfig = SparkConfig()
    clusters: list[ClusterConfig] | None = None
    # After ``clusters`` and ``spark``: its checks read them.
    scaling: ScalingConfig | None = None
    plan: PlanConfig | None = None
    output_dir: str = "reports"
    # A run estimated to take longer is refused (with the estimate) unless forced.
    budget_minutes: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("repeats", mode="before")
    @classmethod
    def _number_or_auto(cls, repeats: Any) -> Any:
        if isinstance(repeats, str) and repeats != "auto":
            raise ValueError(f"give a whole number of measured runs or 'auto', not {repeats!r}")
        return repeats

    @property
    def auto_repeats(self) -> bool:
        return self.repeats == "auto"

    @property
    def most_repeats(self) -> int:
        """The most measured runs a case takes: ``repeats``, or with ``auto`` ``max_repeats``."""
        return self.max_repeats if self.repeats == "auto" else self.repeats

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, names: list[str], info: ValidationInfo) -> list[str]:
        if not (info.context or {}).get(RECORDED) and (message := unknown_strategies(names)):
            raise ValueError(message)
        return _once_each(names, "strategy")

    @field_validator("clusters")
    @classmethod
    def _unique_cluster_names(cls, clusters: list[ClusterConfig] | None) -> list[ClusterConfig] | None:
        if clusters is not None:
            names = [c.name for c in clusters]
            if not names:
                raise ValueError("list at least one cluster, or leave 'clusters' out")
            if len(set(names)) != len(names):
                raise ValueError("cluster names must be unique")
        return clusters

    @model_validator(mode="after")
    def _standalone_workers_can_run_a_task(self) -> BenchConfig:
        """A standalone cluster whose workers cannot hold one executor, or one task, waits forever
        ("Initial job has not accepted any resources"): refused before anything starts."""
        executor = self.spark.executor_memory or SPARK_DEFAULT_EXECUTOR_MEMORY
        task_cpus = max(_as_list(self.spark.task_cpus))
        for cluster in self.clusters or []:
            if cluster.kind != "standalone":
                continue
            if memory_bytes(executor) > memory_bytes(cluster.worker_memory):
                raise ValueError(
                    f"cluster {cluster.name}: an executor needs {executor} (spark.executor_memory), "
                    f"more than a worker offers (worker_memory: {cluster.worker_memory}): no executor "
                    "could ever start"
                )
            if task_cpus > cluster.worker_cores:
                raise ValueError(
                    f"cluster {cluster.name}: a task needs {task_cpus} cores (spark.task_cpus), more "
                    f"than a worker has (worker_cores: {cluster.worker_cores}): no task could ever run"
                )
        return self

    @model_validator(mode="after")
    def _connect_task_cpus_fixed(self) -> BenchConfig:
        """spark.task.cpus is fixed when a Connect server starts, and no client can change it."""
        connect = [c.name for c in self.configured_clusters() if c.kind == "connect"]
        if connect and len(_as_list(self.spark.task_cpus)) > 1:
            raise ValueError(
                f"cluster {connect[0]} is a Spark Connect server, whose spark.task_cpus is fixed when it "
                "starts: sweep spark.task_cpus on local or standalone clusters"
            )
        return self

    @field_validator("scaling")
    @classmethod
    def _scalable_clusters(cls, scaling: ScalingConfig | None, info: ValidationInfo) -> ScalingConfig | None:
        """Scaling sets each cluster's cores: only clusters udfbench runs (local, standalone) have
        cores to set, and a cluster that fixes its own would be overruled unseen."""
        if scaling is None or "clusters" not in info.data or "spark" not in info.data:
            return scaling
        clusters, spark = info.data["clusters"], info.data["spark"]
        if not clusters and spark.master != "local[*]":
            raise ValueError(
                f"scaling.cores sets the local cores, so spark.master must be local[*] (the default), "
                f"not {spark.master}; or list local or standalone clusters"
            )
        for index, cluster in enumerate(clusters or []):
            named = f"clusters[{index}] ({cluster.name})"
            if cluster.kind in ("external", "connect"):
                raise ValueError(
                    f"{named} is {cluster.kind}: udfbench does not scale its cores; scale local or standalone"
                )
            if cluster.kind == "local" and (cluster.cores or cluster.master):
                raise ValueError(f"{named} fixes its cores ('cores' or 'master'): scaling.cores sets them")
            uneven = [n for n in scaling.cores if n % cluster.worker_cores]
            if cluster.kind == "standalone" and uneven:
                raise ValueError(
                    f"{named} has {cluster.worker_cores} cores per worker: {uneven[0]} cores is no whole "
                    "number of workers"
                )
        names = [scaled_name(c.name, n) for c in clusters or [] for n in scaling.cores]
        taken = {c.name for c in clusters or []} & set(names)
        if taken:
            raise ValueError(f"a cluster is named {sorted(taken)[0]}, the name of a scaled copy: rename it")
        return scaling

    def configured_clusters(self) -> list[ClusterConfig]:
        """The clusters as configured; without a ``clusters`` list, the one that ``spark.master`` names."""
        if self.clusters:
            return list(self.clusters)
        master = self.spark.master
        kind = (
            "local" if master.startswith("local") else "connect" if master.startswith("sc://") else "external"
        )
        return [ClusterConfig(name=kind, kind=kind, master=master)]

    def cluster_list(self) -> list[ClusterConfig]:
        """The clusters to run on: those configured, each once per ``scaling`` core count."""
        clusters = self.configured_clusters()
        if self.scaling is None:
            return clusters
        return [self.scaling.copy_of(cluster, cores) for cluster in clusters for cores in self.scaling.cores]

    def cluster_bases(self) -> dict[str, str]:
        """Each cluster a run ran on (``cluster`` in results.csv), by name, to the configured cluster
        it is a copy of (itself without ``scaling``)."""
        bases = {}
        for cluster in self.configured_clusters():
            for cores in self.scaling.cores if self.scaling else [None]:
                bases[cluster.name if cores is None else scaled_name(cluster.name, cores)] = cluster.name
        return bases


def _sweep_paths() -> dict[str, tuple[str, ...]]:
    """Every sweepable setting by name, with its path in bench.yaml, in declaration order."""
    found: dict[str, tuple[str, ...]] = {}
    for section, model in (((), BenchConfig), (("spark",), SparkConfig)):
        for name, info in model.model_fields.items():
            if SWEEP in info.metadata:
                found[name] = (*section, name)
    return found


SWEEP_PATHS = _sweep_paths()
# The names of the swept settings: columns of results.csv and parts of every case's identity.
AXES: tuple[str, ...] = tuple(SWEEP_PATHS)
# The swept settings that may be unset (Spark's default): None where a results file predates them.
UNSET_AXES = frozenset(
    name
    for name, path in SWEEP_PATHS.items()
    if (SparkConfig if path[0] == "spark" else BenchConfig).model_fields[name].default is None
)

# The swept settings of one case: every combination of the list-valued knobs.
Axes = create_model(
    "Axes",
    __base__=Strict,
    __doc__="The swept settings of one case (None: Spark's default).",
    **{name: (int | None, ...) for name in AXES},
)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _setting(config: BenchConfig, path: tuple[str, ...]) -> Any:
    node: Any = config
    for part in path:
        node = getattr(node, part)
    return node


def axes_grid(config: BenchConfig) -> list[Axes]:
    values = [_as_list(_setting(config, path)) for path in SWEEP_PATHS.values()]
    return [Axes(**dict(zip(AXES, combo, strict=True))) for combo in itertools.product(*values)]


def _is_branch(item: Any) -> bool:
    """Whether a part of a pydantic error's location names a validator or a union's branch (a
    sweepable setting is one number or a list of them), not a key of the file."""
    return isinstance(item, str) and (
        item.startswith(("function-", "list[", "constrained-")) or item in {"int", "none"}
    )


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error's location as the file's keys: ``clusters[0].master``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not _is_branch(item):
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def error_text(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as the user reads it: our own checks' messages without the
    "Value error, " pydantic puts before them."""
    return error["msg"].removeprefix("Value error, ")


def _first_error(path: Path, err: ValidationError) -> UserError:
    """The first problem in the file, in one line. A value that fits none of a union's branches
    fails in each: those failures are one problem, told by the branch of the value's type, else the
    one it went deepest into (``batch_size: [8, 8]`` is a list with a value twice and
    ``batch_size: [0]`` one whose item is too small, not "not an integer")."""
    problems: dict[tuple[Any, ...], list[Any]] = {}
    for e in err.errors(include_url=False):
        loc = e["loc"]
        branch = next((i for i, item in enumerate(loc) if _is_branch(item)), len(loc))
        problems.setdefault(loc[:branch], []).append(e)
    first = next(iter(problems.values()))
    of_its_type = [e for e in first if not e["type"].endswith("_type")] or first
    e = max(of_its_type, key=lambda e: len(e["loc"]))
    message = error_text(e)
    if e["type"] == "extra_forbidden":
        message = "unknown key"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return UserError(f"{message}{more}", where=f"{path}: {field_path(e['loc'])}")


def _resolve(base: Path, value: str, where: str) -> str:
    """A path from the config's folder (``~`` is a home folder); ``where`` names the field."""
    try:
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())
    except (RuntimeError, ValueError, OSError) as err:  # ~nosuchuser, a NUL byte
        raise UserError(f"not a usable path: {value!r} ({err})", where=where) from None


def _resolve_uri(base: Path, value: str, where: str) -> str:
    """A URI as given; a plain path (no scheme) taken from the config's folder."""
    return value if "://" in value or value.startswith("file:") else _resolve(base, value, where)


def parse_config(raw: Any, path: Path) -> BenchConfig:
    """Validate an already-loaded mapping; relative paths are taken from ``path``'s folder."""
    if not isinstance(raw, dict):
        raise UserError("the file must be a mapping of keys to values", where=str(path))
    try:
        config = BenchConfig.model_validate(raw)
    except ValidationError as err:
        raise _first_error(path, err) from None
    base = path.parent
    dataset = config.dataset
    if dataset.seed_images != BUILTIN:
        where = f"{path}: dataset.seed_images"
        folder = Path(_resolve(base, dataset.seed_images, where))
        if not folder.is_dir():
            problem = f"{folder} is not a folder" if folder.exists() else f"folder {folder} does not exist"
            raise UserError(problem, where=where)
        dataset = dataset.model_copy(update={"seed_images": str(folder)})
    for field in ("table", "stage"):
        if getattr(dataset, field):
            resolved = _resolve_uri(base, getattr(dataset, field), f"{path}: dataset.{field}")
            dataset = dataset.model_copy(update={field: resolved})
    model = config.model
    if model.path:
        file = Path(_resolve(base, model.path, f"{path}: model.path"))
        if not file.is_file():
            problem = (
                f"{file} is a folder; a model is one {', '.join(MODEL_SUFFIXES)} file"
                if file.is_dir()
                else f"file {file} does not exist"
            )
            raise UserError(problem, where=f"{path}: model.path")
        if file.suffix.lower() not in MODEL_SUFFIXES:
            raise UserError(
                f"a model file must end in {', '.join(MODEL_SUFFIXES)}", where=f"{path}: model.path"
            )
        model = model.model_copy(update={"path": str(file)})
    return config.model_copy(
        update={
            "dataset": dataset,
            "model": model,
            "output_dir": _resolve(base, config.output_dir, f"{path}: output_dir"),
        }
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not "last wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:  # a list or mapping as a key: SafeLoader's own check says where
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise UserError(
            "is a folder, not a config file" if path.is_dir() else "config file not found", where=str(path)
        )
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (safe)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{path}: line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        raise UserError(f"not valid YAML: {err.problem}", where=where) from None
    except yaml.YAMLError as err:
        raise UserError(f"not valid YAML: {err}", where=str(path)) from None


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> BenchConfig:
    """Read, apply command-line overrides (dotted keys), validate."""
    raw = load_yaml(path)
    if isinstance(raw, dict):
        for dotted, value in (overrides or {}).items():
            node = raw
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise UserError(f"cannot override {dotted}: {key} is not a mapping", where=str(path))
            node[leaf] = value
    return parse_config(raw, path)
