"""``udf_arrow``: the Arrow-optimized row-at-a-time Python UDF (``useArrow=True``).

Rows cross from the JVM in Arrow batches instead of pickled rows, but the function is still called
once per row, so the model still predicts one image at a time. Everything else is ``udf``'s.
"""

from __future__ import annotations

from udfbench.measure.strategies.udf import RowUdf


class ArrowRowUdf(RowUdf):
    name = "udf_arrow"
    eval_type = "SQL_ARROW_BATCHED_UDF"
    use_arrow = True


STRATEGY = ArrowRowUdf()
