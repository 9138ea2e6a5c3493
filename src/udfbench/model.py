"""The built-in CNN, a user's Keras model, and the saved bytes that travel to the workers.

Keras models do not pickle. The driver saves the model once to bytes (``ModelSpec.data``); workers
load those bytes once per Python process and keep them in a cache keyed by digest (see
``predictor.py``), never once per row or batch.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from udfbench.config import ModelConfig
from udfbench.errors import UserError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

Output = Literal["sigmoid", "softmax"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to rebuild the model, plus what the report says about it."""

    name: str
    data: bytes
    suffix: str  # ".keras" or ".h5": Keras picks the loader by file name
    image_size: tuple[int, int]  # (height, width)
    output: Output
    classes: tuple[str, ...]
    parameters: int
    # What the model computes (see ``model_digest``): equal for equal models, whenever they were saved.
    digest: str


def model_digest(model: Any) -> str:
    """A digest of the layers and weights: what the model computes, not how its file was saved.

    The saved bytes differ on every save (Keras writes the save date, h5 writes timestamps), so they
    cannot tell whether two runs measured the same model; the layer types and weight values can.
    """
    digest = hashlib.sha256()
    digest.update(repr([type(layer).__name__ for layer in model.layers]).encode())
    for weights in model.get_weights():
        digest.update(repr(weights.shape).encode())
        digest.update(weights.tobytes())
    return digest.hexdigest()[:16]


def build_builtin_cnn(image_size: int, seed: int) -> Any:
    """The founding study's CNN: three Conv2D+MaxPool blocks (32/64/128), Dense 128, one sigmoid.

    Weights come from a seeded initialiser: the benchmark measures throughput, and a seeded model makes
    every run reproducible without shipping or downloading weights.
    """
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(128, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="builtin_cnn",
    )


def load_model_bytes(data: bytes, suffix: str) -> Any:
    """Rebuild a Keras model from saved bytes (Keras only loads from a file name)."""
    import keras

    with tempfile.TemporaryDirectory(prefix="udfbench-model-") as folder:
        path = Path(folder) / f"model{suffix}"
        path.write_bytes(data)
        return keras.models.load_model(path, compile=False)


def _save_bytes(model: Any) -> bytes:
    with tempfile.TemporaryDirectory(prefix="udfbench-model-") as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def _output_kind(model: Any, classes: list[str], where: str) -> Output:
    shape = tuple(model.output_shape)
    units = shape[-1] if len(shape) == 2 else None
    if units == 1:
        if len(classes) != 2:
            raise UserError(
                f"a model with one sigmoid output needs exactly 2 classes, got {len(classes)}", where
            )
        return "sigmoid"
    if units is not None and units == len(classes):
        return "softmax"
    raise UserError(f"model output shape {shape} does not match {len(classes)} classes {classes}", where)


def _input_size(model: Any, where: str) -> tuple[int, int]:
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] is None or shape[2] is None:
        raise UserError(f"model input shape {shape} is not (batch, height, width, 3)", where)
    return int(shape[1]), int(shape[2])


def prepare_model(config: ModelConfig, seed: int, config_path: str) -> tuple[ModelSpec, float]:
    """Build or load the model on the driver; returns the spec and the seconds it took."""
    started = time.perf_counter()
    if config.path is None:
        model = build_builtin_cnn(config.image_size, seed)
        data, suffix, name = _save_bytes(model), ".keras", "builtin_cnn"
    else:
        where = f"{config_path}: model.path"
        path = Path(config.path)
        data, suffix, name = path.read_bytes(), path.suffix, path.name
        # Keras' own message for a file of the wrong kind names a temporary copy: "File not found".
        signature = {".keras": b"PK\x03\x04", ".h5": b"\x89HDF\r\n\x1a\n"}[suffix]
        if not data.startswith(signature):
            kind = "a zip archive" if suffix == ".keras" else "an HDF5 file"
            raise UserError(f"{path} is not a Keras model: a {suffix} model is {kind}", where)
        try:
            model = load_model_bytes(data, suffix)
        except Exception as err:  # Keras raises many types for a file it cannot read
            raise UserError(f"cannot load {path}: {str(err).splitlines()[0]}", where) from None
    where = f"{config_path}: model"
    spec = ModelSpec(
        name=name,
        data=data,
        suffix=suffix,
        image_size=_input_size(model, where),
        output=_output_kind(model, list(config.classes), f"{config_path}: model.classes"),
        classes=tuple(config.classes),
        parameters=int(model.count_params()),
        digest=model_digest(model),
    )
    return spec, time.perf_counter() - started
