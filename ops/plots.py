"""Monitoring figure and summary of the endpoint's captured predictions."""

from __future__ import annotations

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

ABOVE_COLOR = "tab:blue"
BELOW_COLOR = "tab:red"
HOUR = timedelta(hours=1)
# Matplotlib date units are days; a bar covers 90% of its hour.
BAR_WIDTH_DAYS = 0.9 / 24


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


def plot_monitoring(
    records: Sequence[CaptureRecord],
    class_names: Sequence[str],
    threshold: float,
    out_path: Path,
    *,
    title: str = "Endpoint monitoring from data capture",
) -> Path:
    """One PNG with four panels: confidence over time, its histogram, class share and traffic per hour."""
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

    hours = _hour_range(times[0], times[-1])
    hour_index = np.array([(_hour_of(moment) - hours[0]) // HOUR for moment in times])
    class_counts = np.zeros((len(hours), len(class_names)), dtype=int)
    np.add.at(class_counts, (hour_index, predicted), 1)
    _class_share_per_hour(share_axes, hours, class_counts, class_names)
    _traffic_per_hour(traffic_axes, hours, hour_index, below)

    figure.suptitle(
        f"{title}\n{len(ordered)} inferences, {times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M} UTC, "
        f"confidence threshold {threshold:g}",
        fontsize=13,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, dpi=100)
    return out_path


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


def _class_share_per_hour(axes: Axes, hours, class_counts, class_names: Sequence[str]) -> None:
    totals = class_counts.sum(axis=1)
    shares = np.divide(
        class_counts, totals[:, None], out=np.zeros(class_counts.shape), where=totals[:, None] > 0
    )
    # Not tab10: its blue and red already mean "at or above" and "below" the threshold in the other panels.
    colors = colormaps["Set2" if len(class_names) <= 8 else "tab20b"]
    bottom = np.zeros(len(hours))
    overall = class_counts.sum(axis=0)
    for index, name in enumerate(class_names):
        # Classes never predicted would only crowd the legend.
        if overall[index] == 0:
            continue
        axes.bar(
            mdates.date2num(hours),
            shares[:, index],
            width=BAR_WIDTH_DAYS,
            bottom=bottom,
            align="edge",
            color=colors(index % colors.N),
            label=f"{name}: {overall[index]} ({overall[index] / overall.sum():.0%})",
        )
        bottom += shares[:, index]
    # Headroom above 100% holds the legend, so it never covers an hour's bar.
    axes.set_ylim(0, 1.3)
    axes.set_yticks(np.linspace(0, 1, 6))
    _time_axis(axes, "hour (UTC)")
    axes.set(title="Predicted-class share per hour", ylabel="share of the hour's inferences")
    axes.legend(title="predicted class: total", loc="upper center", ncols=min(len(class_names), 4))


def _traffic_per_hour(axes: Axes, hours, hour_index, below) -> None:
    above_counts = np.bincount(hour_index[~below], minlength=len(hours))
    below_counts = np.bincount(hour_index[below], minlength=len(hours))
    positions = mdates.date2num(hours)
    axes.bar(
        positions,
        above_counts,
        width=BAR_WIDTH_DAYS,
        align="edge",
        color=ABOVE_COLOR,
        label="at or above threshold",
    )
    axes.bar(
        positions,
        below_counts,
        width=BAR_WIDTH_DAYS,
        bottom=above_counts,
        align="edge",
        color=BELOW_COLOR,
        label="below threshold",
    )
    _time_axis(axes, "hour (UTC)")
    axes.set(title="Inferences per hour", ylabel="inferences")
    _count_axis(axes, (above_counts + below_counts).max())
    axes.legend(loc="upper left")


def _confidence_floor(confidences, threshold: float) -> float:
    # Start the confidence axis a little below the lowest value or the threshold, on a 0.05 step.
    return max(0.0, np.floor(min(confidences.min(), threshold) * 20) / 20 - 0.05)


def _count_axis(axes: Axes, highest: float) -> None:
    # Whole-number ticks, and headroom above the highest bar for the legend.
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, highest * 1.3)


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hour_range(first: datetime, last: datetime) -> list[datetime]:
    # Every hour between the first and the last inference, so hours without traffic show as gaps.
    hours = [_hour_of(first)]
    while hours[-1] < _hour_of(last):
        hours.append(hours[-1] + HOUR)
    return hours


def _time_axis(axes: Axes, label: str = "inference time (UTC)") -> None:
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.set_xlabel(label)
    axes.grid(alpha=0.3)
