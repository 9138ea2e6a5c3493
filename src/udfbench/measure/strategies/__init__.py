"""Strategies by name. See ``base.py`` for the interface and ``plan/names.py`` to add one.

Kept light: importing this package imports no strategy module (and so no Spark) until one is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from udfbench.plan.names import STRATEGY_MODULES, STRATEGY_NAMES

if TYPE_CHECKING:
    from udfbench.measure.strategies.base import Strategy

__all__ = ["STRATEGY_NAMES", "get_strategy", "registered"]

# Strategies made known at run time by ``registered``, by name: they take precedence over the modules.
_REGISTERED: dict[str, Strategy] = {}


def get_strategy(name: str) -> Strategy:
    if name in _REGISTERED:
        return _REGISTERED[name]
    module = importlib.import_module(f"udfbench.measure.strategies.{STRATEGY_MODULES[name]}")
    return module.STRATEGY


@contextmanager
def registered(strategy: Strategy) -> Iterator[Strategy]:
    """``strategy`` known by its name while the block runs: how a test adds a strategy (a broken one,
    to prove a check catches it) without a module in this package."""
    before = _REGISTERED.get(strategy.name)
    _REGISTERED[strategy.name] = strategy
    try:
        yield strategy
    finally:
        if before is None:
            del _REGISTERED[strategy.name]
        else:
            _REGISTERED[strategy.name] = before
