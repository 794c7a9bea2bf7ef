import json
import re
import threading
import time

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from ops.errors import OpsError
from ops.executions import ExecutionOutcome, TestImage, render_table, run_executions
from tests.ops.builders import WORKFLOW_DEFINITION
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
    with pytest.raises(OpsError, match="no state machine 'nope'|stateMachine:nope"):
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

    # The image column is what 100 columns leave: 40 here, so the longest key keeps its last 37 characters.
    assert table[0] == f"{'image':<40}  true class  predicted   confidence  as designed  status"
    assert set(table[1]) == {"-", " "}
    assert table[2].split() == [SURE.key, "bicycle", "bicycle", "0.970", "yes", "SUCCEEDED"]
    assert table[3].split() == [
        "..." + UNSURE.key[-37:],
        "motorcycle",
        "motorcycle",
        "0.600",
        "yes",
        "FAILED",
    ]
    assert table[4] == "    ThresholdConfidenceNotMet: 0.6 < 0.93"
    assert table[5].split() == [MISSING.key, "bicycle", "-", "-", "NO", "FAILED"]
    assert table[6] == "    ImageNotFound: no object s3://b/k"
    assert (
        table[8]
        == "3 executions: 1 succeeded, 1 failed as designed (ThresholdConfidenceNotMet), 1 unexpected"
    )
    assert table[9:] == [
        "  bicycle     images 2, predicted correctly 1, succeeded 1",
        "  motorcycle  images 1, predicted correctly 1, succeeded 0",
    ]


def test_render_table_fits_100_columns_however_long_the_key_and_the_cause():
    # Issue 16: a long key keeps its end (the file name); a long cause wraps, cut short at two lines.
    key = "dataset/validation/" + "deeply/nested/" * 6 + "bike_s_000017.png"
    cause = json.dumps({"errorType": "EndpointError", "errorMessage": "the endpoint answered: " + "x " * 200})
    outcomes = [
        ExecutionOutcome(
            TestImage(IMAGE_BUCKET, key, "bicycle"), "a", "FAILED", "EndpointError", cause, None, None
        )
    ]

    table = render_table(outcomes, class_names=["bicycle"]).splitlines()

    assert max(len(line) for line in table) <= 100
    assert table[2].startswith("...") and table[2].split()[0].endswith("/bike_s_000017.png")
    assert table[3].startswith("    EndpointError: the endpoint answered: x x")
    assert table[4].startswith("    x x") and table[4].endswith("[...]")
    assert table[5] == ""


# EXPRESS executions: moto 5.2.5 answers StartSyncExecution with 404 "Not yet implemented", so a real
# boto3 client is stubbed instead (botocore validates every request against the service model).
EXPRESS_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:scones-express"


def _express_describe_state_machine() -> dict:
    return {
        "stateMachineArn": EXPRESS_ARN,
        "name": "scones-express",
        "definition": json.dumps(WORKFLOW_DEFINITION),
        "roleArn": "arn:aws:iam::123456789012:role/workflow",
        "type": "EXPRESS",
        "creationDate": "2026-11-26T10:00:00Z",
    }


def _sync_execution(name: str, status: str, **ended) -> dict:
    return {
        "executionArn": f"arn:aws:states:{REGION}:123456789012:express:scones-express:{name}:0a1b",
        "startDate": "2026-11-26T10:00:00Z",
        "stopDate": "2026-11-26T10:00:02Z",
        "status": status,
        **ended,
    }


