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
}

STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGY_MODULES)
