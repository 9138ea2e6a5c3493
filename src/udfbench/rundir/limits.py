"""The machine's physical limit for a model: the arithmetic, pure and apart from the measuring.

``calibration.py`` measures what one core does (decode, predict); this module turns those costs into
the images per second that a number of cores could reach if they did nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# A measured rate above this fraction of the limit is implausible: something in the measurement is off.
IMPLAUSIBLE_FRACTION = 1.1


class Limit(NamedTuple):
    images_per_s: float | None
    reason: str | None  # why there is no figure


def limit_images_per_s(
    cores: int | None, decode_ms: float, predict_ms_by_batch: Mapping[int, float]
) -> Limit:
    """Images per second when each of ``cores`` decodes and predicts at the best batch size, nothing else.

    ``cores`` is what the cluster's executors may use; unknown cores give no figure, with the reason.
    """
    if cores is None:
        return Limit(None, "the cores the executors may use are unknown")
    if cores < 1 or not predict_ms_by_batch:
        raise ValueError(f"need at least one core and one batch size, got {cores} and {predict_ms_by_batch}")
    return Limit(cores * 1000.0 / (decode_ms + min(predict_ms_by_batch.values())), None)
