"""Numbers and consoles, formatted the same way by every output (terminal, HTML, Markdown)."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
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


def fixed_cost(fit: Mapping[str, Any]) -> str:
    """A fitted fixed cost as far as its 95% interval supports it (``fixed_reading``): seconds only
    when clearly above zero; a cost below zero is no cost a job pays, but a line that does not fit."""
    reading = fit.get("fixed_reading", "unknown")
    if reading == "zero":
        return "not distinguishable from zero"
    if reading == "negative":
        return "below zero: the straight line does not fit (the per-row cost rises with size)"
    seconds = f"{format_number(fit['fixed_s'])} s"
    return seconds if reading == "positive" else f"{seconds} (two points: no interval)"


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


# A duration is shown in the largest unit it fills twice: 95 s, 42 min, 5.3 h, 3.2 days.
_DURATION_UNITS = ((2 * 86400, 86400, "days"), (2 * 3600, 3600, "h"), (120, 60, "min"), (0, 1, "s"))


def duration_unit(seconds: float) -> tuple[float, str]:
    """The divisor and name of the unit ``seconds`` reads best in."""
    for above, divisor, name in _DURATION_UNITS:
        if abs(seconds) >= above:
            return divisor, name
    return 1, "s"


def format_duration(seconds: float | None, low: float | None = None, high: float | None = None) -> str:
    """``5.3 h``, or with an interval ``5.3 h [4.9, 5.8]`` (both ends in the value's unit)."""
    if seconds is None or math.isnan(seconds):
        return "–"
    divisor, name = duration_unit(seconds)
    text = f"{format_number(seconds / divisor)} {name}"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return text
    return f"{text} [{format_number(low / divisor)}, {format_number(high / divisor)}]"


def format_mb(mb: float | None) -> str:
    """Memory in MB, or GB from 1024 MB."""
    if mb is None or math.isnan(mb):
        return "–"
    return f"{format_number(mb / 1024)} GB" if mb >= 1024 else f"{format_number(mb)} MB"
