from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from ops.capture import CaptureRecord
from ops.errors import ClassNamesError, OpsError
from ops.plots import bin_origin, plot_monitoring, spread_ties, summarize, time_bin

CLASSES = ["bicycle", "motorcycle"]
THRESHOLD = 0.93
TAB_RED, TAB_BLUE = (214, 39, 40), (31, 119, 180)


def _record(event_id: str, time: datetime, probabilities) -> CaptureRecord:
    return CaptureRecord(event_id, time, "image/png", b"", tuple(probabilities))


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def test_summarize_counts_exactly():
    records = [
        _record("1", _at(11, 10), [0.2, 0.8]),
        _record("2", _at(10, 5), [0.97, 0.03]),
        _record("3", _at(13, 20), [0.01, 0.99]),
        _record("4", _at(10, 40), [0.5, 0.5]),  # a tie goes to the first class, as argmax does
    ]

    summary = summarize(records, CLASSES, THRESHOLD)

    assert summary == {
        "records": 4,
        "threshold": THRESHOLD,
        "below_threshold": 2,
        "share_below_threshold": 0.5,
        "mean_confidence": pytest.approx((0.8 + 0.97 + 0.99 + 0.5) / 4),
        "per_class": {"bicycle": 2, "motorcycle": 2},
        "first_inference": _at(10, 5).isoformat(),
        "last_inference": _at(13, 20).isoformat(),
    }


def test_confidence_equal_to_the_threshold_passes_as_the_filter_does():
    summary = summarize([_record("1", _at(10, 0), [THRESHOLD, 1 - THRESHOLD])], CLASSES, THRESHOLD)

    assert summary["below_threshold"] == 0


def test_records_that_do_not_match_the_class_names_are_refused(tmp_path):
    records = [_record("abc", _at(10, 0), [0.1, 0.2, 0.7])]

    with pytest.raises(ClassNamesError, match="record abc has 3 probabilities but 2 class names"):
        summarize(records, CLASSES, THRESHOLD)
    with pytest.raises(ClassNamesError):
        plot_monitoring(records, CLASSES, THRESHOLD, tmp_path / "plot.png")


def test_no_records_is_a_named_error(tmp_path):
    with pytest.raises(OpsError, match="no capture records to summarize or plot"):
        summarize([], CLASSES, THRESHOLD)
    with pytest.raises(OpsError, match="no capture records to summarize or plot"):
        plot_monitoring([], CLASSES, THRESHOLD, tmp_path / "plot.png")
    assert not (tmp_path / "plot.png").exists()


def traffic(span: timedelta, quiet: tuple[float, float], count: int, seed: int = 7) -> list[CaptureRecord]:
    """A plausible capture: mostly confident predictions of both classes over `span`, with no traffic in the
    `quiet` part of it (fractions of the span)."""
    rng = np.random.default_rng(seed)
    start = _at(8, 0)
    records = []
    for index in range(count):
        offset = rng.uniform(0, 1)
        if quiet[0] <= offset < quiet[1]:
            continue
        confidence = 1 - rng.beta(1, 25) if rng.random() < 0.85 else rng.uniform(0.5, 0.93)
        probabilities = [confidence, 1 - confidence] if rng.random() < 0.55 else [1 - confidence, confidence]
        records.append(_record(f"e{index}", start + offset * span, probabilities))
    return records


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(0), "second"),
        (timedelta(seconds=4), "second"),
        (timedelta(seconds=119), "second"),
        (timedelta(minutes=2), "minute"),
        (timedelta(minutes=40), "minute"),
        (timedelta(hours=2), "hour"),
        (timedelta(hours=10), "hour"),
        (timedelta(days=2, hours=23), "hour"),
        (timedelta(days=3), "day"),
        (timedelta(weeks=3), "day"),
        (timedelta(days=365), "day"),
    ],
)
def test_the_time_bin_follows_the_span(span, expected):
    widths = {"second": timedelta(seconds=1), "minute": timedelta(minutes=1), "hour": timedelta(hours=1)}

    assert time_bin(span) == (expected, widths.get(expected, timedelta(days=1)))


def test_the_axis_starts_on_a_whole_unit():
    first = datetime(2026, 11, 26, 8, 0, 23, 500000, tzinfo=UTC)

    assert bin_origin(first, timedelta(days=1)) == datetime(2026, 11, 26, tzinfo=UTC)
    assert bin_origin(first, timedelta(seconds=1)) == datetime(2026, 11, 26, 8, 0, 23, tzinfo=UTC)


def test_inferences_of_one_second_are_spread_across_it_and_others_stay():
    seconds = np.array([3.0, 3.0, 3.0, 5.25])

    assert (seconds + spread_ties(seconds)).tolist() == pytest.approx([3.15, 3.5, 3.85, 5.25])


@pytest.mark.parametrize(
    "records",
    [
        # The local demo: a few seconds, one of them without inferences.
        traffic(timedelta(seconds=6), quiet=(0.5, 0.68), count=60),
        # Ten hours with a quiet hour.
        traffic(timedelta(hours=10), quiet=(0.4, 0.5), count=240),
        # Three weeks of production traffic, two days without any.
        traffic(timedelta(weeks=3), quiet=(0.35, 0.5), count=3000),
    ],
    ids=["seconds", "hours", "weeks"],
)
def test_plot_monitoring_writes_one_readable_png(tmp_path, records):
    out_path = tmp_path / "nested" / "monitoring.png"

    written = plot_monitoring(records, CLASSES, THRESHOLD, out_path)

    assert written == out_path
    with Image.open(out_path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB")).astype(int)
    assert pixels.shape == (900, 1400, 3)
    non_white = (pixels < 245).any(axis=2).mean()
    assert 0.05 < non_white < 0.6

    def share_of(color) -> float:
        return (np.abs(pixels - color).sum(axis=2) < 30).mean()

    # Below-threshold inferences are drawn in red, the others in blue.
    assert share_of(TAB_RED) > 0.001
    assert share_of(TAB_BLUE) > 0.01
