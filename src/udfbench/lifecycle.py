"""A run from start to end: its folder, its metadata, setup, the loop, and how it ended.

``run_benchmark`` always sends ``finished`` to its listeners, whatever ends the run (success, a
failure, Ctrl-C or SIGTERM), so the results files are closed and meta.json says how it ended.
"""

from __future__ import annotations

import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from udfbench import environment
from udfbench.calibration import CalibrationFailed, calibrate, image_weights
from udfbench.config import BenchConfig, axes_grid
from udfbench.dataset import seeds_digest
from udfbench.errors import UserError, short_error
from udfbench.events import RunListener
from udfbench.planning import cluster_cores
from udfbench.results import RunMeta
from udfbench.resume import Resumption
from udfbench.runner import Runner
from udfbench.workers import usable_cores
from udfbench.workload import Workload, prepare_workload

if TYPE_CHECKING:
    from udfbench.tables import ImageTable


def new_run_dir(config: BenchConfig, out: Path | None) -> Path:
    """``out``, or a new folder under the config's output_dir; an existing non-empty one is refused."""
    if out is not None:
        run_dir = out
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name).strip("-") or "run"
        run_dir = Path(config.output_dir) / f"{stamp}-{safe}"
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise UserError("is a file, not a folder; choose another --out", where=str(run_dir))
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UserError("folder exists and is not empty; choose another --out", where=str(run_dir))
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".udfbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(
            f"cannot write a run folder here: {err.strerror or err}", where=str(run_dir)
        ) from None
    return run_dir


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def calibrate_run(config: BenchConfig, workload: Workload, meta: RunMeta) -> None:
    """The machine's limit for this model and these seeds, and each cluster's share of it, into ``meta``.

    A calibration that cannot run (no readable seed image) leaves the limit unknown, with the reason,
    and the run goes on: its timings do not depend on it.
    """
    machine_cores = usable_cores()
    largest = workload.datasets[max(workload.datasets)]
    try:
        meta.calibration = calibrate(
            workload.spec,
            workload.samples,
            image_weights([key for key, _ in workload.samples], largest),
            sorted({axes.batch_size for axes in axes_grid(config)}),
            cores=machine_cores,
            skip_bad=workload.skip_bad,
        )
    except CalibrationFailed as err:
        meta.calibration_error = str(err)
        return
    meta.limits = {
        cluster.name: meta.calibration.limit_for(cluster_cores(cluster, config.spark, machine_cores))
        for cluster in config.cluster_list()
    }


def run_benchmark(
    config: BenchConfig,
    config_path: Path,
    run_dir: Path,
    listener: RunListener,
    stop: threading.Event,
    calibrate_first: bool = True,
    resumed: Resumption | None = None,
    table: ImageTable | None = None,
) -> RunMeta:
    """Measure everything the config asks for into ``run_dir``; the meta says how it ended.

    ``resumed``: take up an interrupted run, measuring only the cases it has left; its meta keeps
    when it started and adds when it was resumed. ``table``: the configured table as the checks
    before the run opened it (else it is opened here).
    """
    if resumed is None:
        shutil.copyfile(config_path, run_dir / "config.yaml")
        meta = RunMeta(
            run_id=run_dir.name,
            name=config.name,
            status="running",
            started_at=now(),
            config_file=str(config_path),
            config=config,
            versions=environment.versions(),
            machine=environment.machine(),
            git_commit=environment.git_commit(),
        )
    else:
        meta = resumed.meta.model_copy(update={"status": "running", "finished_at": None, "error": None})
        meta.resumed_at = [*meta.resumed_at, now()]
    listener.meta_changed(meta)
    try:
        listener.stage("preparing the input (staging it when asked), model and reference")
        workload, setup = prepare_workload(config, config_path, run_dir, table)
        meta.model = {
            "name": workload.spec.name,
            "digest": workload.spec.digest,
            "parameters": workload.spec.parameters,
            "image_size": list(workload.spec.image_size),
            "output": workload.spec.output,
            "classes": list(workload.spec.classes),
        }
        if workload.seeds is not None:
            meta.seed_images = {"count": len(workload.seeds), "digest": seeds_digest(list(workload.seeds))}
        meta.setup_seconds["driver"] = setup
        meta.input = workload.description
        if calibrate_first and meta.calibration is None:  # a resumed run keeps its calibration
            listener.stage("calibrating: decode and predict on every core at once")
            calibrate_run(config, workload, meta)
        listener.meta_changed(meta)
        Runner(config, workload, run_dir, listener, stop).run(meta, resumed.plans if resumed else None)
        meta.status = "interrupted" if stop.is_set() else "complete"
    except KeyboardInterrupt:
        meta.status = "interrupted"
        raise
    except BaseException as err:
        if stop.is_set():
            # Ctrl-C inside an import can surface as another error (Keras reports a half-imported
            # dependency as missing): the run was interrupted, not broken.
            meta.status = "interrupted"
            raise KeyboardInterrupt from err
        meta.status = "failed"
        meta.error = short_error(err)
        raise
    finally:
        meta.finished_at = now()
        listener.finished(meta)
    return meta
