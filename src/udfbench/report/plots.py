"""Matplotlib figures of a run, returned as base64 PNG so the report is one self-contained file.

Each function takes the tidy results (or the summaries derived from them) and returns None when
the data cannot support the plot (a single size, no reference strategy), so the report can say so.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")  # never open a window: reports are built on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from udfbench.results import SETTINGS, measured_runs, varying_settings  # noqa: E402


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def series(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Split rows into plot series: one per strategy, plus cluster and any swept setting that varies."""
    extra = varying_settings(frame, ("cluster", *SETTINGS))
    for key, group in frame.groupby(["strategy", *extra], dropna=False, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        label = str(parts[0]) + "".join(f", {c}={v}" for c, v in zip(extra, parts[1:], strict=True))
        yield label, group


def time_vs_size(results: pd.DataFrame, summary: pd.DataFrame) -> str | None:
    """Median seconds per size with the min-max range as error bars and every measured run as a dot."""
    ok = summary[summary["count"] > 0]
    if ok.empty:
        return None
    measured = measured_runs(results)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, group in series(ok):
        group = group.sort_values("size")
        err = np.vstack([group["median"] - group["min"], group["max"] - group["median"]])
        line = ax.errorbar(group["size"], group["median"], yerr=err, marker="o", capsize=3, label=label)
        runs = measured.merge(group[["strategy", "size", "cluster"]], on=["strategy", "size", "cluster"])
        ax.scatter(runs["size"], runs["seconds"], s=9, alpha=0.4, color=line[0].get_color())
    ax.set(
        xlabel="rows", ylabel="seconds (median, min-max bars, dots: runs)", title="Time against dataset size"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def throughput_vs_size(summary: pd.DataFrame, per_core: bool = False) -> str | None:
    """Images per second against rows; ``per_core`` divides by the executor cores (what a row costs)."""
    ok = summary[summary["count"] > 0]
    if ok.empty:
        return None
    column = "images_per_s_per_core" if per_core else "images_per_s"
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, group in series(ok):
        group = group.sort_values("size")
        ax.plot(group["size"], group[column], marker="o", label=label)
    ylabel = "images per second per core" if per_core else "images per second (rows / median)"
    title = "Throughput per core against dataset size" if per_core else "Throughput against dataset size"
    ax.set(xlabel="rows", ylabel=ylabel, title=title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def speedup_vs_reference(summary: pd.DataFrame, reference: str) -> str | None:
    ok = summary[(summary["count"] > 0) & summary["relative"].notna() & (summary["strategy"] != reference)]
    if ok.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, group in series(ok):
        group = group.sort_values("size")
        ax.plot(group["size"], group["relative"], marker="o", label=label)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set(
        xlabel="rows",
        ylabel=f"speed-up over {reference} (its median / this median)",
        title=f"Speed-up against {reference}",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def cold_vs_steady(summary: pd.DataFrame) -> str | None:
    """At the smallest size, the first warmup run against the median of the measured runs.

    Each Spark strategy starts on a fresh session, so its first warmup run of its first (smallest)
    case is the true cold start: Python workers, TensorFlow import, model load.
    """
    ok = summary[(summary["count"] > 0) & summary["cold_s"].notna()]
    if ok.empty:
        return None
    smallest = ok[ok["size"] == ok["size"].min()]
    labels = [label for label, _ in series(smallest)]
    cold = [group["cold_s"].iloc[0] for _, group in series(smallest)]
    steady = [group["median"].iloc[0] for _, group in series(smallest)]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    ax.bar(x - 0.2, cold, width=0.4, label="cold (first warmup run)")
    ax.bar(x + 0.2, steady, width=0.4, label="steady (median of measured runs)")
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="seconds", title=f"Cold start against steady state at {int(smallest['size'].iloc[0])} rows")
    ax.legend(fontsize=8)
    return _png(fig)


def throughput_vs_axis(summary: pd.DataFrame, axis: str) -> str | None:
    """Images per second against one swept setting, at the largest size."""
    ok = summary[summary["count"] > 0]
    if ok.empty or ok[axis].astype(str).nunique() < 2:
        return None
    largest = ok[ok["size"] == ok["size"].max()].copy()
    largest[axis] = largest[axis].astype(str)
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    others = [c for c in varying_settings(largest, ("cluster", *SETTINGS)) if c != axis]
    for key, group in largest.groupby(["strategy", *others], dropna=False, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        label = str(parts[0]) + "".join(f", {c}={v}" for c, v in zip(others, parts[1:], strict=True))
        ax.plot(group[axis], group["images_per_s"], marker="o", label=label)
    ax.set(
        xlabel=axis,
        ylabel="images per second",
        title=f"Throughput against {axis} at {int(largest['size'].iloc[0])} rows",
    )
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def time_breakdown(summary: pd.DataFrame) -> str | None:
    """Where the wall time goes: model load, decode, predict, and the rest, per strategy.

    The worker-side times are summed over every Python worker, so they are divided by the case's task
    slots to compare with wall time; what is left (scheduling, serialization, Arrow transfer, idle
    slots) is "the rest". Cold: the first warmup run at the smallest size (fresh workers); steady:
    the median measured run at the largest size.
    """
    ok = summary[(summary["count"] > 0) & summary["decode_s"].notna()]
    if ok.empty:
        return None
    smallest, largest = ok[ok["size"] == ok["size"].min()], ok[ok["size"] == ok["size"].max()]
    bars: list[tuple[str, float, float, float, float]] = []
    for (label, cold), (_, steady) in zip(series(smallest), series(largest), strict=False):
        c, s = cold.iloc[0], steady.iloc[0]
        if not np.isnan(c["cold_s"]):
            cold_parts = [c[f"cold_{p}"] / c["slots"] for p in ("load_s", "decode_s", "predict_s")]
            bars.append((f"{label}\ncold, {int(c['size'])} rows", c["cold_s"], *cold_parts))
        parts = [s[p] / s["slots"] for p in ("load_s", "decode_s", "predict_s")]
        bars.append((f"{label}\nsteady, {int(s['size'])} rows", s["median"], *parts))
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(bars) + 1.6))
    y = np.arange(len(bars))
    left = np.zeros(len(bars))
    for index, (name, color) in enumerate(
        [("model load", "#d62728"), ("decode", "#1f77b4"), ("predict", "#2ca02c")], start=2
    ):
        widths = np.nan_to_num([b[index] for b in bars])
        ax.barh(y, widths, left=left, color=color, label=name)
        left += widths
    rest = np.maximum(np.array([b[1] for b in bars]) - left, 0)
    ax.barh(
        y, rest, left=left, color="#bbbbbb", label="the rest (scheduling, transfer, idle; cold: worker start)"
    )
    ax.set_yticks(y, [b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="seconds of wall time (worker time / task slots)", title="Where the time goes")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)
