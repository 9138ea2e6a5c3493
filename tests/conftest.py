"""Shared fixtures: one local Spark session for the whole test session, small seeds and a small model.

Tests that run a whole benchmark go through the ``udfbench`` command in a subprocess (as a user
would), so they never fight the shared session.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from tests.commands import run_cli, tiny_onnx, with_tiny_onnx, write_config
from udfbench.inputs.seeds import SeedImage, write_builtin_seeds
from udfbench.plan.config import ModelConfig

TEST_IMAGE_SIZE = 48

# Every JVM the tests start (Spark's launchers and drivers, standalone daemons, executors, Connect
# servers) compiles with C1 alone: each lives for seconds, so the optimizing compiler's work never pays
# back, and it took over a third of a small run's CPU (45 s of CPU against 29 s with C1 alone, on 2
# cores). No test asserts a time, so nothing a test proves depends on it.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1")


@pytest.fixture(scope="session")
def spark():
    from udfbench.plan.config import SparkConfig
    from udfbench.spark.cluster import session_conf, spark_session

    conf = session_conf(SparkConfig(driver_memory="1g"), task_cpus=1, threads=None)
    with spark_session("local[2]", "udfbench-tests", conf) as session:
        yield session


@pytest.fixture(scope="session")
def seeds(tmp_path_factory) -> list[SeedImage]:
    return write_builtin_seeds(tmp_path_factory.mktemp("seeds"), seed=7)


@pytest.fixture(scope="session")
def small_model():
    """The built-in CNN at a small input size: same layers, a fraction of the compute."""
    from udfbench.model.spec import prepare_model

    spec, _ = prepare_model(ModelConfig(image_size=TEST_IMAGE_SIZE), seed=3, config_path="test")
    return spec


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The tiny ONNX model (``tiny_onnx``), for tests whose subject is not the model: it loads in
    milliseconds where the CNN starts TensorFlow in every Python worker."""
    from udfbench.model.spec import prepare_model

    path = tiny_onnx(tmp_path_factory.mktemp("tiny"))
    spec, _ = prepare_model(ModelConfig(path=str(path)), seed=3, config_path="test")
    return spec


# One small real benchmark for the whole test session, run twice: the report, compare, check and
# confirm tests read these folders instead of making runs of their own. A test that changes a run
# folder works on a copy (``copy_run``). The model is the tiny ONNX one: these runs' subject is what a
# run writes, not Keras (whose whole runs are test_spec's and test_confirm's), and TensorFlow's start in
# every Python worker of every session made them take a minute more.
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
def real_runs(tmp_path_factory, worker_id) -> tuple[Path, Path]:
    """Two real runs of ``SHARED_CONFIG``, one after the other, through the ``udfbench`` command, the
    first calibrated.

    Made once per test session: with pytest-xdist's workers (``-n``), the first worker to need them
    makes them under a lock in the folder the workers share, and the others wait and read them."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    folder = shared / "real-runs"
    with FileLock(str(shared / "real-runs.lock")):
        if not (folder / "made").exists():
            folder.mkdir(exist_ok=True)
            config = write_config(folder, with_tiny_onnx(SHARED_CONFIG, folder))
            # Only the first measures the machine's limit (half a minute of both cores): the tests of
            # the calibration read the first, those that compare runs need no calibration.
            for name in ("first", "second"):
                shutil.rmtree(folder / name, ignore_errors=True)
                result = run_cli("run", str(config), "--out", str(folder / name), calibrate=name == "first")
                assert result.returncode == 0, result.stderr[-3000:]
            (folder / "made").touch()
    return folder / "first", folder / "second"
