"""filter_inferences: pure logic, no AWS."""

from __future__ import annotations

import copy
import json

import pytest

from tests.lambda_handlers import load_handler_module

app = load_handler_module("filter_inferences")


@pytest.fixture
def threshold(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("THRESHOLD", "0.93")
    return 0.93


def test_confident_event_passes_through_unchanged(threshold, load_event, lambda_context, log_lines):
    event = load_event("filter_input")
    original = copy.deepcopy(event)

    output = app.handler(event, lambda_context)

    assert output == original
    [line] = log_lines()
    assert line["message"] == "confidence meets threshold"
    assert (line["predicted_class"], line["predicted_index"], line["confidence"], line["threshold"]) == (
        "bicycle",
        0,
        0.9712,
        0.93,
    )
    assert event["image_data"] not in json.dumps(line)


def test_confidence_exactly_at_threshold_passes(threshold, load_event, lambda_context):
    event = {**load_event("filter_input"), "inferences": [0.07, 0.93], "predicted_class": "motorcycle"}

    assert app.handler(event, lambda_context) == event


def test_confidence_below_threshold_raises_threshold_confidence_not_met(
    threshold, load_event, lambda_context, log_lines
):
    event = {**load_event("filter_input"), "inferences": [0.4, 0.6], "predicted_class": "motorcycle"}

    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "ThresholdConfidenceNotMet"
    [below] = log_lines()
    assert below["message"] == "confidence below threshold"
    assert (below["confidence"], below["threshold"], below["s3_key"]) == (0.6, 0.93, event["s3_key"])


def test_the_rejection_message_is_json_with_the_prediction(threshold):
    # Lambda puts str(error) into errorMessage; ops reads the prediction back from it (docs/CONTRACTS.md).
    event = {"inferences": [0.12345678, 0.87654322], "predicted_class": "motorcycle"}

    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        app.filter_inferences(event, 0.93)

    assert json.loads(str(raised.value)) == {
        "message": "top confidence 0.877 for 'motorcycle' is below the threshold 0.93",
        "top_confidence": 0.87654322,
        "predicted_class": "motorcycle",
        "predicted_index": 1,
        "threshold": 0.93,
    }
    assert raised.value.details == json.loads(str(raised.value))


def test_the_rejection_names_the_class_index_when_predicted_class_is_absent():
    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        app.filter_inferences({"inferences": [0.3, 0.2, 0.5]}, 0.8)

    details = json.loads(str(raised.value))
    assert details["message"] == "top confidence 0.500 for class index 2 is below the threshold 0.8"
    assert (details["predicted_class"], details["predicted_index"], details["top_confidence"]) == (
        None,
        2,
        0.5,
    )


@pytest.mark.parametrize(
    ("confidence", "shown"),
    [(0.92996, "0.92996"), (0.9299999, "0.9299999"), (0.9294, "0.929"), (0.0001234, "0.000")],
)
def test_the_rounded_confidence_never_reaches_the_threshold(confidence, shown):
    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        app.filter_inferences({"inferences": [confidence]}, 0.93)

    details = json.loads(str(raised.value))
    assert details["message"] == f"top confidence {shown} for class index 0 is below the threshold 0.93"
    assert details["top_confidence"] == confidence


def test_threshold_of_one_needs_certainty():
    assert app.filter_inferences({"inferences": [0, 1]}, 1.0) == {"inferences": [0, 1]}
    with pytest.raises(app.ThresholdConfidenceNotMet):
        app.filter_inferences({"inferences": [0.0001, 0.9999]}, 1.0)


@pytest.mark.parametrize(
    ("event", "found"),
    [
        ("[0.9, 0.1]", "the event must be a JSON object, got str"),
        ({"predicted_class": "bicycle"}, "the event has no 'inferences'"),
        ({"inferences": []}, "'inferences' must be a non-empty list, got []"),
        ({"inferences": "[0.9, 0.1]"}, "'inferences' must be a non-empty list, got '[0.9, 0.1]'"),
        ({"inferences": {"bicycle": 0.9}}, "'inferences' must be a non-empty list"),
        ({"inferences": [0.9, "0.1"]}, "'inferences' item 1 is '0.1', not a finite number"),
        ({"inferences": [True, False]}, "'inferences' item 0 is True, not a finite number"),
        ({"inferences": [float("nan"), 0.1]}, "'inferences' item 0 is nan, not a finite number"),
        ({"inferences": [0.9, None]}, "'inferences' item 1 is None, not a finite number"),
        ({"inferences": [0.95, 0.05], "predicted_class": 0}, "'predicted_class' must be a string, got 0"),
    ],
    ids=[
        "string-event",
        "missing",
        "empty",
        "string",
        "dict",
        "string-item",
        "booleans",
        "nan",
        "null-item",
        "int-predicted-class",
    ],
)
def test_malformed_events_raise_malformed_event(threshold, lambda_context, event, found):
    with pytest.raises(app.MalformedEvent) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "MalformedEvent"
    assert found in str(raised.value)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (None, "THRESHOLD is missing"),
        ("", "THRESHOLD is not a number: ''"),
        ("high", "THRESHOLD is not a number: 'high'"),
        ("93%", "THRESHOLD is not a number: '93%'"),
        ("0", "THRESHOLD must be in (0, 1], got '0'"),
        ("-0.5", "THRESHOLD must be in (0, 1], got '-0.5'"),
        ("93", "THRESHOLD must be in (0, 1], got '93'"),
        ("nan", "THRESHOLD must be in (0, 1], got 'nan'"),
    ],
)
def test_bad_threshold_raises_configuration_error(monkeypatch, load_event, lambda_context, value, found):
    if value is None:
        monkeypatch.delenv("THRESHOLD", raising=False)
    else:
        monkeypatch.setenv("THRESHOLD", value)

    with pytest.raises(app.ConfigurationError) as raised:
        app.handler(load_event("filter_input"), lambda_context)

    assert type(raised.value).__name__ == "ConfigurationError"
    assert found in str(raised.value)


def test_threshold_is_read_at_each_call(monkeypatch, load_event, lambda_context):
    event = load_event("filter_input")  # top confidence 0.9712
    monkeypatch.setenv("THRESHOLD", "0.9")
    assert app.handler(event, lambda_context) == event

    monkeypatch.setenv("THRESHOLD", "0.99")
    with pytest.raises(app.ThresholdConfidenceNotMet):
        app.handler(event, lambda_context)
