"""Runtime names, the modules that implement them, and the model file suffixes each one reads.

Kept free of TensorFlow and onnxruntime imports so that the config can check a model's suffix
without loading anything. A new runtime is one module in this package plus one line in each table.
"""

from __future__ import annotations

# name -> module inside udfbench.runtimes; each module defines RUNTIME.
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
