import json
import time

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ops.errors import StackOutputNotFound, StateMachineNotFound
from ops.executions import (
    ExecutionOutcome,
    TestImage,
    render_table,
    run_executions,
    state_machine_arn_from_stack,
)
from tests.ops.conftest import REGION, unique

# The stand-in workflow routes on the key only; it never reads the bucket.
IMAGE_BUCKET = "scones-images"

SURE = TestImage(IMAGE_BUCKET, "dataset/validation/bike_s_000017.png", "bicycle")
UNSURE = TestImage(IMAGE_BUCKET, "dataset/validation/low_motorbike_s_000009.png", "motorcycle")
MISSING = TestImage(IMAGE_BUCKET, "dataset/validation/missing.png", "bicycle")


def test_outcomes_follow_the_images_with_status_error_and_prediction(sfn, workflow_arn):
    outcomes = run_executions(sfn, workflow_arn, [SURE, UNSURE, MISSING], poll_s=0.01, progress=False)

    assert [(o.image, o.status, o.error, o.predicted_class, o.confidence) for o in outcomes] == [
        (SURE, "SUCCEEDED", None, "bicycle", 0.97),
        (UNSURE, "FAILED", "ThresholdConfidenceNotMet", "motorcycle", 0.6),
        (MISSING, "FAILED", "ImageNotFound", None, None),
    ]
    assert outcomes[1].cause == "confidence 0.6 is below the threshold 0.93"
    assert [o.as_designed for o in outcomes] == [True, True, False]


def test_each_image_gets_its_own_execution_with_the_contract_input(sfn, workflow_arn):
    images = [SURE, SURE, UNSURE]

    outcomes = run_executions(sfn, workflow_arn, images, poll_s=0.01, progress=False)

    names = {e["name"] for e in sfn.list_executions(stateMachineArn=workflow_arn)["executions"]}
    assert len(names) == 3
    inputs = [json.loads(sfn.describe_execution(executionArn=o.execution_arn)["input"]) for o in outcomes]
    assert inputs == [{"s3_bucket": image.bucket, "s3_key": image.key} for image in images]


@pytest.mark.parametrize("arn", [f"arn:aws:states:{REGION}:123456789012:stateMachine:nope", "nope"])
def test_an_unknown_state_machine_is_a_named_error_before_anything_starts(sfn, arn):
    with pytest.raises(StateMachineNotFound, match="no state machine 'nope'|stateMachine:nope"):
        run_executions(sfn, arn, [SURE], progress=False)


def test_executions_still_running_at_the_deadline_are_reported_running(aws_credentials):
    # Without execute_state_machine, moto leaves every execution RUNNING. Said explicitly: a nested mock
    # otherwise inherits the setting of any enclosing one.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        arn = client.create_state_machine(
            name=unique("not-executed"),
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/workflow",
        )["stateMachineArn"]
        started = time.monotonic()

        outcomes = run_executions(client, arn, [SURE], timeout_s=0.2, poll_s=0.05, progress=False)

    assert time.monotonic() - started < 2
    assert [(o.status, o.as_designed, o.predicted_class) for o in outcomes] == [("RUNNING", False, None)]


@pytest.mark.parametrize(
    ("status", "error", "as_designed"),
    [
        ("SUCCEEDED", None, True),
        ("FAILED", "ThresholdConfidenceNotMet", True),
        ("FAILED", "ImageNotFound", False),
        ("FAILED", "States.Timeout", False),
        ("TIMED_OUT", "ThresholdConfidenceNotMet", False),
        ("ABORTED", None, False),
        ("RUNNING", None, False),
    ],
)
def test_as_designed_means_classified_or_rejected_for_low_confidence(status, error, as_designed):
    outcome = ExecutionOutcome(SURE, "arn", status, error, None, None, None)

    assert outcome.as_designed is as_designed


def test_render_table_marks_each_outcome_and_sums_them_up():
    lambda_cause = json.dumps(
        {"errorType": "ImageNotFound", "errorMessage": "no object s3://b/k", "trace": []}
    )
    outcomes = [
        ExecutionOutcome(SURE, "arn:1", "SUCCEEDED", None, None, "bicycle", 0.97),
        ExecutionOutcome(
            UNSURE, "arn:2", "FAILED", "ThresholdConfidenceNotMet", "0.6 < 0.93", "motorcycle", 0.6
        ),
        ExecutionOutcome(MISSING, "arn:3", "FAILED", "ImageNotFound", lambda_cause, None, None),
    ]

    table = render_table(outcomes, class_names=["bicycle", "motorcycle"]).splitlines()

    assert table[0] == (
        f"{'image':<{len(UNSURE.key)}}  true class  predicted   confidence  as designed  status"
    )
    assert set(table[1]) == {"-", " "}
    assert table[2].split() == [SURE.key, "bicycle", "bicycle", "0.970", "yes", "SUCCEEDED"]
    assert table[3].split()[:5] == [UNSURE.key, "motorcycle", "motorcycle", "0.600", "yes"]
    assert table[3].endswith("FAILED ThresholdConfidenceNotMet: 0.6 < 0.93")
    assert table[4].split()[:5] == [MISSING.key, "bicycle", "-", "-", "NO"]
    assert table[4].endswith("FAILED ImageNotFound: no object s3://b/k")
    assert (
        table[6]
        == "3 executions: 1 succeeded, 1 failed as designed (ThresholdConfidenceNotMet), 1 unexpected"
    )
    assert table[7:] == [
        "  bicycle     images 2, predicted correctly 1, succeeded 1",
        "  motorcycle  images 1, predicted correctly 1, succeeded 0",
    ]


@pytest.fixture
def cloudformation(aws_credentials):
    client = boto3.client("cloudformation", region_name=REGION)
    return client, Stubber(client)


def test_state_machine_arn_comes_from_the_stack_output(cloudformation):
    client, stubber = cloudformation
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "SconesWorkflow",
                    "CreationTime": "2026-11-26T10:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [
                        {"OutputKey": "FunctionName", "OutputValue": "fn"},
                        {"OutputKey": "StateMachineArn", "OutputValue": "arn:aws:states:sm"},
                    ],
                }
            ]
        },
        {"StackName": "SconesWorkflow"},
    )

    with stubber:
        assert state_machine_arn_from_stack(client, "SconesWorkflow") == "arn:aws:states:sm"
    stubber.assert_no_pending_responses()


def test_a_stack_without_the_output_names_the_outputs_it_has(cloudformation):
    client, stubber = cloudformation
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "SconesModel",
                    "CreationTime": "2026-11-26T10:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": "EndpointName", "OutputValue": "ep"}],
                }
            ]
        },
    )

    with stubber, pytest.raises(StackOutputNotFound, match="no output 'StateMachineArn'.*EndpointName"):
        state_machine_arn_from_stack(client, "SconesModel")


def test_a_missing_stack_is_a_named_error(cloudformation):
    client, stubber = cloudformation
    stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id Nope does not exist", 400)

    with stubber, pytest.raises(StackOutputNotFound, match="Nope does not exist"):
        state_machine_arn_from_stack(client, "Nope")
