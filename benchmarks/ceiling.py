"""``python_pipelined`` against the machine's limit and the ``python`` loop, on this machine.

Calibrates the built-in model (192x192) over the built-in seeds (``udfbench.calibration``), then times
the two driver-side strategies over ``--rows`` drawn images as the runner does: a warmup run each, then
``--repeats`` measured runs each, interleaved, the best one kept. Prints images per second and the
limit; the last line reads ``python_pipelined/limit = R``.

    python benchmarks/ceiling.py [--rows 300] [--repeats 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from udfbench.calibration import calibrate, image_weights
from udfbench.config import ModelConfig
from udfbench.dataset import draw_rows, write_builtin_seeds
from udfbench.environment import machine
from udfbench.model import prepare_model
from udfbench.predictor import LocalTally, Predictor, tally_width
from udfbench.strategies import get_strategy
from udfbench.workers import usable_cores


def time_run(name: str, rows, predictor: Predictor) -> float:
    """Seconds of one run of a driver-side strategy over ``rows``, as the runner times it."""
    tally = LocalTally(tally_width(predictor.n_classes))
    started = time.perf_counter()
    seen = sum(
        len(chunk) for chunk in get_strategy(name).predict_local(rows, predictor.with_tally(tally), "path")
    )
    seconds = time.perf_counter() - started
    assert seen == len(rows) == int(tally.value[0])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    seeds = write_builtin_seeds(Path(tempfile.mkdtemp(prefix="udfbench-ceiling-")))
    spec, _ = prepare_model(ModelConfig(), seed=42, config_path="builtin")
    rows = draw_rows(seeds, args.rows, seed=42)
    cores = usable_cores()
    images = [(seed.path, seed.path) for seed in seeds]
    weights = image_weights([seed.path for seed in seeds], rows)
    calibration = calibrate(spec, images, weights, [args.batch_size], cores, skip_bad=False)
    print(f"cpu: {machine()['cpu']}, {cores} cores")
    print(calibration.model_dump_json(indent=1))
    limit = calibration.limit_images_per_s
    assert limit is not None
    predictor = Predictor.for_spec(spec, spec.data, args.batch_size, skip_bad=False, threads=None)
    names = ("python", "python_pipelined")
    for name in names:  # warmup: model load, worker start
        time_run(name, rows, predictor)
    # Interleaved, so that a burst of load from elsewhere on a shared machine hits both alike.
    best = dict.fromkeys(names, float("inf"))
    for _ in range(args.repeats):
        for name in names:
            best[name] = min(best[name], time_run(name, rows, predictor))
    for name in names:
        print(f"{name}: {len(rows) / best[name]:.1f} images/s")
    print(f"limit: {limit:.1f} images/s")
    print(f"python_pipelined/limit = {len(rows) / best['python_pipelined'] / limit:.3f}")


if __name__ == "__main__":
    main()
