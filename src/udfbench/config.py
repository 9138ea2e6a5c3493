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
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from udfbench.errors import UserError, read_text
from udfbench.runtimes.registry import MODEL_SUFFIXES
from udfbench.strategies.registry import STRATEGY_NAMES

# The validation context a run folder's recorded config (meta.json) is read with: a strategy removed
# from the registry since the run still reads, so old runs stay in reports and history; a config to
# run must name strategies that exist.
RECORDED = "recorded"

# Strict: YAML's `true` is not the number 1, and "3" is not 3.
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]


class _SweepMarker:
    """Marks a setting that a run may sweep; everything else about the axis is derived from it."""


SWEEP = _SweepMarker()
_OneOrMany = PositiveInt | Annotated[list[PositiveInt], Field(min_length=1)]
# A knob that a run may sweep: one value, or a list of values that become an axis of the cases.
# Declaring a field of one of these types in BenchConfig or SparkConfig is all it takes to add an
# axis: the case identity, the results column, the grid and the report's plot follow from it.
Sweepable = Annotated[_OneOrMany, SWEEP]
# The same, where unset (None) means Spark's own default.
SweepableOrUnset = Annotated[_OneOrMany | None, SWEEP]

BUILTIN = "builtin"
# Every strategy counts the rows the model saw with an accumulator and ships the model in a
# broadcast; Spark Connect offers neither.
CONNECT_UNSUPPORTED = (
    "Spark Connect (sc://) is not supported: udfbench needs accumulators and broadcasts, "
    "which Spark Connect does not offer; use the cluster's spark:// master URL"
)

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
# Spark reads local[N]'s numbers as Java ints.
_JAVA_INT_MAX = 2**31 - 1
# Spark's size strings (JavaUtils.byteStringAs): a whole number and an optional unit.
_SIZE = re.compile(r"[1-9]\d*([kmgtp]b?|b)?", re.IGNORECASE)


def _master_url(master: str) -> str:
    if master.startswith("sc://"):
        raise ValueError(CONNECT_UNSUPPORTED)
    if not _MASTER.fullmatch(master):
        raise ValueError(f"{master!r} is not a Spark master URL; expected {_MASTER_FORMS}")
    if master.startswith("local") and any(int(n) > _JAVA_INT_MAX for n in re.findall(r"\d+", master)):
        raise ValueError(f"{master!r}: Spark takes numbers up to {_JAVA_INT_MAX} there")
    return master


def _memory(size: str | None) -> str | None:
    if size is not None and not _SIZE.fullmatch(size):
        raise ValueError(
            f"{size!r} is not a Spark memory size; expected a number and a unit, like 512m or 2g"
        )
    return size


MasterUrl = Annotated[str, AfterValidator(_master_url)]
MemorySize = Annotated[str, AfterValidator(_memory)]


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(Strict):
    seed_images: str = Field(BUILTIN, description="folder of JPEG/PNG seed images, or 'builtin'")
    sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    seed: Annotated[int, Field(strict=True)] = 42
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
    arrow_max_bytes: SweepableOrUnset = None
    partitions: SweepableOrUnset = None
    task_cpus: Sweepable = 1
    threads: SweepableOrUnset = None
    conf: dict[str, str | int | float | bool] = {}


class ClusterConfig(Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Literal["local", "standalone", "external"]
    # local: the master URL is local[cores]; external: the URL given; standalone: started by udfbench.
    cores: PositiveInt | None = None
    master: MasterUrl | None = None
    workers: PositiveInt = 2
    worker_cores: PositiveInt = 1
    worker_memory: MemorySize = "2g"
    start_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0
    # standalone: ports to bind on 127.0.0.1; unset means a free one is picked.
    master_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    webui_port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> ClusterConfig:
        if self.kind == "external" and not self.master:
            raise ValueError("an external cluster needs 'master' (spark://host:7077 or sc://host:15002)")
        if self.kind == "local" and self.master and not self.master.startswith("local"):
            raise ValueError("a local cluster's master must start with 'local'")
        return self

    def master_url(self) -> str:
        if self.kind == "local":
            return self.master or (f"local[{self.cores}]" if self.cores else "local[*]")
        assert self.master is not None, "standalone masters are known only once started"
        return self.master


class BenchConfig(Strict):
    name: str = "udfbench"
    dataset: DatasetConfig
    model: ModelConfig = ModelConfig()
    strategies: Annotated[list[str], Field(min_length=1)]
    batch_size: Sweepable = 32
    warmup: NonNegativeInt = 1
    repeats: PositiveInt = 3
    sink: Literal["noop", "sorted"] = "noop"
    parity: ParityConfig = ParityConfig()
    spark: SparkConfig = SparkConfig()
    clusters: list[ClusterConfig] | None = None
    output_dir: str = "reports"
    # A run estimated to take longer is refused (with the estimate) unless forced.
    budget_minutes: Annotated[float, Field(gt=0)] = 60.0

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

    def cluster_list(self) -> list[ClusterConfig]:
        """The clusters to run on; without a ``clusters`` list, the one that ``spark.master`` names."""
        if self.clusters:
            return list(self.clusters)
        master = self.spark.master
        kind = "local" if master.startswith("local") else "external"
        return [ClusterConfig(name=kind, kind=kind, master=master)]


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
    fails in each: those failures are one problem, told by the branch the value went deepest into
    (``batch_size: [0]`` is a list whose item is too small, not "not an integer")."""
    problems: dict[tuple[Any, ...], list[Any]] = {}
    for e in err.errors(include_url=False):
        loc = e["loc"]
        branch = next((i for i, item in enumerate(loc) if _is_branch(item)), len(loc))
        problems.setdefault(loc[:branch], []).append(e)
    e = max(next(iter(problems.values())), key=lambda e: len(e["loc"]))
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
            raise UserError(f"file {file} does not exist", where=f"{path}: model.path")
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
