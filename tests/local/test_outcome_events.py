"""The synthesized single-image machine in moto publishes its outcome events on moto's default bus (moto 5.2.5 runs
`arn:aws:states:::events:putEvents` through its EventBridge), and each holds to docs/CONTRACTS.md's schema."""

from __future__ import annotations

import json

import pytest

from local_run.standin_model import read_split
from stacks import names
from tests.cdk.test_dispatch_events import detail_problems
from tests.local.conftest import execute, put_object


@pytest.fixture(scope="module")
def test_image(dataset, standin, workflow_template) -> bytes:
    """A test image the stand-in is sure of."""
    dataset_dir, _ = dataset
    images = (path.read_bytes() for path in read_split(dataset_dir, "test")[0])
    return next(image for image in images if max(standin.predict(image)) >= workflow_template.threshold)


@pytest.fixture
def drained(local):
    """The outcome queue emptied of what earlier tests published."""
    local.published_events()
    return local


def test_a_confident_image_publishes_one_classified_event(drained, standin, test_image, workflow_template):
    local = drained
    key = put_object(local, test_image)

    execution = execute(local, key)

    assert execution.status == "SUCCEEDED", execution.description
    (event,) = local.published_events()
    assert (event["source"], event["detail-type"]) == ("SconesVision", names.VEHICLE_CLASSIFIED_EVENT)
    assert detail_problems(event["detail"]) == []
    inferences = standin.predict(test_image)
    assert event["detail"] == {
        "s3_bucket": local.bucket,
        "s3_key": key,
        "predicted_class": workflow_template.class_names[inferences.index(max(inferences))],
        "confidence": pytest.approx(max(inferences)),
        "model_name": workflow_template.served_model_name,
        "model_version": None,  # the stand-in is no registered model package
    }
    # Step Functions adds the state machine's and the execution's ARNs.
    assert event["resources"][-2:] == [local.state_machine_arn, execution.description["executionArn"]]


def test_a_low_confidence_image_publishes_needs_review_and_fails_as_before(drained, ambiguous_image):
    local = drained
    key = put_object(local, ambiguous_image)

    execution = execute(local, key)

    assert execution.status == "FAILED"
    assert execution.description["error"] == "ThresholdConfidenceNotMet"
    assert execution.entered_states()[-4:] == [
        "ReadLambdaError",
        "ReadVerdict",
        "PublishNeedsReview",
        "ConfidenceBelowThreshold",
    ]
    (event,) = local.published_events()
    assert event["detail-type"] == names.NEEDS_REVIEW_EVENT
    assert detail_problems(event["detail"]) == []
    verdict = json.loads(json.loads(execution.description["cause"])["errorMessage"])
    assert event["detail"]["s3_key"] == key
    assert event["detail"]["confidence"] == verdict["top_confidence"]
    assert event["detail"]["predicted_class"] == verdict["predicted_class"]


def test_a_rejected_image_publishes_nothing(drained):
    local = drained

    execution = execute(local, put_object(local, b"not an image"))

    assert execution.description["error"] == "NotAnImage"
    assert local.published_events() == []
