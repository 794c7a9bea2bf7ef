"""filter_inferences: pure logic, no AWS."""

from __future__ import annotations

import copy
import json
import time

import pytest

from tests.handlers.emf import emf_problems
from tests.lambda_handlers import load_handler_module

app = load_handler_module("filter_inferences")
NAMESPACE = "SconesVisionTest"


def filter_inferences(event, threshold):
    """The handler's logic without its environment and metrics."""
    return app.verdict(event, app.evaluate(event, threshold))


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("METRICS_NAMESPACE", NAMESPACE)
    return NAMESPACE


@pytest.fixture
def threshold(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("THRESHOLD", "0.93")
    return 0.93


def test_confident_event_passes_through_with_its_top_confidence(
    threshold, load_event, lambda_context, log_lines
):
    event = load_event("filter_input")
    original = copy.deepcopy(event)

    output = app.handler(event, lambda_context)

    assert output == {**original, "top_confidence": 0.9712}
    assert event == original
    [line] = log_lines()
    assert line["message"] == "confidence meets threshold"
    assert (line["predicted_class"], line["predicted_index"], line["top_confidence"], line["threshold"]) == (
        "bicycle",
        0,
        0.9712,
        0.93,
    )
    assert event["image_data"] not in json.dumps(line)


def test_confidence_exactly_at_threshold_passes(threshold, load_event, lambda_context):
    event = {**load_event("filter_input"), "inferences": [0.07, 0.93], "predicted_class": "motorcycle"}

    assert app.handler(event, lambda_context) == {**event, "top_confidence": 0.93}


def test_confidence_below_threshold_raises_threshold_confidence_not_met(
    threshold, load_event, lambda_context, log_lines
):
    event = {**load_event("filter_input"), "inferences": [0.4, 0.6], "predicted_class": "motorcycle"}

    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "ThresholdConfidenceNotMet"
    [below] = log_lines()
    assert below["message"] == "confidence below threshold"
    assert (below["top_confidence"], below["threshold"], below["s3_key"]) == (0.6, 0.93, event["s3_key"])


def test_the_rejection_message_is_json_with_the_prediction(threshold):
    # Lambda puts str(error) into errorMessage; ops reads the prediction back from it (docs/CONTRACTS.md).
    event = {"inferences": [0.12345678, 0.87654322], "predicted_class": "motorcycle"}

    with pytest.raises(app.ThresholdConfidenceNotMet) as raised:
        filter_inferences(event, 0.93)

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
        filter_inferences({"inferences": [0.3, 0.2, 0.5]}, 0.8)

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
        filter_inferences({"inferences": [confidence]}, 0.93)

    details = json.loads(str(raised.value))
    assert details["message"] == f"top confidence {shown} for class index 0 is below the threshold 0.93"
    assert details["top_confidence"] == confidence


def test_threshold_of_one_needs_certainty():
    assert filter_inferences({"inferences": [0, 1]}, 1.0) == {"inferences": [0, 1], "top_confidence": 1}
    with pytest.raises(app.ThresholdConfidenceNotMet):
        filter_inferences({"inferences": [0.0001, 0.9999]}, 1.0)


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
    assert app.handler(event, lambda_context) == {**event, "top_confidence": 0.9712}

    monkeypatch.setenv("THRESHOLD", "0.99")
    with pytest.raises(app.ThresholdConfidenceNotMet):
        app.handler(event, lambda_context)


# --- Embedded Metric Format lines (docs/CONTRACTS.md, "Metrics") ---


def emf_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_passing_evaluation_prints_one_valid_emf_line(threshold, load_event, lambda_context, capsys):
    before_ms = time.time_ns() // 1_000_000
    app.handler(load_event("filter_input"), lambda_context)
    after_ms = time.time_ns() // 1_000_000

    [line] = emf_lines(capsys)
    assert emf_problems(line) == []
    document = json.loads(line)
    assert document == {
        "_aws": {
            "Timestamp": document["_aws"]["Timestamp"],
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[], ["Workflow"], ["PredictedClass"]],
                    "Metrics": [
                        {"Name": "TopConfidence", "Unit": "None"},
                        {"Name": "BelowThreshold", "Unit": "Count"},
                    ],
                }
            ],
        },
        "TopConfidence": 0.9712,
        "BelowThreshold": 0,
        # No "workflow" key in the event: the single-image workflow's.
        "Workflow": "single",
        "PredictedClass": "bicycle",
    }
    assert before_ms <= document["_aws"]["Timestamp"] <= after_ms


def test_a_rejected_evaluation_prints_its_emf_line_before_failing(
    threshold, load_event, lambda_context, capsys
):
    event = {**load_event("filter_input"), "inferences": [0.4, 0.6], "predicted_class": "motorcycle"}

    with pytest.raises(app.ThresholdConfidenceNotMet):
        app.handler(event, lambda_context)

    [line] = emf_lines(capsys)
    assert emf_problems(line) == []
    document = json.loads(line)
    assert (document["TopConfidence"], document["BelowThreshold"], document["PredictedClass"]) == (
        0.6,
        1,
        "motorcycle",
    )


def test_the_emf_line_stays_out_of_the_json_log_records(threshold, load_event, lambda_context, log_lines):
    # The log records carry the evaluation for people; the metrics are their own stdout line.
    app.handler(load_event("filter_input"), lambda_context)

    assert all("_aws" not in record for record in log_lines())


