"""Strategy names and the modules that implement them.

Kept free of Spark imports so that the config can check names without starting anything. A new
strategy is one module in this package plus one line here.
"""

from __future__ import annotations

# name -> module inside udfbench.strategies; each module defines STRATEGY.
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
}

STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGY_MODULES)
