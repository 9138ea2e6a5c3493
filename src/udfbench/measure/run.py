"""A run from start to end: its folder, its metadata, setup, the loop, and how it ended.

``run_benchmark`` always sends ``finished`` to its listeners, whatever ends the run (success, a
failure, Ctrl-C or SIGTERM), so the results files are closed and meta.json says how it ended.
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from udfbench.errors import UserError, short_error
from udfbench.inputs.seeds import seeds_digest
from udfbench.measure import facts
from udfbench.measure.calibration import CalibrationFailed, add_round, calibrate, image_weights
from udfbench.measure.local_processes import usable_cores
from udfbench.measure.loop import Runner
from udfbench.measure.resume import Resumption
from udfbench.measure.workload import Workload, prepare_workload
from udfbench.plan.cases import CALIBRATION_ROUNDS, cluster_cores, plan, run_folder_name
from udfbench.plan.config import BenchConfig, axes_grid
from udfbench.rundir.events import RunListener
from udfbench.rundir.schema import RunMeta

if TYPE_CHECKING:
    from udfbench.inputs.table import ImageTable


def new_run_dir(config: BenchConfig, out: Path | None) -> Path:
    """``out``, or a new folder under the config's output_dir; an existing non-empty one is refused."""
    run_dir = out or Path(config.output_dir) / run_folder_name(config, datetime.now(UTC))
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


def calibrate_run(config: BenchConfig, workload: Workload, meta: RunMeta, when: str) -> None:
    """A round of calibration, taken ``when``, added to ``meta``'s: the machine's limit for this model
    and these seeds (the best quiet round's), and each cluster's share of it.

    A first round that cannot run (no readable seed image) leaves the limit unknown, with the reason,
    and the run goes on: its timings do not depend on it.
    """
    machine_cores = usable_cores()
    largest = workload.datasets[max(workload.datasets)]
    try:
        measured = calibrate(
            workload.spec,
            workload.samples,
            image_weights([key for key, _ in workload.samples], largest),
            sorted({axes.batch_size for axes in axes_grid(config)}),
            cores=machine_cores,
            skip_bad=workload.skip_bad,
            when=when,
        )
    except CalibrationFailed as err:
        meta.calibration_error = meta.calibration_error or str(err)
        return
    meta.calibration = measured if meta.calibration is None else add_round(meta.calibration, measured)
    meta.limits = {
        cluster.name: meta.calibration.limit_for(cluster_cores(cluster, config.spark, machine_cores))
        for cluster in config.cluster_list()
    }


def rounds_before(sessions: int, rounds: int = CALIBRATION_ROUNDS) -> set[int]:
    """The sessions (by index) before which a round of calibration is taken after the first round:
    spread evenly over the run, so a load that comes and goes is met at several moments."""
    return {i for k in range(1, rounds) if 0 < (i := round(k * sessions / rounds)) < sessions}


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
            versions=facts.versions(),
            machine=facts.machine(),
            git_commit=facts.git_commit(),
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
            calibrate_run(config, workload, meta, "before the first case")
        listener.meta_changed(meta)
        plans = resumed.plans if resumed else plan(config)
        between = rounds_before(len(plans)) if calibrate_first and meta.calibration is not None else set()

        def calibrate_between(index: int, label: str) -> None:
            if index in between:
                listener.stage(f"calibrating again, before {label}")
                calibrate_run(config, workload, meta, f"before {label}")
                listener.meta_changed(meta)

        Runner(config, workload, run_dir, listener, stop, before_session=calibrate_between).run(meta, plans)
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
