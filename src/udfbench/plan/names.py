"""The registries' names: every strategy and model runtime udfbench knows, and the modules behind them.

Kept free of Spark, TensorFlow and onnxruntime imports, so that the config can check a strategy's name
or a model file's suffix without starting or loading anything. A new strategy is one module in
``udfbench.measure.strategies`` plus one line in ``STRATEGY_MODULES``; a new runtime is one module in
``udfbench.model.runtimes`` plus one line in ``RUNTIME_MODULES`` and one per suffix it reads.
"""

from __future__ import annotations

# name -> module inside udfbench.measure.strategies; each module defines STRATEGY.
STRATEGY_MODULES: dict[str, str] = {
    "python": "python_loop",
    "udf": "udf",
    "pandas_udf": "pandas_udf",
    "udf_arrow": "udf_arrow",
    "pandas_udf_iter": "pandas_udf_iter",
    "map_in_pandas": "map_in_pandas",
    "map_in_arrow": "map_in_arrow",
    "arrow_udf": "arrow_udf",
    "predict_batch_udf": "predict_batch_udf",
    "rdd_map_partitions": "rdd_map_partitions",
    "python_pipelined": "python_pipelined",
    "ray_map_batches": "ray_map_batches",
    "daft_udf": "daft_udf",
}

STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGY_MODULES)

# The strategies that run on the driver's machine alone, without Spark (``LocalStrategy``, other
# engines included): a run of several clusters measures them once, on its first cluster, and compares
# them with every cluster's cases.
DRIVER_ONLY: frozenset[str] = frozenset({"python", "python_pipelined", "ray_map_batches", "daft_udf"})

# name -> module inside udfbench.model.runtimes; each module defines RUNTIME.
RUNTIME_MODULES: dict[str, str] = {
    "keras": "keras",
    "onnx": "onnx",
}

# model file suffix -> runtime name
RUNTIME_BY_SUFFIX: dict[str, str] = {
    ".keras": "keras",
    ".h5": "keras",
    ".onnx": "onnx",
}

MODEL_SUFFIXES: tuple[str, ...] = tuple(RUNTIME_BY_SUFFIX)
