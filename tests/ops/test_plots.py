from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from ops.capture import CaptureRecord
from ops.errors import ClassNamesError, NoCaptureRecords
from ops.plots import plot_monitoring, summarize

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
        "first_inference": _at(10, 5),
        "last_inference": _at(13, 20),
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
    with pytest.raises(NoCaptureRecords):
        summarize([], CLASSES, THRESHOLD)
    with pytest.raises(NoCaptureRecords):
        plot_monitoring([], CLASSES, THRESHOLD, tmp_path / "plot.png")
    assert not (tmp_path / "plot.png").exists()


def day_of_traffic(count: int = 240, seed: int = 7) -> list[CaptureRecord]:
    """A plausible capture: mostly confident predictions of both classes over ten hours, a quiet hour."""
    rng = np.random.default_rng(seed)
    start = _at(8, 0)
    records = []
    for index in range(count):
        minutes = rng.uniform(0, 600)
        if 240 <= minutes < 300:
            continue
        confidence = 1 - rng.beta(1, 25) if rng.random() < 0.85 else rng.uniform(0.5, 0.93)
        probabilities = [confidence, 1 - confidence] if rng.random() < 0.55 else [1 - confidence, confidence]
        records.append(_record(f"e{index}", start + timedelta(minutes=minutes), probabilities))
    return records


def test_plot_monitoring_writes_one_readable_png(tmp_path):
    out_path = tmp_path / "nested" / "monitoring.png"

    written = plot_monitoring(day_of_traffic(), CLASSES, THRESHOLD, out_path)

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
