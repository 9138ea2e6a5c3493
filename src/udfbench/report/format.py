"""Numbers and consoles, formatted the same way by every output (terminal, HTML, Markdown)."""

from __future__ import annotations

import math
import sys
from typing import Any

from rich.console import Console


def format_number(value: Any, digits: int = 3) -> str:
    """Significant digits for timings; a dash for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}g}" if abs(number) < 10**digits else f"{number:,.0f}"


def console() -> Console:
    """A console for tables: the terminal's width, or a wide fixed one in logs (CI is not 80 wide)."""
    return Console() if sys.stdout.isatty() else Console(width=180)


def interval(low: float | None, high: float | None, runs: int | None = None, digits: str = ".3f") -> str:
    """``[low, high]``, or why there is none: one run has no spread to estimate an interval from."""
    if runs is not None and runs < 2:
        return "one run: no interval"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "–"
    return f"[{low:{digits}}, {high:{digits}}]"
