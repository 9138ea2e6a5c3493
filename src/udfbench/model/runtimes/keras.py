"""Keras models (.keras, .h5): what udfbench ran before it had runtimes.

Keras loads only from a file name, so the bytes go through a temporary file. TensorFlow's thread
pools are per process and fixed once TensorFlow has started; ``threads`` is applied before the load.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from udfbench.model.runtimes.base import Dim, FlopCount, LoadedModel, ModelError, Runtime

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _set_threads(threads: int) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already started in this process; its pool size can no longer change.


def _check_container(path: Path) -> None:
    """Name the real problem before Keras does: its errors for a wrong file talk about its internals."""
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError("is not a Keras model (a .keras file is a zip archive; this one is not)")
    if path.suffix == ".h5":
        import h5py

        if not h5py.is_hdf5(path):
            raise ModelError("is not a Keras model (an .h5 file is HDF5; this one is not)")


def _shape(shape: Any, what: str) -> tuple[Dim, ...]:
    if isinstance(shape, list):  # Keras reports one shape per input (or output) of a multi-io model
        raise ModelError(f"has {len(shape)} {what}s; udfbench needs one")
    return tuple(None if d is None else int(d) for d in shape)


class KerasModel(LoadedModel):
    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        self._model = model
        # 0 means TensorFlow's default: a pool as large as the machine, whatever Spark gave the task.
        self.math_threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
        self.input_shape = _shape(model.input_shape, "input")
        self.output_shape = _shape(model.output_shape, "output")

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict_on_batch(batch))

    def count_parameters(self) -> int:
        return int(self._model.count_params())

    def fingerprint(self) -> str:
        """The layers and weights: the saved bytes differ on every save (Keras writes the save date,
        h5 timestamps), so they cannot tell whether two runs measured the same model."""
        digest = hashlib.sha256()
        digest.update(repr([type(layer).__name__ for layer in self._model.layers]).encode())
        for weights in self._model.get_weights():
            digest.update(repr(weights.shape).encode())
            digest.update(weights.tobytes())
        return digest.hexdigest()[:16]

    def count_flops(self) -> FlopCount:
        return count_keras_flops(self._model)


class KerasRuntime(Runtime):
    name = "keras"
    module = "tensorflow"

    def load(self, data: bytes, suffix: str, threads: int | None) -> KerasModel:
        if threads:
            _set_threads(threads)
        import keras

        with tempfile.TemporaryDirectory(prefix="udfbench-model-") as folder:
            path = Path(folder) / f"model{suffix.lower()}"
            path.write_bytes(data)
            _check_container(path)
            try:
                model = keras.models.load_model(path, compile=False)
            except Exception as err:  # Keras raises many types for a file it cannot read
                first = (str(err).splitlines() or [type(err).__name__])[0].replace(str(path), "the file")
                raise ModelError(f"is not a Keras model that Keras can load ({first})") from None
        return KerasModel(model)


def save_bytes(model: Any) -> bytes:
    """A Keras model's .keras file as bytes: what travels to the workers."""
    with tempfile.TemporaryDirectory(prefix="udfbench-model-") as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


RUNTIME = KerasRuntime()


# -- FLOPs, counted from the layers' shapes -------------------------------------------------------


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
