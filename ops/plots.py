"""Monitoring figure and summary of the endpoint's captured predictions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ops.capture import CaptureRecord
from ops.errors import ClassNamesError, NoCaptureRecords

# The shape of make monitor's JSON summary (docs/CONTRACTS.md); raised when a key changes meaning or goes.
SUMMARY_JSON_VERSION = 1
ABOVE_COLOR = "tab:blue"
BELOW_COLOR = "tab:red"
DAY = timedelta(days=1)
# (bin, width, span of the records it serves below): at most 120 bins; just past a limit, as few as 2 or 3.
TIME_BINS = (
    ("second", timedelta(seconds=1), timedelta(minutes=2)),
    ("minute", timedelta(minutes=1), timedelta(hours=2)),
    ("hour", timedelta(hours=1), timedelta(days=3)),
    ("day", DAY, timedelta.max),
)


def summarize(records: Sequence[CaptureRecord], class_names: Sequence[str], threshold: float) -> dict:
    """Counts, share below the threshold, per-class counts, mean confidence, first and last inference time."""
    _check(records, class_names)
    confidences = [record.confidence for record in records]
    below = sum(confidence < threshold for confidence in confidences)
    per_class = dict.fromkeys(class_names, 0)
    for record in records:
        per_class[class_names[record.predicted_index]] += 1
    times = [record.inference_time for record in records]
    return {
        "records": len(records),
        "threshold": threshold,
        "below_threshold": below,
        "share_below_threshold": below / len(records),
        "mean_confidence": sum(confidences) / len(confidences),
        "per_class": per_class,
        "first_inference": min(times),
        "last_inference": max(times),
    }


def write_summary_json(summary: dict, out_path: Path, *, source: str, plot: Path, skipped_lines: int) -> Path:
    """`summarize`'s summary as the JSON document docs/CONTRACTS.md describes ("make monitor's summary")."""
    document = {
        "version": SUMMARY_JSON_VERSION,
        "source": source,
        **summary,
        "first_inference": summary["first_inference"].isoformat(),
        "last_inference": summary["last_inference"].isoformat(),
        "plot": str(plot),
        "skipped_lines": skipped_lines,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(document, indent=2) + "\n")
    return out_path


