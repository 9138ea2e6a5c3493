"""The reference: near-ties may go either way, anything else must match row by row."""

from __future__ import annotations

import pandas as pd

from udfbench.model.reference import Reference

REFERENCE = Reference(
    labels={"clear.jpg": 1, "tie.jpg": 0, "bad.jpg": -1},
    scores={"clear.jpg": 0.9, "tie.jpg": 0.49995, "bad.jpg": float("nan")},
    ambiguous=frozenset({"tie.jpg"}),
    tolerance=1e-4,
)
ROWS = pd.DataFrame({"id": [0, 1, 2], "path": ["clear.jpg", "tie.jpg", "bad.jpg"]})


def predicted(labels: list[int], scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": [0, 1, 2], "label": labels, "score": scores})


def test_a_label_flipped_within_the_tolerance_of_a_tie_is_an_honest_answer() -> None:
    parity = REFERENCE.compare_rows(predicted([1, 1, -1], [0.9, 0.50003, float("nan")]), ROWS)
    assert parity.problem == "" and parity.label_mismatches == 0


def test_a_flipped_clear_label_or_a_score_beyond_the_tolerance_is_not() -> None:
    flipped = REFERENCE.compare_rows(predicted([0, 0, -1], [0.9, 0.49995, float("nan")]), ROWS)
    assert flipped.label_mismatches == 1 and "labels differ" in flipped.problem
    drifted = REFERENCE.compare_rows(predicted([1, 0, -1], [0.9005, 0.49995, float("nan")]), ROWS)
    assert "scores differ" in drifted.problem


def test_a_score_where_the_reference_skipped_the_image_or_a_lost_row_fails() -> None:
    missing = REFERENCE.compare_rows(predicted([1, 0, 1], [0.9, 0.49995, float("nan")]).iloc[:2], ROWS)
    assert "returned 2 rows for 3 ids" in missing.problem
    invented = REFERENCE.compare_rows(predicted([1, 0, -1], [0.9, 0.49995, 0.7]), ROWS)
    assert invented.problem == "a score where the reference skipped the image as unreadable"
    nan = float("nan")
    lost = REFERENCE.compare_rows(predicted([-1, 0, -1], [nan, 0.49995, nan]), ROWS)
    assert lost.problem == "a score is missing where the reference has one"
