"""``python``: the founding study's driver-side loop, done right: batched and streaming.

The study loaded every decoded image into one array and ran out of memory at 3000 rows; this loop
decodes and predicts one batch at a time, so its memory does not grow with the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd

from udfbench.measure.strategies.base import LocalStrategy
from udfbench.model.predictor import Predictor


class PythonLoop(LocalStrategy):
    name = "python"
    eval_type = "none"

    def predict_local(
        self, chunks: Iterable[pd.DataFrame], predictor: Predictor, source: str
    ) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            labels, scores = predictor.predict(chunk[source].tolist())
            yield chunk.drop(columns="content", errors="ignore").assign(label=labels, score=scores)


STRATEGY = PythonLoop()
