"""``python``: the founding study's driver-side loop, done right: batched and streaming.

The study loaded every decoded image into one array and ran out of memory at 3000 rows; this loop
decodes and predicts one batch at a time, so its memory does not grow with the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from udfbench.predictor import Predictor
from udfbench.strategies.base import LocalStrategy, chunk_sources


class PythonLoop(LocalStrategy):
    name = "python"
    eval_type = "none"

    def predict_local(self, rows: pd.DataFrame, predictor: Predictor, source: str) -> Iterator[pd.DataFrame]:
        for start in range(0, len(rows), predictor.batch_size):
            chunk = rows.iloc[start : start + predictor.batch_size]
            labels, scores = predictor.predict(chunk_sources(chunk, source))
            yield chunk.assign(label=labels, score=scores)


STRATEGY = PythonLoop()
