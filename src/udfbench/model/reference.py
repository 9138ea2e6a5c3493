"""What makes a timing trustworthy: the driver's reference answers, and the checks against them.

Every timed run's tally (rows the model saw, images skipped, how the predictions split between
classes, the sum of scores) must match what the reference predicts for the same rows; once per
strategy the predictions are also compared row by row. A fast wrong answer is not a result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from udfbench.errors import CaseFailed
from udfbench.inputs.decode import BadImage, ImageSource, load_image
from udfbench.model.predictor import Predictor, Tally
from udfbench.model.spec import ModelSpec


class ParityFailed(CaseFailed):
    """The strategy's answers differ from the reference."""


@dataclass(frozen=True)
class RowParity:
    """The row-by-row comparison of one strategy's predictions with the reference."""

    rows: int
    label_mismatches: int
    max_score_diff: float  # NaN when a score is missing or the rows did not line up
    problem: str  # "" when the predictions agree


@dataclass(frozen=True)
class Reference:
    """The driver's prediction for each distinct image: what every strategy must reproduce.

    Images are keyed as the dataset's ``path`` column names them: a file's path, or for a table of
    image bytes a digest of the bytes (see ``table.image_key``).
    """

    labels: dict[str, int]
    scores: dict[str, float]
    # Images whose predicted class sits within the tolerance of a tie: either class is an honest answer.
    ambiguous: frozenset[str]
    tolerance: float

    @classmethod
    def compute(
        cls, spec: ModelSpec, images: Iterable[tuple[str, ImageSource]], tolerance: float
    ) -> Reference:
        """Predict each (key, image) once; ``images`` may be a stream (one image in memory at a time)."""
        predictor = Predictor.for_spec(spec, spec.data, batch_size=1, skip_bad=True, threads=None)
        labels, scores, ambiguous = {}, {}, set()
        for key, source in images:
            if key in labels:
                continue
            try:
                image = load_image(source, spec.image_size)
            except BadImage:
                labels[key], scores[key] = -1, float("nan")
                continue
            probabilities = predictor.probabilities(image[None])[0]
            if spec.output == "sigmoid":
                score = float(probabilities[0])
                labels[key], scores[key] = int(score >= 0.5), score
                tie_gap = abs(score - 0.5)
            else:
                top2 = np.sort(probabilities)[-2:]
                labels[key], scores[key] = int(probabilities.argmax()), float(top2[1])
                tie_gap = float(top2[1] - top2[0])
            if tie_gap <= tolerance:
                ambiguous.add(key)
        return cls(labels, scores, frozenset(ambiguous), tolerance)

    def check_tally(self, tally: Tally, rows: pd.DataFrame, n_classes: int) -> None:
        """Raise unless a run's tally matches what the reference predicts for ``rows``."""
        paths = rows["path"]
        if tally.rows != len(rows):
            raise CaseFailed(f"the model saw {tally.rows} of {len(rows)} rows")
        labels = paths.map(self.labels).to_numpy()
        skipped = int((labels < 0).sum())
        if tally.skipped != skipped:
            raise CaseFailed(f"{tally.skipped} images skipped, the reference skips {skipped}")
        expected = np.bincount(labels[labels >= 0], minlength=n_classes)
        moved = int(np.abs(np.asarray(tally.class_counts) - expected).sum()) // 2
        if moved > int(paths.isin(self.ambiguous).sum()):
            raise ParityFailed(
                f"class counts {list(tally.class_counts)} differ from the reference {expected.tolist()}"
            )
        expected_sum = float(np.nansum(paths.map(self.scores).to_numpy()))
        if abs(tally.score_sum - expected_sum) > self.tolerance * max(len(rows), 1):
            raise ParityFailed(f"scores sum to {tally.score_sum:.6f}, the reference to {expected_sum:.6f}")

    def compare_rows(self, predicted: pd.DataFrame, rows: pd.DataFrame) -> RowParity:
        """Row by row: labels must match except on near-ties, scores within the tolerance."""
        if len(predicted) != len(rows) or set(predicted["id"]) != set(rows["id"]):
            return RowParity(
                len(predicted),
                0,
                float("nan"),
                f"returned {len(predicted)} rows for {len(rows)} ids, or other ids",
            )
        merged = rows[["id", "path"]].merge(predicted[["id", "label", "score"]], on="id")
        want_label = merged["path"].map(self.labels)
        want_score = merged["path"].map(self.scores)
        clear = ~merged["path"].isin(self.ambiguous)
        mismatches = int(((merged["label"] != want_label) & clear).sum())
        diffs = (merged["score"].astype(float) - want_score).abs()
        both_nan = merged["score"].isna() & want_score.isna()
        max_diff = float(diffs[~both_nan].max()) if (~both_nan).any() else 0.0
        if (diffs.isna() & ~both_nan).any():
            problem = (
                "a score is missing where the reference has one"
                if (merged["score"].isna() & want_score.notna()).any()
                else "a score where the reference skipped the image as unreadable"
            )
            return RowParity(len(predicted), mismatches, float("nan"), problem)
        problem = ""
        if mismatches:
            problem = f"{mismatches} labels differ from the reference"
        elif max_diff > self.tolerance:
            problem = f"scores differ by up to {max_diff:.2e} (tolerance {self.tolerance:.0e})"
        return RowParity(len(predicted), mismatches, max_diff, problem)


def accuracy(predicted: pd.DataFrame, rows: pd.DataFrame, classes: Sequence[str]) -> float | None:
    """The fraction of rows with a true class whose predicted class is it (a skipped image is wrong);
    None when no row has a true class."""
    merged = rows[["id", "truth"]].merge(predicted[["id", "label"]], on="id")
    known = merged[merged["truth"].fillna("") != ""]
    if known.empty:
        return None
    names = known["label"].map(lambda i: classes[i] if 0 <= i < len(classes) else None)
    return float((names == known["truth"]).mean())
