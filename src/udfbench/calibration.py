"""Calibration: what this machine can physically do with the run's model and seed images.

The limit a strategy is measured against assumes every core decodes and predicts its share of the
images, alone on its core, with nothing lost to moving rows around:
``limit = cores / (decode ms + predict ms at the best batch size) * 1000`` images per second.

Both terms are measured with one single-threaded process per core, all running at once (see
``workers.py``): cores that work together share caches and memory bandwidth, so one process alone
would overstate the limit. The processes go through ``Predictor`` (``decode`` and ``infer``), so a
calibration measures whatever runtime the strategies use. Medians across processes and repetitions
keep one noisy sample from moving the figures; a calibration takes seconds, not minutes.
"""

from __future__ import annotations

import math
import queue
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from udfbench.limits import limit_images_per_s
from udfbench.model import ModelSpec
from udfbench.predictor import Predictor
from udfbench.preprocess import ImageSource
from udfbench.results import Calibration
from udfbench.runtimes.base import FlopCount
from udfbench.workers import single_threaded_children, spawn_context, usable_cores

DEFAULT_SECONDS_BUDGET = 4.0
# At least this many measured repetitions per process, whatever the budget, so a median means something.
MIN_REPEATS = 3
MAX_REPEATS = 50
# How long the driver waits for the processes to start (spawn, import TensorFlow, load the model).
START_TIMEOUT_S = 300.0


class CalibrationFailed(RuntimeError):
    """A calibration process failed (an unreadable seed image without ``skip_bad``, a crash)."""


# -- FLOPs ------------------------------------------------------------------------------------


def _elements(shape: Sequence[int | None]) -> int:
    """Elements of one image's tensor: the shape without its batch axis."""
    if any(d is None for d in shape[1:]):
        raise ValueError(f"unknown dimension in {tuple(shape)}")
    return math.prod(int(d) for d in shape[1:])


def _conv(layer: Any, n_in: int, n_out: int) -> int:
    # Kernel (k..., in/groups, out): each output element takes prod(k...) * in/groups multiply-adds.
    return 2 * n_out * math.prod(layer.kernel.shape[:-1])


def _depthwise(layer: Any, n_in: int, n_out: int) -> int:
    return 2 * n_out * math.prod(layer.kernel.shape[:-2])


def _separable(layer: Any, n_in: int, n_out: int) -> int:
    window = math.prod(layer.depthwise_kernel.shape[:-2])
    mid_channels = math.prod(layer.depthwise_kernel.shape[-2:])
    pixels = n_out // layer.pointwise_kernel.shape[-1]
    return 2 * pixels * mid_channels * (window + layer.pointwise_kernel.shape[-1])


def _dense(layer: Any, n_in: int, n_out: int) -> int:
    return 2 * n_out * layer.kernel.shape[0]


def _pool(layer: Any, n_in: int, n_out: int) -> int:
    return n_out * math.prod(layer.pool_size)  # one compare or add per window element


def _merge(layer: Any, n_in: int, n_out: int) -> int:
    return n_out * (len(layer.input) - 1)


# FLOPs per image of each layer type, from its shapes: 2 per multiply-add, one add per output element
# for a bias, one op per pooling window element. This is TensorFlow's own profiler's convention (its
# deprecated v1 ``profile`` gives the same 10,357,697 for the built-in CNN at 32x32), without its graph
# tracing. Elementwise activations are not counted: next to the multiply-adds they are noise.
_LAYER_FLOPS = {
    **dict.fromkeys(("Conv1D", "Conv2D", "Conv3D"), _conv),
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "Dense": _dense,
    **dict.fromkeys(
        ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D"), _pool
    ),
    **dict.fromkeys(
        ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D"),
        lambda layer, n_in, n_out: n_in,
    ),
    "BatchNormalization": lambda layer, n_in, n_out: 2 * n_out,  # scale and shift at inference
    "Rescaling": lambda layer, n_in, n_out: 2 * n_out,
    **dict.fromkeys(("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"), _merge),
    **dict.fromkeys(
        (
            "InputLayer", "Flatten", "Reshape", "Permute", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
            "GaussianNoise", "GaussianDropout", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax",
            "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "Concatenate", "Identity",
        ),
        lambda layer, n_in, n_out: 0,
    ),
}  # fmt: skip


