"""The built-in CNN, a user's model file, and the saved bytes that travel to the workers.

Models do not pickle. The driver reads the model file (or saves the built-in CNN) once to bytes
(``ModelSpec.data``); workers load those bytes with the model's runtime (``runtimes/``) once per
Python process and keep the result in a cache keyed by digest (see ``predictor.py``), never once
per row or batch. The driver loads the model too, to read what it wants and check what it answers,
so that a model udfbench cannot use is one line before any Spark session starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from udfbench.errors import UserError
from udfbench.model.runtimes import get_runtime, runtime_for_suffix
from udfbench.model.runtimes.base import (
    Layout,
    LoadedModel,
    ModelError,
    Normalization,
    image_input,
    model_input,
)
from udfbench.model.runtimes.keras import save_bytes  # also sets Keras's backend before anything imports it
from udfbench.plan.config import ModelConfig

Output = Literal["sigmoid", "softmax"]
# How far a probe's probabilities may stray from [0, 1] and, for a softmax, from summing to one.
PROBABILITY_SLACK = 1e-3


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to rebuild and feed the model, plus what the report says about it."""

    name: str
    data: bytes
    suffix: str  # the model file's suffix: it picks the runtime, and Keras picks its loader by it
    runtime: str
    layout: Layout
    image_size: tuple[int, int]  # (height, width)
    normalization: Normalization | None
    output: Output
    classes: tuple[str, ...]
    parameters: int
    # What the model computes (``LoadedModel.fingerprint``): equal for equal models, whenever saved.
    digest: str


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


def _output_kind(shape: tuple[int, ...], classes: list[str]) -> Output:
    """One unit is a sigmoid (two classes), one unit per class a softmax; raises ``ModelError`` otherwise."""
    units = shape[1] if len(shape) == 2 else None
    if units == 1 and len(classes) != 2:
        raise ModelError(f"has one sigmoid output, which needs exactly 2 classes, got {len(classes)}")
    if units not in (1, len(classes)):
        raise ModelError(
            f"has output shape [N, {', '.join(map(str, shape[1:]))}], "
            f"which is neither one sigmoid nor a softmax over the {len(classes)} classes {classes}"
        )
    return "sigmoid" if units == 1 else "softmax"


def _check_probabilities(probabilities: np.ndarray, output: Output) -> None:
    """Raise ``ModelError`` unless a probe's answer is probabilities (logits would mislabel rows)."""
    low, high = -PROBABILITY_SLACK, 1 + PROBABILITY_SLACK
    if not (np.isfinite(probabilities).all() and low <= probabilities.min() and probabilities.max() <= high):
        raise ModelError(
            "outputs values outside [0, 1]: udfbench needs probabilities, not logits "
            "(end the model with a sigmoid or a softmax)"
        )
    if output == "softmax" and not np.allclose(probabilities.sum(axis=1), 1, atol=PROBABILITY_SLACK):
        raise ModelError("outputs values that do not sum to 1: not a softmax (end the model with a softmax)")


def _probe(
    loaded: LoadedModel, layout: Layout, size: tuple[int, int], normalization: Normalization | None
) -> np.ndarray:
    """The model's answer to two seeded random images: what its output really is, whatever it declares."""
    images = np.random.default_rng(0).random((2, *size, 3), dtype=np.float32)
    try:
        return np.asarray(loaded.run(model_input(images, layout, normalization)))
    except Exception as err:  # whatever the runtime raises for a model that cannot run
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ModelError(f"fails on two {size[0]}x{size[1]} images ({first})") from None


def _normalization(config: ModelConfig) -> Normalization | None:
    n = config.normalize
    return None if n is None else Normalization(mean=tuple(n.mean), std=tuple(n.std))


def prepare_model(config: ModelConfig, seed: int, config_path: str) -> tuple[ModelSpec, float]:
    """Build or load the model on the driver; returns the spec and the seconds it took.

    A model file that no runtime can load, an input that is not one image tensor, or an output that
    is not probabilities over the configured classes is a ``UserError`` naming the file.
    """
    started = time.perf_counter()
    if config.path is None:
        data, suffix, name = save_bytes(build_builtin_cnn(config.image_size, seed)), ".keras", "builtin_cnn"
        file = "the built-in CNN"
    else:
        path = Path(config.path)
        data, suffix, name, file = path.read_bytes(), path.suffix, path.name, str(path)
    runtime = runtime_for_suffix(suffix)
    normalization = _normalization(config)
    try:
        loaded = get_runtime(runtime).load(data, suffix, threads=None)
        layout, (height, width) = image_input(loaded.input_shape)
        # A model that takes any image size is fed the configured one.
        size = (height or config.image_size, width or config.image_size)
        probabilities = _probe(loaded, layout, size, normalization)
        try:
            output = _output_kind(probabilities.shape, list(config.classes))
        except ModelError as err:
            raise UserError(f"{file} {err}", f"{config_path}: model.classes") from None
        _check_probabilities(probabilities, output)
    except ModelError as err:
        raise UserError(f"{file} {err}", f"{config_path}: model.path") from None
    spec = ModelSpec(
        name=name,
        data=data,
        suffix=suffix,
        runtime=runtime,
        layout=layout,
        image_size=size,
        normalization=normalization,
        output=output,
        classes=tuple(config.classes),
        parameters=loaded.count_parameters(),
        digest=loaded.fingerprint(),
    )
    return spec, time.perf_counter() - started
