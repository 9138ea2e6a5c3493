"""The suite's own rules: a test that needs Spark says so, so `-m "not spark"` runs without Java."""

from __future__ import annotations


def test_every_test_that_uses_the_spark_session_carries_the_spark_marker(request) -> None:
    unmarked = [
        item.nodeid
        for item in request.session.items
        if "spark" in getattr(item, "fixturenames", ()) and item.get_closest_marker("spark") is None
    ]
    assert unmarked == []
