"""filter_inferences at its edges: each setting's bound from both sides, the smallest valid values, the message's
rounding. Each test here fails on a mutant that survived the handler's other tests (mutation/README.md)."""

from __future__ import annotations

import json
import math

import pytest

from tests.lambda_handlers import load_handler_module

app = load_handler_module("filter_inferences")


@pytest.mark.parametrize("text", ["1", "1.0", "0.000001"])
def test_a_threshold_in_the_interval_is_accepted_up_to_one(text):
    assert app.load_threshold({"THRESHOLD": text}) == float(text)


@pytest.mark.parametrize("text", ["1.0000001", "1.5", "2", "inf"])
def test_a_threshold_just_above_one_is_refused(text):
    with pytest.raises(app.ConfigurationError, match=r"THRESHOLD must be in \(0, 1\]"):
        app.load_threshold({"THRESHOLD": text})


@pytest.mark.parametrize("length", [1, 2, app.MAX_NAMESPACE_LENGTH])
def test_a_namespace_of_1_to_255_characters_is_accepted(length):
    namespace = "N" * length

    assert app.load_metrics_namespace({"METRICS_NAMESPACE": namespace}) == namespace


def test_a_namespace_of_256_characters_is_refused():
    assert (
        app.MAX_NAMESPACE_LENGTH == 255
    )  # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Metric.html
    with pytest.raises(app.ConfigurationError, match="must be 1 to 255 characters"):
        app.load_metrics_namespace({"METRICS_NAMESPACE": "N" * 256})


def test_a_one_character_class_is_a_dimension_value():
    evaluation = app.evaluate({"inferences": [0.97, 0.03], "predicted_class": "x"}, 0.9)

    document = app.metrics_document(evaluation, namespace="N", timestamp_ms=1)

    assert document["PredictedClass"] == "x"
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[], ["Workflow"], ["PredictedClass"]]


def test_the_dimension_value_bound_is_cloudwatchs():
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html: 1 to 1024 characters.
    assert app.MAX_DIMENSION_VALUE_LENGTH == 1024


def rejection(confidence: float, threshold: float) -> dict:
    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        app.verdict({}, app.evaluate({"inferences": [confidence]}, threshold))
    return json.loads(str(raised.value))


def test_a_confidence_that_would_round_above_a_threshold_off_the_grid_shows_more_decimals():
    # 0.92951 to three places is 0.930, above the threshold 0.92952: the message would claim more than was found.
    details = rejection(0.92951, 0.92952)

    assert details["message"] == "top confidence 0.9295 for class index 0 is below the threshold 0.92952"


def test_a_confidence_one_float_below_the_threshold_is_shown_exactly():
    # No 3 to 17 decimals stay below 0.01 here; the shortest repr does.
    confidence = math.nextafter(0.01, 0)

    details = rejection(confidence, 0.01)

    assert (
        details["message"] == f"top confidence {confidence!r} for class index 0 is below the threshold 0.01"
    )
    assert float(details["message"].split()[2]) < 0.01
