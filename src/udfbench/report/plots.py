"""Matplotlib figures of a run, returned as base64 PNG so the report is one self-contained file.

Each function takes the tidy results (or the summaries derived from them) and returns None when
the data cannot support the plot (a single size, no reference strategy), so the report can say so.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")  # never open a window: reports are built on servers and in CI
# Labels are run ids, cluster and strategy names as users wrote them: a "$" in one is a dollar sign,
# not the start of a formula that matplotlib would refuse to parse.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from udfbench import stats  # noqa: E402
from udfbench.results import SETTINGS, case_ids, case_name, measured_runs, varying_settings  # noqa: E402
from udfbench.strategies.registry import STRATEGY_NAMES  # noqa: E402

# One colour per strategy in every plot, report and comparison, whatever the run holds: tab10 by the
# strategy's place in the registry, then more for strategies beyond it.
PALETTE = (*matplotlib.colormaps["tab10"].colors, "#000000", *matplotlib.colormaps["Dark2"].colors)
# Series of one strategy that differ in cluster or a swept setting: same colour, other line and marker.
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def strategy_color(strategy: str) -> tuple[float, float, float] | str:
    """The strategy's colour: fixed by its place in the registry; others by a stable hash of the name."""
    if strategy in STRATEGY_NAMES:
        return PALETTE[STRATEGY_NAMES.index(strategy) % len(PALETTE)]
    return PALETTE[len(STRATEGY_NAMES) + zlib.crc32(strategy.encode()) % (len(PALETTE) - len(STRATEGY_NAMES))]


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    # "tight" keeps the legends, which sit outside the axes, inside the picture.
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _legend_outside(ax: plt.Axes, fontsize: int = 8) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def series(frame: pd.DataFrame, extra: list[str] | None = None) -> Iterator[tuple[str, pd.DataFrame, dict]]:
    """Split rows into plot series: one per strategy, plus cluster and any swept setting that varies.

    Each comes with its style: the strategy's colour, and a line and marker per variant of it.
    """
    if extra is None:
        extra = varying_settings(frame, ("cluster", *SETTINGS))
    variants: dict[str, int] = {}
    for key, group in frame.groupby(["strategy", *extra], dropna=False, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        strategy = str(parts[0])
        label = strategy + "".join(f", {c}={v}" for c, v in zip(extra, parts[1:], strict=True))
        index = variants[strategy] = variants.get(strategy, -1) + 1
        style = {
            "color": strategy_color(strategy),
            "linestyle": LINESTYLES[index % len(LINESTYLES)],
            "marker": MARKERS[index % len(MARKERS)],
        }
        yield label, group, style


def time_vs_size(results: pd.DataFrame, summary: pd.DataFrame) -> str | None:
    """Median seconds per size with the min-max range as error bars and every measured run as a dot."""
    ok = summary[summary["count"] > 0]
    if ok.empty:
        return None
    measured = measured_runs(results)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, group, style in series(ok):
        group = group.sort_values("size")
        err = np.vstack([group["median"] - group["min"], group["max"] - group["median"]])
        ax.errorbar(group["size"], group["median"], yerr=err, capsize=3, label=label, **style)
        runs = measured.merge(group[["strategy", "size", "cluster"]], on=["strategy", "size", "cluster"])
        ax.scatter(runs["size"], runs["seconds"], s=9, alpha=0.4, color=style["color"])
    ax.set(
        xlabel="rows", ylabel="seconds (median, min-max bars, dots: runs)", title="Time against dataset size"
    )
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _png(fig)


def throughput_vs_size(summary: pd.DataFrame, per_core: bool = False) -> str | None:
    """Images per second against rows; ``per_core`` divides by the executor cores (what a row costs)."""
    ok = summary[summary["count"] > 0]
    if ok.empty:
        return None
    column = "images_per_s_per_core" if per_core else "images_per_s"
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, group, style in series(ok):
        group = group.sort_values("size")
        ax.plot(group["size"], group[column], label=label, **style)
    ylabel = "images per second per core" if per_core else "images per second (rows / median)"
    title = "Throughput per core against dataset size" if per_core else "Throughput against dataset size"
    ax.set(xlabel="rows", ylabel=ylabel, title=title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _png(fig)


def speedup_vs_reference(summary: pd.DataFrame, reference: str) -> str | None:
    ok = summary[(summary["count"] > 0) & summary["relative"].notna() & (summary["strategy"] != reference)]
    if ok.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, group, style in series(ok):
        group = group.sort_values("size")
        ax.plot(group["size"], group["relative"], label=label, **style)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set(
        xlabel="rows",
        ylabel=f"speed-up over {reference} (its median / this median)",
        title=f"Speed-up against {reference}",
    )
    ax.grid(alpha=0.3)
    _legend_outside(ax)
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
    shown = list(series(smallest))
    labels = [label for label, _, _ in shown]
    colors = [style["color"] for _, _, style in shown]
    cold = [group["cold_s"].iloc[0] for _, group, _ in shown]
    steady = [group["median"].iloc[0] for _, group, _ in shown]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    # The strategy's colour in both bars: hatched and pale for cold, solid for steady.
    ax.bar(x - 0.2, cold, width=0.4, color=colors, alpha=0.45, hatch="//", edgecolor=colors,
           label="cold (first warmup run, hatched)")  # fmt: skip
    ax.bar(x + 0.2, steady, width=0.4, color=colors, label="steady (median of measured runs, solid)")
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="seconds", title=f"Cold start against steady state at {int(smallest['size'].iloc[0])} rows")
    legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    for handle in legend.legend_handles:  # the legend explains the fill, not a colour
        handle.set_color("#888888")
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
    for label, group, style in series(largest, others):
        ax.plot(group[axis], group["images_per_s"], label=label, **style)
    ax.set(
        xlabel=axis,
        ylabel="images per second",
        title=f"Throughput against {axis} at {int(largest['size'].iloc[0])} rows",
    )
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
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
    for (label, cold, _), (_, steady, _) in zip(series(smallest), series(largest), strict=False):
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
    _legend_outside(ax, fontsize=7)
    return _png(fig)


def ranked_throughput(results: pd.DataFrame, summary: pd.DataFrame) -> str | None:
    """Images per second of every case, fastest first, with the 95% interval of the median as error
    bars and the machine's limit as a dashed line: the plot for a run of one dataset size."""
    ok = summary[summary["count"] > 0].sort_values("images_per_s", ascending=False)
    if ok.empty:
        return None
    runs = measured_runs(results).copy()
    runs["id"] = case_ids(runs)
    seconds = {key: group["seconds"].to_numpy() for key, group in runs.groupby("id")}
    varying = varying_settings(ok, ("cluster", *SETTINGS))
    labels, rates, errors, colors = [], [], [], []
    for (_, row), key in zip(ok.iterrows(), case_ids(ok), strict=True):
        low, high = stats.median_interval(seconds[key])
        rate = row["images_per_s"]
        # Rates are rows / seconds: the slow end of the time interval is the low end of the rate's.
        labels.append(case_name(row, varying, with_cluster=False, with_size=False))
        rates.append(rate)
        errors.append((rate - rate * row["median"] / high, rate * row["median"] / low - rate))
        colors.append(strategy_color(str(row["strategy"])))
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(ok) + 1.6))
    y = np.arange(len(ok))
    ax.barh(y, rates, xerr=np.array(errors).T, color=colors, capsize=3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    for limit in ok["limit_images_per_s"].dropna().unique():
        ax.axvline(limit, color="grey", linestyle="--", linewidth=1)
        ax.annotate("machine's limit", (limit, -0.6), fontsize=7, color="grey", ha="right")
    size = int(ok["size"].iloc[0])
    ax.set(
        xlabel="images per second (median; bars: 95% interval)", title=f"Throughput at {size} rows, ranked"
    )
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def memory_vs_size(summary: pd.DataFrame) -> str | None:
    """Peak resident memory against rows: the largest Python worker, the driver, the largest executor
    JVM. A line that stays flat as rows grow is a strategy that streams."""
    roles = [
        ("worker_peak_rss_mb", "largest Python worker"),
        ("driver_peak_rss_mb", "driver (Python)"),
        ("executor_peak_rss_mb", "largest executor JVM"),
    ]
    ok = summary[summary["count"] > 0]
    present = [(column, title) for column, title in roles if column in ok and ok[column].notna().any()]
    if ok.empty or not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.8), squeeze=False)
    for ax, (column, title) in zip(axes[0], present, strict=True):
        for label, group, style in series(ok[ok[column].notna()]):
            group = group.sort_values("size")
            ax.plot(group["size"], group[column], label=label, **style)
        ax.set(xlabel="rows", ylabel="peak RSS (MB)", title=title)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    _legend_outside(axes[0][-1])
    return _png(fig)
