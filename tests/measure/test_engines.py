"""Other engines than Spark (Ray Data, Daft) through the same loop: every row seen, the same answers,
the cold start in the first run, their workers sampled and pinned, and nothing of theirs left running,
after a normal end or a failed start; without the engine installed, one line at validation."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from tests.measure.test_loop import Recorder, make_runner
from tests.model.test_runtimes import MEAN, STD, pool_linear_softmax
from udfbench.errors import UserError
from udfbench.measure.instruments import ResourceSampler
from udfbench.measure.preflight import preflight
from udfbench.measure.strategies import get_strategy, registered
from udfbench.measure.strategies.daft_udf import UDF_WORKER_MODULE, DaftUdf
from udfbench.measure.strategies.ray_map_batches import RayMapBatches
from udfbench.measure.workload import ImageReader
from udfbench.model.spec import prepare_model
from udfbench.plan.cases import Case
from udfbench.plan.config import ClusterConfig, ModelConfig, axes_grid


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    """A tiny ONNX model: the engines are the subject here, not Keras."""
    path = pool_linear_softmax(tmp_path_factory.mktemp("model") / "tiny.onnx", size=16)
    config = ModelConfig(path=str(path), classes=["dog", "cat"], normalize={"mean": MEAN, "std": STD})
    spec, _ = prepare_model(config, seed=3, config_path="test")
    return spec


def engine(name: str):
    strategy = get_strategy(name)
    if strategy.missing_extra():
        pytest.skip(strategy.missing_extra())
    return strategy


class Sampled(Recorder):
    """Keeps the rows, with the resource sampler's readings of each timed run, as ``udfbench run``."""

    def __init__(self) -> None:
        super().__init__()
        self.sampler = ResourceSampler(interval_s=0.1)

    def timed_run_started(self) -> None:
        self.sampler.timed_run_started()

    def timed_run_ended(self) -> dict:
        return self.sampler.timed_run_ended()


def run_engine_case(runner, strategy) -> Sampled:
    """One case of ``strategy`` through the runner, sampled, then the strategy closed as a session's
    end closes it."""
    recorder = runner.listener = Sampled()
    case = Case(ClusterConfig(name="local", kind="local"), strategy.name, runner.config.dataset.sizes[0],
                axes_grid(runner.config)[0])  # fmt: skip
    try:
        with registered(strategy):
            runner.run_case(case, None, cores=2, parity=True)
    finally:
        strategy.close()
    return recorder


def engine_processes() -> list[str]:
    """What of Ray or Daft runs under this process."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if any(mark in command for mark in ("raylet", "gcs_server", "ray::", "daft.execution.udf_worker")):
            found.append(command[:80])
    return found


# Each engine in one input mode: the reader the workers use is the engines' own, tested below in all.
@pytest.mark.parametrize(("name", "mode"), [("ray_map_batches", "bytes"), ("daft_udf", "path")])
def test_an_engine_sees_every_row_agrees_counts_its_workers_and_leaves_nothing(
    tmp_path, seeds, onnx_model, name, mode
) -> None:
    strategy = engine(name)
    runner = make_runner(tmp_path, seeds, onnx_model, size=21, input_mode=mode, repeats=1)
    recorded = run_engine_case(runner, strategy)
    results, parity = recorded.rows, recorded.parity
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert all(r.rows == 21 and r.skipped == 0 and r.eval_type == "none" for r in results)
    assert parity[0].status == "ok" and parity[0].rows == 21 and parity[0].label_mismatches == 0
    # The cold start (engine, workers, model loads) is in the first run; each worker is pinned to one
    # math thread and sampled as a Python worker.
    assert results[0].warmup and results[0].model_loads >= 1
    assert all(r.worker_threads == 1 for r in results)
    assert all(r.python_workers >= 1 and r.worker_peak_rss_mb > 0 for r in results)
    assert engine_processes() == []


@pytest.mark.spark
def test_an_engines_rows_claim_no_executor_while_a_spark_session_is_up(
    spark, tmp_path, seeds, onnx_model
) -> None:
    # The JVM of an earlier Spark session, still up, was reported as the engine's executor.
    runner = make_runner(tmp_path, seeds, onnx_model, size=5, repeats=1)
    results = run_engine_case(runner, engine("daft_udf")).rows
    assert [r.status for r in results] == ["ok", "ok"] and all(r.python_workers >= 1 for r in results)
    assert [r.executor_peak_rss_mb for r in results] == [None, None]


def test_a_daft_run_is_over_when_its_udf_processes_have_ended() -> None:
    # Daft ends a query's UDF processes after the query returns; on a busy machine they overlapped the
    # next run. A process that looks like one of them, ending a moment later, stands in.
    engine("daft_udf")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)", UDF_WORKER_MODULE])
    DaftUdf().settle()
    assert worker.poll() is not None


class RayWithoutMemory(RayMapBatches):
    """Ray whose object store cannot be allocated."""

    store_bytes = 2**50


def test_an_engine_that_fails_to_start_fails_the_case_in_one_line_and_leaves_nothing(
    tmp_path, seeds, onnx_model
) -> None:
    engine("ray_map_batches")
    runner = make_runner(tmp_path, seeds, onnx_model, size=5, repeats=1)
    results = run_engine_case(runner, RayWithoutMemory()).rows
    assert [r.status for r in results] == ["failed"]
    assert results[0].error.startswith("Ray did not start: ") and "\n" not in results[0].error
    assert engine_processes() == []


@pytest.mark.parametrize(("strategy", "extra"), [(RayMapBatches, "ray"), (DaftUdf, "daft")])
def test_a_strategy_of_a_missing_engine_is_refused_at_validation_with_its_pip_line(
    tmp_path, strategy, extra
) -> None:
    from udfbench.plan.config import parse_config

    class Absent(strategy):
        module = "udfbench_no_such_engine"

    config = parse_config({"dataset": {"sizes": [4]}, "strategies": [strategy.name]}, tmp_path / "bench.yaml")
    with registered(Absent()), pytest.raises(UserError) as refused:
        preflight(config, tmp_path / "bench.yaml", run_folder_given=True)
    assert str(refused.value) == (
        f"{tmp_path / 'bench.yaml'}: strategies: strategy {strategy.name} needs udfbench_no_such_engine: "
        f"pip install 'udfbench[{extra}]'"
    )


def test_the_engines_reader_gives_paths_cells_or_the_files_bytes(seeds) -> None:
    import pandas as pd

    rows = pd.DataFrame({"id": [1, 2], "path": [seeds[0].path, "/no/such/file.jpeg"], "cell": [7, 9]})
    assert ImageReader("path")(rows) == [seeds[0].path, "/no/such/file.jpeg"]
    assert ImageReader("cell")(rows) == [7, 9]
    with open(seeds[0].path, "rb") as file:
        assert ImageReader("content")(rows) == [file.read(), None]


def test_an_engine_reads_a_users_table_of_images_in_its_workers(tmp_path, seeds) -> None:
    from tests.inputs.test_table import table_runner

    strategy = engine("daft_udf")
    runner = table_runner(tmp_path, seeds, 10, "id_column: key\n      label_column: animal")
    assert runner.workload.input_mode == "bytes"  # the workers read each row's bytes from its cell
    recorded = run_engine_case(runner, strategy)
    assert [r.status for r in recorded.rows] == ["ok"], [r.error for r in recorded.rows]
    assert all(r.rows == 10 and r.skipped == 0 for r in recorded.rows)
    assert recorded.parity[0].status == "ok" and recorded.parity[0].label_mismatches == 0