@pytest.mark.parametrize(
    "predicted_class",
    [None, "", "   ", "v\u00e9lo", "bi\ncycle", "x" * 1025],
    ids=["absent", "empty", "blank", "non-ascii", "control-character", "too-long"],
)
def test_a_class_that_is_no_dimension_value_counts_in_the_all_classes_and_workflow_series_only(
    threshold, lambda_context, capsys, predicted_class
):
    event = {"inferences": [0.97, 0.03]}
    if predicted_class is not None:
        event["predicted_class"] = predicted_class

    app.handler(event, lambda_context)

    [line] = emf_lines(capsys)
    assert emf_problems(line) == []
    document = json.loads(line)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[], ["Workflow"]]
    assert "PredictedClass" not in document
    assert (document["TopConfidence"], document["BelowThreshold"]) == (0.97, 0)


def test_a_longest_valid_class_name_is_a_dimension(threshold, lambda_context, capsys):
    app.handler({"inferences": [0.97, 0.03], "predicted_class": "x" * 1024}, lambda_context)

    document = json.loads(emf_lines(capsys)[0])
    assert document["PredictedClass"] == "x" * 1024


@pytest.mark.parametrize(
    ("inferences", "below"), [([0.97, 0.03], 0), ([0.4, 0.6], 1)], ids=["confident", "below-threshold"]
)
def test_a_batch_image_is_counted_in_the_batch_workflow_series(
    threshold, load_event, lambda_context, capsys, log_lines, inferences, below
):
    event = {**load_event("filter_input"), "inferences": inferences, "workflow": "batch"}

    if below:
        with pytest.raises(app.ThresholdConfidenceNotMet):
            app.handler(event, lambda_context)
    else:
        assert app.handler(event, lambda_context) == {**event, "top_confidence": 0.97}

    [line] = emf_lines(capsys)
    assert emf_problems(line) == []
    document = json.loads(line)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[], ["Workflow"], ["PredictedClass"]]
    assert (document["Workflow"], document["BelowThreshold"]) == ("batch", below)
    [record] = log_lines()
    assert record["workflow"] == "batch"


def test_an_explicit_single_workflow_is_the_single_image_workflow(
    threshold, load_event, lambda_context, capsys
):
    event = {**load_event("filter_input"), "workflow": "single"}

    assert app.handler(event, lambda_context) == {**event, "top_confidence": 0.9712}
    assert json.loads(emf_lines(capsys)[0])["Workflow"] == "single"


@pytest.mark.parametrize(
    "workflow",
    [None, "", "Batch", "nightly", 1, ["batch"]],
    ids=["null", "empty", "other-case", "unknown-name", "number", "list"],
)
def test_an_unknown_workflow_is_a_malformed_event_and_prints_no_metrics(
    threshold, load_event, lambda_context, capsys, workflow
):
    # Counted as "single" it would offset that workflow's failures in the unexpected-failures alarm.
    event = {**load_event("filter_input"), "workflow": workflow}

    with pytest.raises(
        app.MalformedEvent, match=r"'workflow' must be one of \['single', 'batch'\] or absent"
    ):
        app.handler(event, lambda_context)

    assert emf_lines(capsys) == []


def test_no_evaluation_prints_no_metrics(threshold, lambda_context, capsys):
    with pytest.raises(app.MalformedEvent):
        app.handler({"inferences": []}, lambda_context)

    assert emf_lines(capsys) == []


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (None, "METRICS_NAMESPACE is missing"),
        ("", "METRICS_NAMESPACE must be 1 to 255 characters"),
        ("   ", "METRICS_NAMESPACE must be 1 to 255 characters"),
        (":Scones", "not starting with ':'"),
        ("N" * 256, "METRICS_NAMESPACE must be 1 to 255 characters"),
    ],
)
def test_bad_metrics_namespace_raises_configuration_error(
    threshold, monkeypatch, load_event, lambda_context, capsys, value, found
):
    if value is None:
        monkeypatch.delenv("METRICS_NAMESPACE")
    else:
        monkeypatch.setenv("METRICS_NAMESPACE", value)

    with pytest.raises(app.ConfigurationError) as raised:
        app.handler(load_event("filter_input"), lambda_context)

    assert found in str(raised.value)
    assert emf_lines(capsys) == []


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("START RequestId: 1 {}", "not one JSON object"),
        ('{"_aws": {"CloudWatchMetrics": []}}', "'Timestamp' is a required property"),
        ('{"_aws": {"Timestamp": 1.5, "CloudWatchMetrics": []}}', "is not of type 'integer'"),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Metrics": []}]}}',
            "'Dimensions' is a required property",
        ),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["C"]], '
            '"Metrics": [{"Name": "M", "Unit": "None"}]}]}, "M": 1}',
            "dimension 'C' has no string target member",
        ),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], '
            '"Metrics": [{"Name": "M", "Unit": "None"}]}]}, "M": "1"}',
            "metric 'M' has no numeric target member",
        ),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], '
            '"Metrics": [{"Name": "M", "Unit": "Ratio"}]}]}, "M": 1}',
            "does not match",
        ),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], '
            '"Metrics": [{"Name": "M"}]}]}, "M": [' + ", ".join(["1"] * 101) + "]}",
            "metric 'M' has no numeric target member",
        ),
    ],
    ids=[
        "prefixed",
        "no-timestamp",
        "float-timestamp",
        "no-dimensions",
        "dimension-target",
        "metric-target",
        "unit",
        "too-many-values",
    ],
)
def test_the_emf_check_refuses_what_the_specification_refuses(line, found):
    assert any(found in problem for problem in emf_problems(line)), emf_problems(line)


def test_the_emf_check_enforces_the_metric_and_dimension_limits():
    dimensions = [f"D{i}" for i in range(31)]
    document = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {
                    "Namespace": "N",
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": f"M{i}"} for i in range(101)],
                }
            ],
        },
        **{name: "v" for name in dimensions},
        **{f"M{i}": 1 for i in range(101)},
    }
    problems = emf_problems(json.dumps(document))
    assert any("Dimensions/0" in problem for problem in problems), problems
    assert any("Metrics" in problem for problem in problems), problems
