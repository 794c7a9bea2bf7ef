"""The outcome events the single-image state machine publishes (docs/CONTRACTS.md, "Outcome events"): the states,
their Entries and the role's scope here; tests/local/test_outcome_events.py runs the machine and holds the events
EventBridge received to the same schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stacks import names
from tests.cdk.helpers import policy_statements_of_role, state_machine_definition

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"
PUT_EVENTS = "arn:<AWS::Partition>:states:::events:putEvents"
DETAIL_FIELDS = ("s3_bucket", "s3_key", "predicted_class", "confidence", "model_name", "model_version")


def outcome_event_schema() -> dict[str, Any]:
    """The JSON Schema of the events' detail, as docs/CONTRACTS.md states it."""
    section = CONTRACTS.read_text().split("## Outcome events", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)
    schema = json.loads(block)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def detail_problems(detail: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(outcome_event_schema())
    return [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(detail)]


@pytest.fixture(scope="module")
def template(synthesized_app) -> dict[str, Any]:
    return synthesized_app.template(names.WORKFLOW)


@pytest.fixture(scope="module")
def states(template) -> dict[str, Any]:
    return state_machine_definition(template)["States"]


def _entry(state: dict[str, Any]) -> dict[str, Any]:
    assert state["Type"] == "Task" and state["Resource"] == PUT_EVENTS
    (entry,) = state["Parameters"]["Entries"]
    return entry


def test_a_confident_image_is_published_as_classified_then_succeeds(states):
    filter_next = states["FilterInferences"]["Next"]
    publish = states[filter_next]

    assert filter_next == "PublishClassified"
    assert _entry(publish)["DetailType"] == names.VEHICLE_CLASSIFIED_EVENT
    assert states[publish["Next"]] == {"Type": "Succeed"}


def test_a_low_confidence_image_is_published_for_review_and_still_fails_with_the_threshold_error(states):
    (catch,) = [
        c for c in states["FilterInferences"]["Catch"] if c["ErrorEquals"] == ["ThresholdConfidenceNotMet"]
    ]
    path, name = [], catch["Next"]
    while states[name]["Type"] != "Fail":
        path.append(name)
        name = states[name]["Next"]

    assert path == ["ReadLambdaError", "ReadVerdict", "PublishNeedsReview"]
    assert _entry(states["PublishNeedsReview"])["DetailType"] == names.NEEDS_REVIEW_EVENT
    # The same Fail state as before the events, so the execution and the alarms count it as they did.
    assert states[name] == {
        "Type": "Fail",
        "Error": "ThresholdConfidenceNotMet",
        "CausePath": "$.failure.Cause",
    }
    # The filter's JSON message is the errorMessage inside the Lambda error's JSON Cause.
    assert states["ReadLambdaError"]["Parameters"] == {
        "lambda_error.$": "States.StringToJson($.failure.Cause)"
    }
    assert states["ReadVerdict"]["Parameters"] == {
        "verdict.$": "States.StringToJson($.review.lambda_error.errorMessage)"
    }


@pytest.mark.parametrize(
    ("state", "confidence_path"),
    [("PublishClassified", "$.top_confidence"), ("PublishNeedsReview", "$.review.verdict.top_confidence")],
)
def test_each_event_carries_the_image_prediction_and_model_on_the_default_bus(
    states, synthesized_app, state, confidence_path
):
    entry = _entry(states[state])

    assert entry["Source"] == synthesized_app.config.project_name
    # No EventBusName: PutEvents then uses the default bus
    # (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html).
    assert "EventBusName" not in entry
    assert entry["Detail"] == {
        "s3_bucket.$": "$.s3_bucket",
        "s3_key.$": "$.s3_key",
        "predicted_class.$": "$.predicted_class",
        "confidence.$": confidence_path,
        "model_name.$": "$.model_name",
        "model_version.$": "$.model_version",
    }
    assert tuple(key.removesuffix(".$") for key in entry["Detail"]) == DETAIL_FIELDS
    assert set(outcome_event_schema()["properties"]) == set(DETAIL_FIELDS)


@pytest.mark.parametrize("state", ["PublishClassified", "PublishNeedsReview"])
def test_a_failed_put_is_retried_and_never_caught(states, state):
    """EventBridge.FailedEntry or a failed call: retried, then the execution fails under that name."""
    publish = states[state]

    assert publish["Retry"] == [
        {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2}
    ]
    assert "Catch" not in publish
    assert publish["ResultPath"] is None  # the state passes on unchanged


def test_the_state_machine_may_put_events_on_the_default_bus_only(template):
    statements = policy_statements_of_role(template, "/Workflow/StateMachine/Role/")
    puts = [s for s in statements if "events:PutEvents" in json.dumps(s["Action"])]

    (put,) = puts
    assert put["Action"] == "events:PutEvents"
    region, account = {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}
    arn = ["arn:", {"Ref": "AWS::Partition"}, ":events:", region, ":", account, ":event-bus/default"]
    assert put["Resource"] == {"Fn::Join": ["", arn]}


SAMPLE_DETAIL = {
    "s3_bucket": "sconesvision-123456789012-us-east-1",
    "s3_key": "incoming/driver-42/photo.jpg",
    "predicted_class": "motorcycle",
    "confidence": 0.97,
    "model_name": "model-a1b2c3",
    "model_version": 3,
}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        ({"model_version": None}, None),
        ({"model_version": "3"}, "['model_version']: '3' is not of type 'integer', 'null'"),
        ({"confidence": 1.5}, "['confidence']: 1.5 is greater than the maximum of 1"),
        ({"extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
    ],
    ids=["registered", "unregistered", "version-as-text", "confidence-over-one", "extra-field"],
)
def test_the_documented_schema_takes_what_the_state_machine_sends_and_refuses_the_rest(changes, problem):
    problems = detail_problems({**SAMPLE_DETAIL, **changes})

    assert [problem in found for found in problems] == ([] if problem is None else [True])