def plot_monitoring(
    records: Sequence[CaptureRecord],
    class_names: Sequence[str],
    threshold: float,
    out_path: Path,
    *,
    title: str = "Endpoint monitoring from data capture",
) -> Path:
    """One PNG with four panels: confidence over time, its histogram, and class share and traffic per time bin.

    The bin is a second, minute, hour or day, whichever suits the span of the records (see `time_bin`).
    """
    _check(records, class_names)
    ordered = sorted(records, key=lambda record: record.inference_time)
    times = [record.inference_time for record in ordered]
    confidences = np.array([record.confidence for record in ordered])
    predicted = np.array([record.predicted_index for record in ordered])
    below = confidences < threshold

    # Without pyplot: no global figure state, and the Agg canvas is used whatever the environment's backend.
    figure = Figure(figsize=(14, 9), layout="constrained")
    (confidence_axes, histogram_axes), (share_axes, traffic_axes) = figure.subplots(2, 2)
    _confidence_over_time(confidence_axes, times, confidences, below, threshold)
    _confidence_histogram(histogram_axes, confidences, below, threshold)

    bin_name, bin_width = time_bin(times[-1] - times[0])
    starts = _bin_starts(times[0], times[-1], bin_width)
    bin_index = np.array([(moment - starts[0]) // bin_width for moment in times])
    class_counts = np.zeros((len(starts), len(class_names)), dtype=int)
    np.add.at(class_counts, (bin_index, predicted), 1)
    _class_share(share_axes, starts, bin_name, bin_width, class_counts, class_names)
    _traffic(traffic_axes, starts, bin_name, bin_width, bin_index, below)

    figure.suptitle(
        f"{title}\n{len(ordered)} inferences, {times[0]:%Y-%m-%d %H:%M:%S} to {times[-1]:%Y-%m-%d %H:%M:%S} UTC "
        f"(counted per {bin_name}), confidence threshold {threshold:g}",
        fontsize=13,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, dpi=100)
    return out_path


def time_bin(span: timedelta) -> tuple[str, timedelta]:
    """The name and width of the time bin for records spanning `span`: second, minute, hour or day."""
    return next((name, width) for name, width, below in TIME_BINS if span < below)


def _check(records: Sequence[CaptureRecord], class_names: Sequence[str]) -> None:
    if not records:
        raise NoCaptureRecords("no capture records to summarize or plot")
    for record in records:
        if len(record.probabilities) != len(class_names):
            raise ClassNamesError(
                f"capture record {record.event_id} has {len(record.probabilities)} probabilities but "
                f"{len(class_names)} class names were given ({', '.join(class_names)})"
            )


def _confidence_over_time(axes: Axes, times, confidences, below, threshold: float) -> None:
    time_numbers = mdates.date2num(times)
    axes.scatter(
        time_numbers[~below],
        confidences[~below],
        s=14,
        color=ABOVE_COLOR,
        label=f"at or above ({(~below).sum()})",
    )
    axes.scatter(
        time_numbers[below],
        confidences[below],
        s=30,
        marker="x",
        color=BELOW_COLOR,
        label=f"below ({below.sum()})",
    )
    axes.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set_ylim(_confidence_floor(confidences, threshold), 1.01)
    _time_axis(axes)
    axes.set(title="Top-class confidence per inference", ylabel="confidence")
    axes.legend(loc="lower left")


def _confidence_histogram(axes: Axes, confidences, below, threshold: float) -> None:
    bins = np.linspace(_confidence_floor(confidences, threshold), 1.0, 31)
    share_below = below.mean()
    counts, _, _ = axes.hist(
        [confidences[~below], confidences[below]],
        bins=bins,
        stacked=True,
        color=[ABOVE_COLOR, BELOW_COLOR],
        label=["at or above threshold", f"below threshold ({share_below:.1%})"],
    )
    axes.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set(title="Distribution of top-class confidence", xlabel="confidence", ylabel="inferences")
    _count_axis(axes, counts.max())
    axes.legend(loc="upper left")


def _class_share(
    axes: Axes, starts, bin_name: str, bin_width: timedelta, class_counts, class_names: Sequence[str]
) -> None:
    totals = class_counts.sum(axis=1)
    shares = np.divide(
        class_counts, totals[:, None], out=np.zeros(class_counts.shape), where=totals[:, None] > 0
    )
    # Not tab10: its blue and red already mean "at or above" and "below" the threshold in the other panels.
    colors = colormaps["Set2" if len(class_names) <= 8 else "tab20b"]
    bottom = np.zeros(len(starts))
    overall = class_counts.sum(axis=0)
    for index, name in enumerate(class_names):
        # Classes never predicted would only crowd the legend.
        if overall[index] == 0:
            continue
        axes.bar(
            mdates.date2num(starts),
            shares[:, index],
            width=_bar_width(bin_width),
            bottom=bottom,
            align="edge",
            color=colors(index % colors.N),
            label=f"{name}: {overall[index]} ({overall[index] / overall.sum():.0%})",
        )
        bottom += shares[:, index]
    # Headroom above 100% holds the legend, so it never covers a bar.
    axes.set_ylim(0, 1.3)
    axes.set_yticks(np.linspace(0, 1, 6))
    _time_axis(axes, f"{bin_name} (UTC)")
    axes.set(title=f"Predicted-class share per {bin_name}", ylabel=f"share of the {bin_name}'s inferences")
    axes.legend(title="predicted class: total", loc="upper center", ncols=min(len(class_names), 4))


def _traffic(axes: Axes, starts, bin_name: str, bin_width: timedelta, bin_index, below) -> None:
    above_counts = np.bincount(bin_index[~below], minlength=len(starts))
    below_counts = np.bincount(bin_index[below], minlength=len(starts))
    positions = mdates.date2num(starts)
    axes.bar(
        positions,
        above_counts,
        width=_bar_width(bin_width),
        align="edge",
        color=ABOVE_COLOR,
        label="at or above threshold",
    )
    axes.bar(
        positions,
        below_counts,
        width=_bar_width(bin_width),
        bottom=above_counts,
        align="edge",
        color=BELOW_COLOR,
        label="below threshold",
    )
    _time_axis(axes, f"{bin_name} (UTC)")
    axes.set(title=f"Inferences per {bin_name}", ylabel="inferences")
    _count_axis(axes, (above_counts + below_counts).max())
    axes.legend(loc="upper left")


def _confidence_floor(confidences, threshold: float) -> float:
    # Start the confidence axis a little below the lowest value or the threshold, on a 0.05 step.
    return max(0.0, np.floor(min(confidences.min(), threshold) * 20) / 20 - 0.05)


def _count_axis(axes: Axes, highest: float) -> None:
    # Whole-number ticks, and headroom above the highest bar for the legend.
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, highest * 1.3)


def _bin_starts(first: datetime, last: datetime, width: timedelta) -> list[datetime]:
    # Every bin from the first inference's to the last's, so bins without traffic show as gaps. Bins start on
    # whole seconds, minutes, hours or days (UTC midnight), counted from datetime.min.
    start = first - (first - datetime.min.replace(tzinfo=first.tzinfo)) % width
    return [start + step * width for step in range((last - start) // width + 1)]


def _bar_width(width: timedelta) -> float:
    # Matplotlib date units are days; a bar covers 90% of its bin.
    return 0.9 * (width / DAY)


def _time_axis(axes: Axes, label: str = "inference time (UTC)") -> None:
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.set_xlabel(label)
    axes.grid(alpha=0.3)
