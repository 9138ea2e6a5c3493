"""Shared fixtures: one local Spark session for the whole test session, small seeds and a small model.

Tests that run a whole benchmark go through the ``udfbench`` command in a subprocess (as a user
would), so they never fight the shared session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from udfbench.config import ModelConfig
from udfbench.dataset import SeedImage, write_builtin_seeds
from udfbench.results import ResultRow

TEST_IMAGE_SIZE = 48


@pytest.fixture(scope="session")
def spark():
    from udfbench.cluster import session_conf, spark_session
    from udfbench.config import SparkConfig

    conf = session_conf(SparkConfig(driver_memory="1g"), task_cpus=1, threads=None)
    with spark_session("local[2]", "udfbench-tests", conf) as session:
        yield session


@pytest.fixture(scope="session")
def seeds(tmp_path_factory) -> list[SeedImage]:
    return write_builtin_seeds(tmp_path_factory.mktemp("seeds"), seed=7)


@pytest.fixture(scope="session")
def small_model():
    """The built-in CNN at a small input size: same layers, a fraction of the compute."""
    from udfbench.model import prepare_model

    spec, _ = prepare_model(ModelConfig(image_size=TEST_IMAGE_SIZE), seed=3, config_path="test")
    return spec


def write_config(folder: Path, body: str) -> Path:
    """Write a bench.yaml into ``folder`` from an indented YAML string."""
    path = folder / "bench.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# TensorFlow's C++ start-up lines would bury what a test reads from stderr.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def udfbench_command(*args: str, calibrate: bool = False) -> list[str]:
    """The udfbench command in a fresh interpreter. ``run`` skips its calibration (seconds of every
    core) unless ``calibrate``: the tests that are about the machine's limit ask for it, the shared
    real runs among them."""
    if args and args[0] == "run" and not calibrate:
        args = (*args, "--no-calibrate")
    return [sys.executable, "-m", "udfbench", *args]


def run_cli(
    *args: str,
    timeout: float = 600,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    calibrate: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the udfbench command as a user would (``env`` adds variables), to its end."""
    return subprocess.run(
        udfbench_command(*args, calibrate=calibrate),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=dict(os.environ, **QUIET, **(env or {})),
    )


def start_run(config: Path, out: Path, capture: bool = True) -> subprocess.Popen[str]:
    """Start ``udfbench run`` in the background (no calibration), for a test that signals or kills
    it mid-run; ``capture`` keeps its stdout and stderr for ``communicate``."""
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        udfbench_command("run", str(config), "--out", str(out)),
        stdout=output,
        stderr=output,
        text=True,
        env=dict(os.environ, **QUIET),
    )


def result_row(run_id: str, strategy: str, size: int, seconds: float, **overrides) -> ResultRow:
    """A successful measured run of a case with default settings, for run folders made by hand."""
    values = {
        "cluster": "local", "eval_type": "none", "input_mode": "path", "sink": "noop", "batch_size": 32,
        "arrow_batch_size": 10000, "partitions": None, "task_cpus": 1, "threads": None, "cores": 2,
        "slots": 2, "repeat": 1, "warmup": False, "status": "ok", "rows": size, "skipped": 0,
        "images_per_s": size / seconds, "model_loads": 0, "load_s": 0.0, "decode_s": 0.0, "predict_s": 0.0,
    }  # fmt: skip
    return ResultRow(run_id=run_id, strategy=strategy, size=size, seconds=seconds, **(values | overrides))


def bench_config(**overrides) -> dict:
    """A valid bench.yaml as a mapping (what meta.json stores), for run folders made by hand."""
    return {"dataset": {"sizes": [10]}, "strategies": ["python", "udf"], **overrides}


# One small real benchmark for the whole test session, run twice: the report, compare, check and
# confirm tests read these folders instead of making runs of their own. A test that changes a run
# folder works on a copy (``copy_run``).
SHARED_CONFIG = """
    name: shared
    dataset: {sizes: [8, 16], seed: 3}
    model: {image_size: 48}
    strategies: [python, udf, pandas_udf]
    batch_size: 4
    warmup: 1
    repeats: 4
    spark: {master: "local[2]", driver_memory: 1g}
"""


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two real runs of ``SHARED_CONFIG``, one after the other, through the ``udfbench`` command."""
    folder = tmp_path_factory.mktemp("real-runs")
    config = write_config(folder, SHARED_CONFIG)
    runs = []
    for name in ("first", "second"):
        result = run_cli("run", str(config), "--out", str(folder / name), calibrate=True)
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(folder / name)
    return runs[0], runs[1]


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to
