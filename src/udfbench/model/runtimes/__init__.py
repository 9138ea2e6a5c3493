"""Model runtimes by name. See ``base.py`` for the interface and ``registry.py`` to add one.

Kept light: the config imports the registry, and must not pull in TensorFlow or onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from udfbench.plan.names import MODEL_SUFFIXES, RUNTIME_BY_SUFFIX, RUNTIME_MODULES

if TYPE_CHECKING:
    from udfbench.model.runtimes.base import Runtime

__all__ = ["MODEL_SUFFIXES", "get_runtime", "runtime_for_suffix"]


def get_runtime(name: str) -> Runtime:
    module = importlib.import_module(f"udfbench.model.runtimes.{RUNTIME_MODULES[name]}")
    return module.RUNTIME


def runtime_for_suffix(suffix: str) -> str:
    """The runtime that reads model files ending in ``suffix`` (the config has checked it is known)."""
    return RUNTIME_BY_SUFFIX[suffix.lower()]