def _lambda_cause(error_type: str, message: str) -> str:
    """A Lambda error as the Catch hands it to the Fail state's cause."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": "r-1", "stackTrace": ["  File ..."]}
    )


def _rejection_cause(top_confidence, predicted_class, predicted_index=1, threshold=0.93) -> str:
    """filter_inferences' ThresholdConfidenceNotMet as the Fail state's cause: its message is JSON."""
    label = f"class index {predicted_index}" if predicted_class is None else repr(predicted_class)
    details = {
        "message": f"top confidence {top_confidence:.3f} for {label} is below the threshold {threshold}",
        "top_confidence": top_confidence,
        "predicted_class": predicted_class,
        "predicted_index": predicted_index,
        "threshold": threshold,
    }
    return _lambda_cause("ThresholdConfidenceNotMet", json.dumps(details))


class _NameLike:
    """Equal to any execution name fully matching the pattern (Stubber compares expected params with ==):
    the run id in each name is random."""

    def __init__(self, pattern: str):
        self.pattern = re.compile(pattern)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.pattern.fullmatch(other) is not None

    def __repr__(self) -> str:
        return f"name matching {self.pattern.pattern!r}"


@pytest.fixture
def stubbed_sfn(stub):
    return stub("stepfunctions")


def test_express_executions_run_synchronously_and_end_like_standard_ones(stubbed_sfn):
    client, stubber = stubbed_sfn
    stubber.add_response(
        "describe_state_machine", _express_describe_state_machine(), {"stateMachineArn": EXPRESS_ARN}
    )
    rejection = _rejection_cause(0.6, "motorcycle")
    ended = [
        (
            SURE,
            "SUCCEEDED",
            {"output": json.dumps({"inferences": [0.97, 0.03], "predicted_class": "bicycle"})},
        ),
        (UNSURE, "FAILED", {"error": "ThresholdConfidenceNotMet", "cause": rejection}),
        (
            MISSING,
            "FAILED",
            {"error": "ImageNotFound", "cause": _lambda_cause("ImageNotFound", "no such key")},
        ),
        (SURE, "TIMED_OUT", {}),
    ]
    for index, (image, status, response_fields) in enumerate(ended):
        stem = image.key.rsplit("/", 1)[-1].replace(".", "-")
        stubber.add_response(
            "start_sync_execution",
            _sync_execution(f"e{index}", status, **response_fields),
            {
                "stateMachineArn": EXPRESS_ARN,
                "name": _NameLike(rf"ops-[0-9a-f]{{8}}-{index:04d}-{stem}"),
                "input": json.dumps({"s3_bucket": image.bucket, "s3_key": image.key}),
            },
        )

    # One worker: the stubbed responses are answered in the order the requests are made.
    outcomes = run_executions(
        client, EXPRESS_ARN, [image for image, _, _ in ended], progress=False, express_workers=1
    )

    assert [(o.status, o.error, o.predicted_class, o.confidence, o.as_designed) for o in outcomes] == [
        ("SUCCEEDED", None, "bicycle", 0.97, True),
        ("FAILED", "ThresholdConfidenceNotMet", "motorcycle", 0.6, True),
        ("FAILED", "ImageNotFound", None, None, False),
        ("TIMED_OUT", None, None, None, False),
    ]
    assert outcomes[1].execution_arn == _sync_execution("e1", "FAILED")["executionArn"]
    assert outcomes[1].cause == rejection
    assert render_table(outcomes).splitlines()[4] == (
        "    ThresholdConfidenceNotMet: top confidence 0.600 for 'motorcycle' is below the threshold 0.93"
    )


@pytest.mark.parametrize(
    ("cause", "confidence"),
    [
        (_rejection_cause(0.5, None, threshold=0.9), 0.5),
        (_lambda_cause("ThresholdConfidenceNotMet", json.dumps({"message": "no numbers here"})), None),
        (_lambda_cause("ThresholdConfidenceNotMet", json.dumps({"top_confidence": True})), None),
        # The sentence the filter wrote before its message became JSON: no longer read.
        (
            _lambda_cause(
                "ThresholdConfidenceNotMet", "top confidence 0.6 for 'motorcycle' is below the threshold 0.93"
            ),
            None,
        ),
        (_lambda_cause("ThresholdConfidenceNotMet", "confidence too low"), None),
        ("confidence 0.6 is below the threshold 0.93", None),
        (None, None),
    ],
    ids=[
        "class-index",
        "no-confidence",
        "boolean-confidence",
        "old-sentence",
        "plain-text",
        "not-json",
        "none",
    ],
)
def test_an_express_rejection_whose_cause_names_no_class_shows_dashes(stubbed_sfn, cause, confidence):
    client, stubber = stubbed_sfn
    stubber.add_response("describe_state_machine", _express_describe_state_machine())
    failed = {"error": "ThresholdConfidenceNotMet"} | ({"cause": cause} if cause else {})
    stubber.add_response("start_sync_execution", _sync_execution("e0", "FAILED", **failed))

    [outcome] = run_executions(client, EXPRESS_ARN, [UNSURE], progress=False)

    assert (outcome.predicted_class, outcome.confidence, outcome.as_designed) == (None, confidence, True)
    row = render_table([outcome]).splitlines()[2].split()
    assert row[2:5] == ["-", "-" if confidence is None else f"{confidence:.3f}", "yes"]


def test_express_executions_run_a_few_at_a_time_and_report_in_image_order(aws_credentials):
    # Answered by a before-call hook rather than Stubber, whose queue assumes one request at a time.
    client = boto3.client("stepfunctions", region_name=REGION)
    images = [TestImage(IMAGE_BUCKET, f"dataset/validation/image_{index}.png") for index in range(10)]
    in_flight, most_in_flight, lock = 0, 0, threading.Lock()

    def answer(model, params, **_):
        nonlocal in_flight, most_in_flight
        if model.name == "DescribeStateMachine":
            return AWSResponse(None, 200, {}, None), _express_describe_state_machine()
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        request = json.loads(params["body"])
        key = json.loads(request["input"])["s3_key"]
        # Later images end sooner, so the executions end in the reverse of the order they started.
        time.sleep(0.002 * (10 - images.index(TestImage(IMAGE_BUCKET, key))))
        with lock:
            in_flight -= 1
        # The key as the predicted class: each outcome shows which execution it came from.
        output = json.dumps({"inferences": [0.97, 0.03], "predicted_class": key})
        return AWSResponse(None, 200, {}, None), _sync_execution(request["name"], "SUCCEEDED", output=output)

    client.meta.events.register("before-call.sfn.*", answer)

    outcomes = run_executions(client, EXPRESS_ARN, images, progress=False, express_workers=4)

    # Four workers; at least two at once even on a loaded machine.
    assert 2 <= most_in_flight <= 4
    assert [(o.image, o.predicted_class) for o in outcomes] == [(image, image.key) for image in images]
