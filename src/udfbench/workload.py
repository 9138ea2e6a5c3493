"""What every case measures: the seed images, the datasets drawn from them, the model, the reference.

Prepared once per run on the driver, before any cluster starts, and handed to the runner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from udfbench.config import BUILTIN, BenchConfig
from udfbench.dataset import SeedImage, draw_rows, read_seed_folder, write_builtin_seeds
from udfbench.model import ModelSpec, prepare_model
from udfbench.verification import Reference


@dataclass(frozen=True)
class Workload:
    seeds: list[SeedImage]
    datasets: dict[int, pd.DataFrame]  # size -> rows (id, path, truth)
    spec: ModelSpec
    reference: Reference
    input_mode: str  # "path" or "bytes"
    skip_bad: bool

    @property
    def source(self) -> str:
        """The column a strategy predicts from."""
        return "content" if self.input_mode == "bytes" else "path"

    def spark_input(
        self, spark: Any, cache: dict[tuple[int, int | None], Any], size: int, partitions: int | None
    ):
        """The dataset's rows as a DataFrame; in bytes mode joined to the files' bytes.

        Only the small table of paths is cached (in ``cache``, one per session): in bytes mode reading
        the files (Spark's binaryFile source) and moving their bytes to Python is part of every timed
        run, as it would be in production.
        """
        key = (size, partitions)
        if key not in cache:
            df = spark.createDataFrame(self.datasets[size], schema="id long, path string, truth string")
            df = df.repartition(partitions or spark.sparkContext.defaultParallelism).cache()
            df.count()
            cache[key] = df
        df = cache[key]
        if self.input_mode == "bytes":
            paths = sorted(set(self.datasets[size]["path"]))
            files = spark.read.format("binaryFile").load(paths)
            files = files.selectExpr("regexp_replace(path, '^file:', '') AS path", "content")
            # A left join keeps rows whose file could not be read: they reach the model as missing bytes.
            df = df.join(files.hint("broadcast"), on="path", how="left").select(
                "id", "path", "truth", "content"
            )
        return df


def prepare_workload(
    config: BenchConfig, config_path: Path, run_dir: Path
) -> tuple[Workload, dict[str, float]]:
    """Seeds, datasets, model and reference; with the seconds the model load and the whole setup took."""
    started = time.perf_counter()
    d = config.dataset
    if d.seed_images == BUILTIN:
        seeds = write_builtin_seeds(run_dir / "seed_images", seed=d.seed)
    else:
        seeds = read_seed_folder(Path(d.seed_images), list(config.model.classes))
    datasets = {size: draw_rows(seeds, size, d.seed) for size in d.sizes}
    spec, model_load_s = prepare_model(config.model, d.seed, str(config_path))
    reference = Reference.compute(spec, seeds, config.parity.tolerance)
    workload = Workload(seeds, datasets, spec, reference, d.input_mode, d.on_bad_image == "skip")
    return workload, {"model_load_s": model_load_s, "setup_s": time.perf_counter() - started}
