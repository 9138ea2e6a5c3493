"""Matplotlib figures of a run, returned as base64 PNG so the report is one self-contained file.

Each function takes the tidy results (or the summaries derived from them) and returns None when
the data cannot support the plot (a single size, no reference strategy), so the report can say so.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # never open a window: reports are built on servers and in CI
# Labels are run ids, cluster and strategy names as users wrote them: a "$" in one is a dollar sign,
# not the start of a formula that matplotlib would refuse to parse.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402

from udfbench.plan.names import STRATEGY_NAMES  # noqa: E402
from udfbench.plan.repeats import median_interval  # noqa: E402
from udfbench.rundir.identity import (  # noqa: E402
    SETTINGS,
    case_ids,
    case_name,
    measured_runs,
    varying_settings,
)

if TYPE_CHECKING:
    from udfbench.analysis.capacity import CapacityPlan

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


def png_of(fig: plt.Figure) -> str:
    """``fig`` as a base64 PNG, for an <img> inside a self-contained page; the figure is closed."""
    buffer = io.BytesIO()
    fig.tight_layout()
    # "tight" keeps the legends, which sit outside the axes, inside the picture.
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _from_zero(ax: plt.Axes, top: float) -> None:
    """A y axis from zero with headroom over ``top``: a flat line (a strategy whose memory does not
    grow) would otherwise sit on the frame's top edge, where it reads as a clipped one."""
    if np.isfinite(top) and top > 0:
        ax.set_ylim(0, top * 1.12)
    else:
        ax.set_ylim(bottom=0)


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
    return png_of(fig)


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
    _from_zero(ax, ok[column].max())
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return png_of(fig)


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
    return png_of(fig)


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
    return png_of(fig)


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
    _from_zero(ax, largest["images_per_s"].max())
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return png_of(fig)


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
    return png_of(fig)


def ranked_throughput(results: pd.DataFrame, summary: pd.DataFrame) -> str | None:
    """``ranked_throughput_figure`` as a PNG."""
    fig = ranked_throughput_figure(results, summary)
    return None if fig is None else png_of(fig)


def ranked_throughput_figure(results: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure | None:
    """Images per second of every case, fastest first, with the 95% interval of the median as error
    bars where a case has more than one run, and each cluster's limit as a dashed line, labelled,
    inside the frame: the plot for a run of one dataset size."""
    ok = summary[summary["count"] > 0].sort_values("images_per_s", ascending=False)
    if ok.empty:
        return None
    runs = measured_runs(results).copy()
    runs["id"] = case_ids(runs)
    seconds = {key: group["seconds"].to_numpy() for key, group in runs.groupby("id")}
    varying = varying_settings(ok, ("cluster", *SETTINGS))
    labels, rates, colors, spans = [], [], [], []
    for (_, row), key in zip(ok.iterrows(), case_ids(ok), strict=True):
        rate = row["images_per_s"]
        labels.append(case_name(row, varying, with_cluster=False, with_size=False))
        rates.append(rate)
        colors.append(strategy_color(str(row["strategy"])))
        if len(seconds[key]) > 1:
            low, high = median_interval(seconds[key])
            # Rates are rows / seconds: the slow end of the time interval is the low end of the rate's.
            spans.append((rate - rate * row["median"] / high, rate * row["median"] / low - rate))
        else:  # one run has no interval: no bar, rather than a bar of zero width that looks like one
            spans.append(None)
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(ok) + 1.6))
    y = np.arange(len(ok))
    ax.barh(y, rates, color=colors)
    with_interval = [i for i, span in enumerate(spans) if span is not None]
    if with_interval:
        errors = np.array([spans[i] for i in with_interval]).T
        ax.errorbar([rates[i] for i in with_interval], with_interval, xerr=errors, fmt="none",
                    ecolor="black", capsize=3)  # fmt: skip
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    limits = ok.dropna(subset=["limit_images_per_s"]).groupby("limit_images_per_s")["cluster"].unique()
    right = max([rates[i] + (spans[i] or (0, 0))[1] for i in range(len(rates))] + list(limits.index))
    ax.set_xlim(0, right * 1.12)  # every bar, interval and limit inside the frame, with room for a label
    for limit, clusters in limits.items():
        whose = "" if len(limits) == 1 else f" of {', '.join(map(str, clusters))}"
        ax.axvline(limit, color="grey", linestyle="--", linewidth=1)
        # Inside the frame, at its top, just right of the line: it says what the line is.
        ax.text(limit, 0.99, f" limit{whose}\n {limit:.0f}/s", transform=ax.get_xaxis_transform(),
                fontsize=7, color="dimgrey", ha="left", va="top")  # fmt: skip
    bars = "; bars: 95% interval" if with_interval else ""
    alone = "; one run: no interval" if len(with_interval) < len(spans) else ""
    size = int(ok["size"].iloc[0])
    ax.set(xlabel=f"images per second (median{bars}{alone})", title=f"Throughput at {size} rows, ranked")
    ax.grid(axis="x", alpha=0.3)
    return fig


