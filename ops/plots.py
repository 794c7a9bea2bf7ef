"""The monitoring figure and summary of the endpoint's captured predictions (`make monitor`, the local demo)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ops.capture import CaptureRecord
from ops.errors import ClassNamesError, OpsError

# The shape of make monitor's JSON summary (docs/CONTRACTS.md); raised when a key changes meaning or goes.
SUMMARY_JSON_VERSION = 1
ABOVE_COLOR, BELOW_COLOR = "tab:blue", "tab:red"
# (unit, width, the span of records it serves below): the time axis and the bars count in that unit, so a
# ten-second demo reads in seconds and a week of traffic in days; at most 120 bars.
TIME_BINS = (
    ("second", timedelta(seconds=1), timedelta(minutes=2)),
    ("minute", timedelta(minutes=1), timedelta(hours=2)),
    ("hour", timedelta(hours=1), timedelta(days=3)),
    ("day", timedelta(days=1), timedelta.max),
)
# Inferences captured in the same second are spread over this share of it, so each one shows.
TIE_SPREAD = 0.7


def summarize(records: Sequence[CaptureRecord], class_names: Sequence[str], threshold: float) -> dict:
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
        "first_inference": min(times).isoformat(),
        "last_inference": max(times).isoformat(),
    }


def write_summary_json(summary: dict, out_path: Path, *, source: str, plot: Path, skipped_lines: int) -> None:
    document = {
        "version": SUMMARY_JSON_VERSION,
        "source": source,
        **summary,
        "plot": str(plot),
        "skipped_lines": skipped_lines,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(document, indent=2) + "\n")


def time_bin(span: timedelta) -> tuple[str, timedelta]:
    return next((name, width) for name, width, below in TIME_BINS if span < below)


def bin_origin(first: datetime, width: timedelta) -> datetime:
    """The start of the whole second, minute, hour or day (UTC) that holds `first`."""
    return first - (first - datetime.min.replace(tzinfo=first.tzinfo)) % width


def spread_ties(seconds: np.ndarray) -> np.ndarray:
    """Offsets, in seconds, that spread the inferences of one same second evenly across TIE_SPREAD of it."""
    offsets = np.zeros(len(seconds))
    whole = np.floor(seconds)
    for second in np.unique(whole):
        (members,) = np.nonzero(whole == second)
        if len(members) > 1:
            offsets[members] = (
                np.linspace(-TIE_SPREAD / 2, TIE_SPREAD / 2, len(members)) + 0.5 - (seconds[members] - second)
            )
    return offsets


def plot_monitoring(
    records: Sequence[CaptureRecord],
    class_names: Sequence[str],
    threshold: float,
    out_path: Path,
    *,
    title: str = "Endpoint monitoring from data capture",
) -> Path:
    _check(records, class_names)
    ordered = sorted(records, key=lambda record: record.inference_time)
    first, last = ordered[0].inference_time, ordered[-1].inference_time
    unit, width = time_bin(last - first)
    origin = bin_origin(first, width)
    seconds = np.array([(record.inference_time - origin).total_seconds() for record in ordered])
    elapsed = (seconds + spread_ties(seconds)) / width.total_seconds()
    confidences = np.array([record.confidence for record in ordered])
    predicted = np.array([record.predicted_index for record in ordered])
    below = confidences < threshold
    bins = np.floor(seconds / width.total_seconds()).astype(int)
    counts = np.zeros((bins.max() + 1, len(class_names)), dtype=int)
    np.add.at(counts, (bins, predicted), 1)

    # Without pyplot: no global figure state, and the Agg canvas whatever the environment's backend.
    figure = Figure(figsize=(14, 9), layout="constrained")
    (over_time, histogram), (share, traffic) = figure.subplots(2, 2)
    axis_label = f"{unit}s since {origin:%Y-%m-%d %H:%M:%S} UTC"
    _confidence_over_time(over_time, elapsed, confidences, below, threshold, axis_label)
    _confidence_histogram(histogram, confidences, below, threshold)
    _class_share(share, counts, class_names, unit, axis_label)
    _traffic(traffic, bins, below, len(counts), unit, axis_label)
    figure.suptitle(
        f"{title}\n{len(ordered)} inferences, {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC "
        f"({_duration(last - first)}), confidence threshold {threshold:g}",
        fontsize=13,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, dpi=100)
    return out_path


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def _check(records: Sequence[CaptureRecord], class_names: Sequence[str]) -> None:
    if not records:
        raise OpsError("no capture records to summarize or plot")
    for record in records:
        if len(record.probabilities) != len(class_names):
            raise ClassNamesError(
                f"capture record {record.event_id} has {len(record.probabilities)} probabilities but "
                f"{len(class_names)} class names were given ({', '.join(class_names)})"
            )


def _confidence_over_time(axes: Axes, elapsed, confidences, below, threshold: float, axis_label: str) -> None:
    # Translucent, so that crowds of points (a week of traffic) darken instead of hiding each other.
    alpha = float(np.clip(300 / len(elapsed), 0.25, 0.9))
    for shown, size, marker, color, label in (
        (~below, 18, "o", ABOVE_COLOR, "at or above"),
        (below, 30, "x", BELOW_COLOR, "below"),
    ):
        axes.scatter(
            elapsed[shown],
            confidences[shown],
            s=size,
            alpha=alpha,
            marker=marker,
            color=color,
            label=f"{label} ({shown.sum()})",
        )
    axes.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set_ylim(_confidence_floor(confidences, threshold), 1.01)
    axes.set(title=f"Top-class confidence of each of the {len(elapsed)} inferences", ylabel="confidence")
    _time_axis(axes, axis_label)
    axes.legend(loc="lower left")


def _confidence_histogram(axes: Axes, confidences, below, threshold: float) -> None:
    bins = np.linspace(_confidence_floor(confidences, threshold), 1.0, 31)
    counts, _, _ = axes.hist(
        [confidences[~below], confidences[below]],
        bins=bins,
        stacked=True,
        color=[ABOVE_COLOR, BELOW_COLOR],
        label=["at or above threshold", f"below threshold ({below.mean():.1%})"],
    )
    axes.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set(title="Distribution of top-class confidence", xlabel="confidence", ylabel="inferences")
    _count_axis(axes, counts.max())
    axes.legend(loc="upper left")


def _class_share(axes: Axes, counts, class_names: Sequence[str], unit: str, axis_label: str) -> None:
    totals = counts.sum(axis=1)
    shares = np.divide(counts, totals[:, None], out=np.zeros(counts.shape), where=totals[:, None] > 0)
    # Not tab10: its blue and red already mean "at or above" and "below" the threshold in the other panels.
    colors = colormaps["Set2" if len(class_names) <= 8 else "tab20b"]
    bottom = np.zeros(len(counts))
    overall = counts.sum(axis=0)
    for index, name in enumerate(class_names):
        if overall[index] == 0:  # classes never predicted would only crowd the legend
            continue
        label = f"{name}: {overall[index]} ({overall[index] / overall.sum():.0%})"
        axes.bar(
            np.arange(len(counts)),
            shares[:, index],
            width=0.9,
            bottom=bottom,
            align="edge",
            color=colors(index % colors.N),
            label=label,
        )
        bottom += shares[:, index]
    axes.set_ylim(0, 1.3)  # headroom above 100% holds the legend
    axes.set_yticks(np.linspace(0, 1, 6))
    axes.set(title=f"Predicted-class share per {unit}", ylabel=f"share of the {unit}'s inferences")
    _time_axis(axes, axis_label)
    axes.legend(title="predicted class: total", loc="upper center", ncols=min(len(class_names), 4))


def _traffic(axes: Axes, bins, below, count: int, unit: str, axis_label: str) -> None:
    bottom = np.zeros(count, dtype=int)
    for shown, color, label in (
        (~below, ABOVE_COLOR, "at or above threshold"),
        (below, BELOW_COLOR, "below threshold"),
    ):
        heights = np.bincount(bins[shown], minlength=count)
        axes.bar(np.arange(count), heights, width=0.9, bottom=bottom, align="edge", color=color, label=label)
        bottom += heights
    axes.set(title=f"Inferences per {unit}", ylabel="inferences")
    _time_axis(axes, axis_label)
    _count_axis(axes, bottom.max())
    axes.legend(loc="upper left")


def _confidence_floor(confidences, threshold: float) -> float:
    # A little below the lowest value or the threshold, on a 0.05 step.
    return max(0.0, np.floor(min(confidences.min(), threshold) * 20) / 20 - 0.05)


def _count_axis(axes: Axes, highest: float) -> None:
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, highest * 1.3)  # headroom for the legend


def _time_axis(axes: Axes, label: str) -> None:
    # Whole units from the origin: bar n covers [n, n + 1).
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=12))
    axes.set_xlim(left=-0.2)
    axes.set_xlabel(label)
    axes.grid(alpha=0.3)
