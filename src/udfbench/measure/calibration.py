"""Calibration: what this machine can physically do with the run's model and seed images.

The limit a strategy is measured against assumes every core decodes and predicts its share of the
images, alone on its core, with nothing lost to moving rows around:
``limit = cores / (decode ms + predict ms at the best batch size) * 1000`` images per second.

Both terms are measured with one single-threaded process per core, all running at once (see
``local_processes.py``): cores that work together share caches and memory bandwidth, so one process alone
would overstate the limit. The processes go through ``Predictor`` (``decode`` and ``infer``), so a
calibration measures whatever runtime the strategies use. Medians across processes and repetitions
keep one noisy sample from moving the figures; a calibration takes seconds, not minutes.

A run calibrates in short rounds spread over it (``add_round``): on a machine that other processes
share, the figures swing with the load, so the limit is the best round that other processes left
quiet, and each round's foreign CPU is kept beside it.
"""

from __future__ import annotations

import queue
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from udfbench.inputs.decode import ImageSource
from udfbench.measure.instruments import ForeignCpu
from udfbench.measure.local_processes import single_threaded_children, spawn_context, usable_cores
from udfbench.model.predictor import Predictor
from udfbench.model.spec import ModelSpec
from udfbench.rundir.limits import limit_images_per_s
from udfbench.rundir.schema import Calibration, CalibrationRound

DEFAULT_SECONDS_BUDGET = 2.0  # a round's measuring; a run takes a few
# At least this many measured repetitions per process, whatever the budget, so a median means something.
MIN_REPEATS = 3
MAX_REPEATS = 50
# What every round of a run shares: the model, the seeds, the processes that measured.
_SHARED = {"gflop_per_image", "flops_unknown_reason", "cores", "processes", "images_used", "images_skipped"}
# How long the driver waits for the processes to start (spawn, import TensorFlow, load the model).
START_TIMEOUT_S = 300.0


class CalibrationFailed(RuntimeError):
    """A calibration process failed (an unreadable seed image without ``skip_bad``, a crash)."""


# -- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    index: int
    processes: int
    predictor: Predictor
    images: tuple[tuple[str, ImageSource], ...]  # (key, path or encoded bytes)
    batch_sizes: tuple[int, ...]
    seconds_budget: float


def _measure(job: _Job, barrier: Any, finished: Any) -> dict[str, Any]:
    """One process's samples; runs in a spawned, single-threaded process."""
    predictor = job.predictor
    model = predictor.model()
    flops = model.count_flops() if job.index == 0 else None
    sources = dict(job.images)
    usable = [key for key, source in job.images if predictor.decode([source]).good.all()]
    report: dict[str, Any] = {"usable": usable, "flops": flops, "decode": {}, "predict": {}, "repeats": 0}
    if not usable:  # every process sees the same files, so none of them waits at the barrier
        return report
    # Warm-up: the first call at each batch shape builds TensorFlow's function for it.
    batches = {
        b: predictor.decode([sources[usable[i % len(usable)]] for i in range(b)]) for b in job.batch_sizes
    }
    for batch in batches.values():
        predictor.infer(batch)
    decode: dict[str, list[float]] = {path: [] for path in usable}
    predict: dict[int, list[float]] = {b: [] for b in job.batch_sizes}
    barrier.wait(timeout=START_TIMEOUT_S)  # every process starts measuring at once
    deadline = time.perf_counter() + job.seconds_budget
    repeats, last = 0, 0.0
    while repeats < MIN_REPEATS or (repeats < MAX_REPEATS and time.perf_counter() + last < deadline):
        started = time.perf_counter()
        for key in usable:
            decode[key].append(predictor.decode([sources[key]]).seconds * 1000)
        for size, batch in batches.items():
            begun = time.perf_counter()
            predictor.infer(batch)
            predict[size].append((time.perf_counter() - begun) * 1000 / size)
        repeats, last = repeats + 1, time.perf_counter() - started
    # Keep this core busy until every process is done: the others' last samples must not run alone.
    with finished.get_lock():
        finished.value += 1
    ballast_until = time.perf_counter() + START_TIMEOUT_S  # a process that died never counts itself
    while finished.value < job.processes and time.perf_counter() < ballast_until:
        predictor.infer(batches[min(batches)])
    return report | {"decode": decode, "predict": predict, "repeats": repeats}


