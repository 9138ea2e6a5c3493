"""``python_pipelined``: no Spark; the single-process ceiling the Spark strategies are measured against.

A thread pool decodes the next batches while the model predicts the current one (Pillow releases the
GIL while decoding and resizing), and TensorFlow uses every core for large batches. Memory stays
bounded: at most ``PREFETCH`` decoded batches wait at any time.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from udfbench.predictor import Predictor
from udfbench.strategies.base import LocalStrategy

PREFETCH = 2
# The ceiling predicts in large batches whatever the configured batch size, as a tuned job would.
MIN_BATCH = 64


class PythonPipelined(LocalStrategy):
    name = "python_pipelined"
    eval_type = "none"

    def chunk_rows(self, predictor: Predictor) -> int:
        return max(predictor.batch_size, MIN_BATCH)

    def predict_local(
        self, chunks: Iterable[pd.DataFrame], predictor: Predictor, source: str
    ) -> Iterator[pd.DataFrame]:
        # The feeder thread hands each batch to the pool's map, so decoding a batch is itself parallel.
        cores = os.cpu_count() or 2
        with ThreadPoolExecutor(max_workers=cores) as pool, ThreadPoolExecutor(max_workers=1) as feeder:
            pending: deque = deque()
            for chunk in chunks:
                decoding = feeder.submit(predictor.decode, chunk[source].tolist(), pool.map)
                pending.append((chunk, decoding))
                if len(pending) > PREFETCH:
                    yield self._finish(predictor, *pending.popleft())
            while pending:
                yield self._finish(predictor, *pending.popleft())

    @staticmethod
    def _finish(predictor: Predictor, chunk: pd.DataFrame, decoding) -> pd.DataFrame:
        labels, scores = predictor.infer(decoding.result())
        return chunk.drop(columns="content", errors="ignore").assign(label=labels, score=scores)


STRATEGY = PythonPipelined()