def memory_vs_size(summary: pd.DataFrame) -> str | None:
    """``memory_figure`` as a PNG."""
    fig = memory_figure(summary)
    return None if fig is None else png_of(fig)


def memory_figure(summary: pd.DataFrame) -> plt.Figure | None:
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
    shown: dict[str, plt.Artist] = {}
    for ax, (column, title) in zip(axes[0], present, strict=True):
        for label, group, style in series(ok[ok[column].notna()]):
            group = group.sort_values("size")
            (shown[label],) = ax.plot(group["size"], group[column], label=label, **style)
        ax.set(xlabel="rows", ylabel="peak RSS (MB)", title=title)
        _from_zero(ax, ok[column].max())
        ax.grid(alpha=0.3)
    # One legend for every panel: the driver-only strategies have no worker or executor to plot.
    axes[0][-1].legend(shown.values(), shown.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                       borderaxespad=0.0)  # fmt: skip
    return fig


def plan_against_executors(plan: CapacityPlan) -> str | None:
    """The capacity plan's projected wall time and cost (core-hours without a price) against
    executors: one line per strategy with its 95% interval shaded, the deadline and the measured
    cores (as executors of the plan's size) marked. A strategy without Spark is a flat dashed line:
    executors do not change it."""
    if not plan.strategies:
        return None
    priced = plan.price_per_core_hour is not None
    fig, (time_ax, cost_ax) = plt.subplots(1, 2, figsize=(11, 4.4))
    for s in plan.strategies:
        executors = np.array([p.executors for p in s.curve], dtype=float)
        hours = np.array([[p.wall_s.value, p.wall_s.low, p.wall_s.high] for p in s.curve]) / 3600
        if priced:
            spent = np.array([[p.cost.value, p.cost.low, p.cost.high] for p in s.curve if p.cost is not None])
        else:
            spent = hours * np.array([[p.cores] for p in s.curve])
        style = {"color": strategy_color(s.strategy), "linestyle": "--" if s.driver_only else "-"}
        label = s.name + (" (driver only)" if s.driver_only else "")
        for ax, values in ((time_ax, hours), (cost_ax, spent)):
            ax.plot(executors, values[:, 0], label=label, **style)
            ax.fill_between(
                executors, values[:, 1], values[:, 2], color=style["color"], alpha=0.2, linewidth=0
            )
    per_executor = plan.cores_per_executor
    low, high = min(plan.measured_cores) / per_executor, max(plan.measured_cores) / per_executor
    cores = ", ".join(map(str, plan.measured_cores))
    # Plain numbers on the log axes: with formulas off, matplotlib's 10^k labels would show as code.
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    for ax in (time_ax, cost_ax):
        ax.axvspan(low * 0.95, high * 1.05, color="#999999", alpha=0.25, label=f"measured: {cores} cores")
        if plan.executors is not None:
            ax.axvline(plan.executors, color="#444444", linewidth=1, label=f"the plan: {plan.executors}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(left=min(low * 0.8, 1))
        ax.grid(alpha=0.3, which="both")
        ax.set_xlabel(f"executors of {per_executor} cores")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(ticker.NullFormatter())
    if plan.deadline_s is not None:
        time_ax.axhline(
            plan.deadline_s / 3600, color="#b00020", linestyle=":", label=f"deadline {plan.deadline}"
        )
    time_ax.set(ylabel="wall time, hours (shaded: 95% interval)", title=f"Time for {plan.images:,} images")
    cost_ax.set(
        ylabel="cost (shaded: 95% interval)" if priced else "core-hours (shaded: 95% interval)",
        title="Cost" if priced else "Core-hours (no price given)",
    )
    # One legend for both panels: the strategies, the measured cores and the deadline.
    handles, labels = time_ax.get_legend_handles_labels()
    cost_ax.legend(
        handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0
    )
    return png_of(fig)