def count_keras_flops(model: Any) -> FlopCount:
    """FLOPs per image of a Keras model, counted from its layers' shapes; None with the reason otherwise."""
    keras = sys.modules.get("keras")  # a model that is a Keras model has imported keras
    if keras is None or not isinstance(model, keras.Model):
        return FlopCount(None, f"FLOPs are counted for Keras models only, not {type(model).__name__}")
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a nested model counts as its layers
            inner = count_keras_flops(layer)
            if inner.flops is None:
                return inner
            total += inner.flops
            continue
        kind = type(layer).__name__
        rule = _LAYER_FLOPS.get(kind)
        if rule is None:
            return FlopCount(None, f"layer {layer.name!r} is a {kind}, whose FLOPs udfbench cannot count")
        try:  # a layer called more than once has no single input or output
            inputs = layer.input if isinstance(layer.input, list) else [layer.input]
            n_in = sum(_elements(tensor.shape) for tensor in inputs)
            n_out = _elements(layer.output.shape)
        except (AttributeError, ValueError) as err:
            return FlopCount(None, f"layer {layer.name!r} has no single known shape: {err}")
        total += rule(layer, n_in, n_out) + (n_out if getattr(layer, "use_bias", False) else 0)
    return FlopCount(total, None)


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
    while finished.value < job.processes:
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
) -> Calibration:
    """Measure decode and predict costs with one single-threaded process per core, all at once.

    ``images`` are (key, path or encoded bytes) of the distinct images the datasets use, and
    ``weights`` how often the datasets use each (None: equally, as ``draw_rows`` draws seeds);
    ``cores`` is what the limit is for, and the number of processes unless ``processes`` is given
    (default: the cores this process may use). ``seconds_budget`` bounds the measured repetitions;
    starting the processes and loading the model come on top and are included in ``seconds``.
    Unreadable images are skipped and counted with ``skip_bad``; without it they fail the calibration.
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
    workers = [context.Process(target=_worker, args=(job, barrier, finished, results)) for job in jobs]
    with single_threaded_children():
        for worker in workers:
            worker.start()
    try:
        reports = _collect(workers, results, START_TIMEOUT_S + 10 * seconds_budget)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
    usable = reports[0]["usable"]
    if not usable:
        raise CalibrationFailed("no image can be read: nothing to calibrate on")
    decode_ms = _weighted_mean(
        {path: statistics.median(s for r in reports for s in r["decode"][path]) for path in usable}, weight_of
    )
    predict_ms = {size: statistics.median(s for r in reports for s in r["predict"][size]) for size in sizes}
    best = min(predict_ms, key=predict_ms.__getitem__)
    flops = reports[0]["flops"]
    gflop = flops.flops / 1e9 if flops.flops is not None else None
    limit = limit_images_per_s(cores, decode_ms, predict_ms)
    return Calibration(
        decode_ms=decode_ms,
        predict_ms=predict_ms,
        best_batch_size=best,
        gflop_per_image=gflop,
        gflop_per_s=gflop / (predict_ms[best] / 1000) if gflop is not None else None,
        flops_unknown_reason=flops.reason,
        cores=cores,
        limit_images_per_s=limit.images_per_s,
        limit_unknown_reason=limit.reason,
        processes=count,
        repeats=min(r["repeats"] for r in reports),
        images_used=len(usable),
        images_skipped=len(weight_of) - len(usable),
        seconds=time.perf_counter() - started,
    )


def _weighted_mean(values: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Mean of ``values`` by ``weights``; equal weights when the measured seeds were never drawn."""
    total = sum(weights[key] for key in values)
    if total <= 0:
        return statistics.fmean(values.values())
    return sum(value * weights[key] for key, value in values.items()) / total