def _worker(job: _Job, barrier: Any, finished: Any, results: Any) -> None:
    try:
        results.put((job.index, _measure(job, barrier, finished)))
    except BaseException as err:  # reported to the driver, which raises it
        barrier.abort()
        with finished.get_lock():
            finished.value += job.processes  # release the others' ballast loops
        results.put((job.index, f"{type(err).__name__}: {err}"))


def _collect(processes: list[Any], results: Any, timeout_s: float) -> list[dict[str, Any]]:
    """Every process's report, in process order; raises the first real failure of any of them."""
    reports: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(reports) + len(errors) < len(processes):
        try:
            index, report = results.get(timeout=0.5)
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise CalibrationFailed(f"a calibration process died (exit code {dead[0]})") from None
            if time.monotonic() > deadline:
                raise CalibrationFailed(f"calibration did not finish within {timeout_s:.0f} s") from None
            continue
        if isinstance(report, str):
            errors.append(report)
        else:
            reports[index] = report
    if errors:  # the others only saw the barrier broken by the one that failed
        raise CalibrationFailed(
            next((e for e in errors if not e.startswith("BrokenBarrierError")), errors[0])
        )
    return [reports[i] for i in sorted(reports)]


def image_weights(keys: Sequence[str], rows: pd.DataFrame) -> list[float]:
    """How often a dataset's ``rows`` use each image (the ``path`` column holds each row's image key)."""
    counts = rows["path"].value_counts()
    return [float(counts.get(key, 0)) for key in keys]


def calibrate(
    spec: ModelSpec,
    images: Sequence[tuple[str, ImageSource]],
    weights: Sequence[float] | None,
    batch_sizes: Sequence[int],
    cores: int | None,
    skip_bad: bool,
    seconds_budget: float = DEFAULT_SECONDS_BUDGET,
    processes: int | None = None,
    when: str = "before the first case",
) -> Calibration:
    """Measure decode and predict costs with one single-threaded process per core, all at once.

    ``images`` are (key, path or encoded bytes) of the distinct images the datasets use, and
    ``weights`` how often the datasets use each (None: equally, as ``draw_rows`` draws seeds);
    ``cores`` is what the limit is for, and the number of processes unless ``processes`` is given
    (default: the cores this process may use). ``seconds_budget`` bounds the measured repetitions;
    starting the processes and loading the model come on top and are included in ``seconds``.
    Unreadable images are skipped and counted with ``skip_bad``; without it they fail the calibration.
    The result is one round, said to be taken ``when``; ``add_round`` adds it to a run's calibration.
    """
    started = time.perf_counter()
    count = processes or cores or usable_cores()
    sizes = tuple(sorted({1, *batch_sizes}))
    weight_of = dict.fromkeys((key for key, _ in images), 0.0)
    for (key, _), weight in zip(images, weights or [1.0] * len(images), strict=True):
        weight_of[key] += weight
    predictor = Predictor.for_spec(spec, spec.data, batch_size=max(sizes), skip_bad=skip_bad, threads=1)
    context = spawn_context()
    barrier, finished, results = context.Barrier(count), context.Value("i", 0), context.Queue()
    distinct = tuple(dict(images).items())
    jobs = [_Job(i, count, predictor, distinct, sizes, seconds_budget) for i in range(count)]
    # Daemonic: at exit multiprocessing terminates what is left instead of waiting for it to end.
    workers = [
        context.Process(target=_worker, args=(job, barrier, finished, results), daemon=True) for job in jobs
    ]
    ended = False
    # What other processes took of the machine meanwhile: a busy calibration understates the limit.
    with ForeignCpu() as foreign:
        try:
            with single_threaded_children():
                for worker in workers:
                    worker.start()
            reports = _collect(workers, results, START_TIMEOUT_S + 10 * seconds_budget)
            ended = True
        finally:
            # After an interruption or a failure nothing is waited for: a worker may be at the barrier.
            for worker in workers:
                if worker.pid is not None:
                    worker.join(timeout=5 if ended else 0)
                    if worker.is_alive():
                        worker.terminate()
                        worker.join(timeout=5)
    usable = reports[0]["usable"]
    if not usable:
        raise CalibrationFailed("no image can be read: nothing to calibrate on")
    decode_ms = _weighted_mean(
        {path: statistics.median(s for r in reports for s in r["decode"][path]) for path in usable}, weight_of
    )
    predict_ms = {size: statistics.median(s for r in reports for s in r["predict"][size]) for size in sizes}
    flops = reports[0]["flops"]
    measured = CalibrationRound(
        when=when,
        decode_ms=decode_ms,
        predict_ms=predict_ms,
        limit_images_per_s=limit_images_per_s(cores, decode_ms, predict_ms).images_per_s,
        repeats=min(r["repeats"] for r in reports),
        seconds=time.perf_counter() - started,
        foreign_cpu_pct=foreign.pct,
    )
    return _from_rounds(
        [measured],
        gflop_per_image=flops.flops / 1e9 if flops.flops is not None else None,
        flops_unknown_reason=flops.reason,
        cores=cores,
        processes=count,
        images_used=len(usable),
        images_skipped=len(weight_of) - len(usable),
    )


