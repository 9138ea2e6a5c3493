"""The one interface every model runtime implements, and the input preparation they all share.

A runtime turns a model file's bytes into a ``LoadedModel``: something that says what input it
wants (its input shape, from which the layout and image size are read) and turns a batch into class
probabilities. Everything else is shared and lives here or in the predictor: images are decoded to
float32 NHWC in [0, 1] (``inputs/decode.py``), normalized and transposed to the model's layout by
``model_input``, so every strategy and the driver's reference feed a model identical arrays.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

import numpy as np

Layout = Literal["NHWC", "NCHW"]
# A dimension of a model's input or output; None where the model accepts any size (a symbolic or
# unknown dimension, such as a dynamic batch).
Dim = int | None
IMAGE_INPUT = "an image tensor (rank 4 with 3 channels, NCHW or NHWC)"


class ModelError(Exception):
    """A model that a runtime cannot load or that udfbench cannot feed.

    The message is a predicate about the file ("is not an ONNX model: ..."); the caller names the file.
    """


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x - mean) / std``, applied to RGB images already scaled to [0, 1]."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class LoadedModel(ABC):
    """A model loaded by one runtime in one process: what it wants, and a batch call."""

    input_shape: tuple[Dim, ...]
    output_shape: tuple[Dim, ...]
    # The math threads the runtime's pools use in this process: what a Python worker really runs with.
    math_threads: int

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities of shape (rows, outputs) for a float32 batch already in the model's layout."""

    @abstractmethod
    def count_parameters(self) -> int:
        """Trainable and frozen weights together, for the report (the driver asks once)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A digest of what the model computes, not of how its file was saved: equal models match."""

    def count_flops(self) -> FlopCount:
        """FLOPs per image, for the calibration's GFLOP/s; a runtime that cannot count says why."""
        return FlopCount(None, f"udfbench counts FLOPs of Keras models only, not of {type(self).__name__}")


class FlopCount(NamedTuple):
    flops: int | None
    reason: str | None  # why the FLOPs are unknown


class Runtime(ABC):
    name: ClassVar[str]
    # The module a Python worker must import to run it (a remote Spark Connect server's workers are
    # checked for it before any case).
    module: ClassVar[str]

    @abstractmethod
    def load(self, data: bytes, suffix: str, threads: int | None) -> LoadedModel:
        """Load a saved model from bytes; ``threads`` caps the runtime's thread pools (None: its default).

        Raises ``ModelError`` for bytes this runtime cannot read or a model udfbench cannot feed.
        """


def image_input(shape: Sequence[Dim]) -> tuple[Layout, tuple[Dim, Dim]]:
    """The layout and (height, width) of an image input; raises ``ModelError`` for anything else.

    Channels last wins when both the second and the last dimension are 3 (an image 3 pixels high).
    """
    shape = tuple(shape)
    if len(shape) == 4 and shape[3] == 3:
        return "NHWC", (shape[1], shape[2])
    if len(shape) == 4 and shape[1] == 3:
        return "NCHW", (shape[2], shape[3])
    raise ModelError(f"has input shape {show_shape(shape)}, not {IMAGE_INPUT}")


def model_input(images: np.ndarray, layout: Layout, normalization: Normalization | None) -> np.ndarray:
    """Turn decoded NHWC images in [0, 1] into what the model is fed: normalized, in its layout."""
    batch = images.astype(np.float32, copy=False)
    if normalization is not None:
        mean = np.asarray(normalization.mean, dtype=np.float32)
        std = np.asarray(normalization.std, dtype=np.float32)
        batch = (batch - mean) / std
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch)


def show_shape(shape: Sequence[Dim]) -> str:
    """A shape as users read it: ``[N, 3, 224, 224]``, N for a dimension of any size."""
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"
