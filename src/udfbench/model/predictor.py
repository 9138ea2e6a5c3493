"""What runs inside a Python worker: the picklable ``Predictor``, its model cache, and its tally.

A strategy wraps ``Predictor.predict`` in whatever Spark construct it is about; the predictor does
the same work for every strategy (decode, normalize and lay out for the model's runtime, predict in
batches, count). Its tally says how many rows the model really saw, how many images were skipped,
how the predicted classes split, and where the time went inside the workers. The tally travels as
data: a Spark strategy puts each call's increment into its output (``counting`` and ``take``), and
the timed action sums it in the same job that runs the model (``measure/sinks.py``). Neither
accumulators nor anything else that Spark Connect lacks is needed, and verification is the same in
classic and Connect sessions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from udfbench.inputs.cells import RowGroupReader
from udfbench.inputs.decode import ImageSource, load_batch
from udfbench.model.runtimes import get_runtime
from udfbench.model.runtimes.base import Layout, LoadedModel, Normalization, model_input
from udfbench.model.spec import ModelSpec

# The fixed head of a tally vector; one count per class follows.
TALLY_FIELDS = (
    "rows", "skipped", "score_sum", "model_loads", "load_s", "decode_s", "predict_s", "math_threads"
)  # fmt: skip


@dataclass(frozen=True)
class Tally:
    rows: int
    skipped: int
    score_sum: float
    model_loads: int
    load_s: float
    decode_s: float
    predict_s: float
    math_threads: float  # summed over the model loads of the run
    class_counts: tuple[int, ...]

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> Tally:
        head = dict(zip(TALLY_FIELDS, vector[: len(TALLY_FIELDS)].tolist(), strict=True))
        counts = tuple(int(round(c)) for c in vector[len(TALLY_FIELDS) :])
        return cls(
            rows=int(round(head.pop("rows"))),
            skipped=int(round(head.pop("skipped"))),
            model_loads=int(round(head.pop("model_loads"))),
            class_counts=counts,
            **head,
        )


class LocalTally:
    """A tally kept in one process: the driver's for a driver-side strategy, or a Python worker's,
    whose counts the strategy hands on as data (``take``)."""

    def __init__(self, width: int) -> None:
        self.value = np.zeros(width)

    def add(self, term: np.ndarray) -> None:
        self.value += term

    def take(self) -> list[float]:
        """What was counted since the last take (the model's load included), as a plain list for
        Spark's ``array<double>`` column; the count starts again from zero."""
        taken = self.value.tolist()
        self.value = np.zeros_like(self.value)
        return taken


def tally_width(n_classes: int) -> int:
    return len(TALLY_FIELDS) + n_classes


def tally_vector(n_classes: int, class_counts: np.ndarray | None = None, **amounts: float) -> np.ndarray:
    """A tally increment: named amounts from TALLY_FIELDS, then the count of each predicted class."""
    vector = np.zeros(tally_width(n_classes))
    for name, amount in amounts.items():
        vector[TALLY_FIELDS.index(name)] = amount
    if class_counts is not None:
        vector[len(TALLY_FIELDS) :] = class_counts
    return vector


# Per Python process: loaded models by digest. Spark reuses Python workers, so the cold load
# (a Keras model, an onnxruntime InferenceSession) happens once per worker.
MODEL_CACHE: dict[str, LoadedModel] = {}


def forget_models() -> None:
    """Empty this process's model cache: the next predict loads the model, as a fresh worker does.

    The driver process loads the model for the reference answers; a driver-side strategy must not
    inherit it, or its cold start would leave out the model load that every Spark strategy pays.
    """
    MODEL_CACHE.clear()


@dataclass(frozen=True)
class Decoded:
    """A decoded batch: the good rows' images, which rows were good, and the seconds it took."""

    images: np.ndarray
    good: np.ndarray
    seconds: float


@dataclass(frozen=True)
class Predictor:
    """Decode and predict a batch of image sources; picklable, so it can close over a UDF.

    ``model_data`` is the saved model: the bytes themselves (in the driver), a Spark broadcast of
    them (classic sessions) or a ``ShippedFile`` (Spark Connect, whose sessions have no broadcast).
    With ``table_reader`` the sources are cells of a table (see ``inputs/cells.py``), whose image
    bytes the predictor reads itself; the read counts as decoding.
    """

    model_data: Any
    digest: str
    suffix: str
    runtime: str
    layout: Layout
    normalization: Normalization | None
    image_size: tuple[int, int]
    output: str
    n_classes: int
    batch_size: int
    skip_bad: bool
    threads: int | None
    table_reader: RowGroupReader | None = None
    tally: Any = field(default=None, compare=False)

    @classmethod
    def for_spec(
        cls,
        spec: ModelSpec,
        model_data: Any,
        batch_size: int,
        skip_bad: bool,
        threads: int | None,
        table_reader: RowGroupReader | None = None,
    ) -> Predictor:
        return cls(
            model_data=model_data,
            digest=spec.digest,
            suffix=spec.suffix,
            runtime=spec.runtime,
            layout=spec.layout,
            normalization=spec.normalization,
            image_size=spec.image_size,
            output=spec.output,
            n_classes=len(spec.classes),
            batch_size=batch_size,
            skip_bad=skip_bad,
            threads=threads,
            table_reader=table_reader,
        )

    def with_tally(self, tally: Any) -> Predictor:
        return replace(self, tally=tally)

    def counting(self) -> Predictor:
        """This predictor with a tally of its own process, for a Spark worker: after each call the
        strategy puts ``tally.take()`` into its output, so the counts travel with the predictions."""
        return self.with_tally(LocalTally(tally_width(self.n_classes)))

    def model(self) -> LoadedModel:
        """The cached model of this process, loaded on first use; the load time is tallied."""
        model = MODEL_CACHE.get(self.digest)
        if model is None:
            started = time.perf_counter()
            data = self.model_data.value if hasattr(self.model_data, "value") else self.model_data
            model = MODEL_CACHE[self.digest] = get_runtime(self.runtime).load(data, self.suffix, self.threads)
            self._add(model_loads=1, load_s=time.perf_counter() - started, math_threads=model.math_threads)
        return model

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """The model's probabilities (rows, outputs) for decoded NHWC images in [0, 1].

        The one way into the model: normalization and the model's layout are applied here, so every
        strategy and the driver's reference feed it identical arrays.
        """
        return np.asarray(self.model().run(model_input(images, self.layout, self.normalization)))

    def _add(self, **amounts: float) -> None:
        if self.tally is not None:
            self.tally.add(tally_vector(self.n_classes, **amounts))

    def _labels_and_scores(self, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.output == "sigmoid":
            scores = probabilities[:, 0].astype(np.float32)
            return (scores >= 0.5).astype(np.int32), scores
        return probabilities.argmax(axis=1).astype(np.int32), probabilities.max(axis=1).astype(np.float32)

    def decode(self, sources: Sequence[ImageSource]) -> Decoded:
        """The first half of ``predict``: decode one batch."""
        started = time.perf_counter()
        # Cells are read one by one as they are decoded (see RowGroupReader).
        readable = self.table_reader.read(sources) if self.table_reader is not None else sources
        images, good = load_batch(readable, self.image_size, self.skip_bad)
        return Decoded(images, good, time.perf_counter() - started)

    def infer(self, decoded: Decoded) -> tuple[np.ndarray, np.ndarray]:
        """The second half of ``predict``: one model call on a decoded batch, tallied."""
        self.model()  # a cold load is tallied as load_s, not predict_s
        started = time.perf_counter()
        labels = np.full(len(decoded.good), -1, dtype=np.int32)
        scores = np.full(len(decoded.good), np.nan, dtype=np.float32)
        if len(decoded.images):
            index = np.flatnonzero(decoded.good)
            labels[index], scores[index] = self._labels_and_scores(self.probabilities(decoded.images))
        if self.tally is not None:
            self.tally.add(
                tally_vector(
                    self.n_classes,
                    class_counts=np.bincount(labels[labels >= 0], minlength=self.n_classes),
                    rows=len(labels),
                    skipped=int((labels < 0).sum()),
                    score_sum=float(np.nansum(scores)),
                    decode_s=decoded.seconds,
                    predict_s=time.perf_counter() - started,
                )
            )
        return labels, scores

    def predict(self, sources: Sequence[ImageSource]) -> tuple[np.ndarray, np.ndarray]:
        """Labels (class index, -1 for a skipped image) and scores (NaN when skipped), in input order.

        ``sources`` are predicted in chunks of ``batch_size``; a caller that hands over one row at a
        time (the row-at-a-time UDFs) gets batches of one, which is the point of those strategies.
        """
        if len(sources) == 0:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        parts = [
            self.infer(self.decode(sources[start : start + self.batch_size]))
            for start in range(0, len(sources), self.batch_size)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
