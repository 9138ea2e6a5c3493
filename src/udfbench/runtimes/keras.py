"""Keras models (.keras, .h5): what udfbench ran before it had runtimes.

Keras loads only from a file name, so the bytes go through a temporary file. TensorFlow's thread
pools are per process and fixed once TensorFlow has started; ``threads`` is applied before the load.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from udfbench.runtimes.base import Dim, FlopCount, LoadedModel, ModelError, Runtime

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
        from udfbench.calibration import count_keras_flops

        return count_keras_flops(self._model)


class KerasRuntime(Runtime):
    name = "keras"

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
