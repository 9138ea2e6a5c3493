"""Strategies by name. See ``base.py`` for the interface and ``registry.py`` to add one.

Kept light: the config imports the registry, and must not pull in Spark or TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from udfbench.strategies.registry import STRATEGY_MODULES, STRATEGY_NAMES

if TYPE_CHECKING:
    from udfbench.strategies.base import Strategy

__all__ = ["STRATEGY_NAMES", "get_strategy"]


def get_strategy(name: str) -> Strategy:
    module = importlib.import_module(f"udfbench.strategies.{STRATEGY_MODULES[name]}")
    return module.STRATEGY