def add_round(calibration: Calibration, latest: Calibration) -> Calibration:
    """``calibration`` with ``latest``'s round added; its figures become the best quiet round's.

    A calibration from before rounds were kept counts as one round, taken before the first case.
    """
    earlier = calibration.rounds or [
        CalibrationRound(
            when="before the first case",
            decode_ms=calibration.decode_ms,
            predict_ms=calibration.predict_ms,
            limit_images_per_s=calibration.limit_images_per_s,
            repeats=calibration.repeats,
            seconds=calibration.seconds,
            foreign_cpu_pct=calibration.foreign_cpu_pct,
        )
    ]
    return _from_rounds([*earlier, *latest.rounds], **calibration.model_dump(include=_SHARED))


def _from_rounds(rounds: list[CalibrationRound], **facts: Any) -> Calibration:
    """The calibration of ``rounds``: the limit is the best of the quiet ones, whose neighbours took
    the least from it; when every round was busy, the best of them all (then marked busy)."""
    best = min([r for r in rounds if not r.busy] or rounds, key=lambda r: r.cost_ms)
    batch = min(best.predict_ms, key=best.predict_ms.__getitem__)
    gflop = facts["gflop_per_image"]
    limit = limit_images_per_s(facts["cores"], best.decode_ms, best.predict_ms)
    return Calibration(
        decode_ms=best.decode_ms,
        predict_ms=best.predict_ms,
        best_batch_size=batch,
        gflop_per_s=gflop / (best.predict_ms[batch] / 1000) if gflop is not None else None,
        limit_images_per_s=limit.images_per_s,
        limit_unknown_reason=limit.reason,
        repeats=best.repeats,
        seconds=sum(r.seconds for r in rounds),
        foreign_cpu_pct=best.foreign_cpu_pct,
        rounds=rounds,
        **facts,
    )


def _weighted_mean(values: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Mean of ``values`` by ``weights``; equal weights when the measured seeds were never drawn."""
    total = sum(weights[key] for key in values)
    if total <= 0:
        return statistics.fmean(values.values())
    return sum(value * weights[key] for key, value in values.items()) / total
