"""`python -m ops batch` against a stubbed Step Functions: progress from the map run, the summary, the failures."""

import datetime
import json

import pytest
from botocore.stub import ANY

from ops import batch
from ops.cli import main
from ops.errors import RunFailed
from tests.ops.builders import execution_description, stack_description

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:SconesVision-Batch"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:SconesVision-Batch:batch-1"
MAP_RUN_ARN = "arn:aws:states:us-east-1:123456789012:mapRun:SconesVision-Batch/Map:run-1"
STARTED = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
SUMMARY = {
    "images": 4,
    "succeeded": 2,
    "below_threshold": 1,
    "failed": {"ImageNotFound": 1},
    "per_class": {"bicycle": 2, "motorcycle": 1},
    "results_uri": "s3://bucket/batch-results/run-1/",
    "summary_uri": "s3://bucket/batch-results/run-1/summary.json",
}


@pytest.fixture
def sfn(stub):
    return stub("stepfunctions")


def _execution(status, **extra):
    return execution_description(
        status, execution_arn=EXECUTION_ARN, state_machine_arn=STATE_MACHINE_ARN, started=STARTED, **extra
    )


def _counts(done, total):
    return {
        "pending": total - done,
        "running": 0,
        "succeeded": done,
        "failed": 0,
        "timedOut": 0,
        "aborted": 0,
        "total": total,
        "resultsWritten": done,
    }


def _expect_start(stubber, prefix="dataset/validation/"):
    stubber.add_response(
        "start_execution",
        {"executionArn": EXECUTION_ARN, "startDate": STARTED},
        {
            "stateMachineArn": STATE_MACHINE_ARN,
            "name": ANY,
            "input": json.dumps({"s3_bucket": "bucket", "prefix": prefix}),
        },
    )


def _expect_poll(stubber, status, *, done=None, total=None, **extra):
    stubber.add_response("describe_execution", _execution(status, **extra), {"executionArn": EXECUTION_ARN})
    if done is None:
        stubber.add_response("list_map_runs", {"mapRuns": []}, {"executionArn": EXECUTION_ARN})
        return
    stubber.add_response(
        "list_map_runs",
        {
            "mapRuns": [
                {
                    "executionArn": EXECUTION_ARN,
                    "mapRunArn": MAP_RUN_ARN,
                    "stateMachineArn": STATE_MACHINE_ARN,
                    "startDate": STARTED,
                }
            ]
        },
        {"executionArn": EXECUTION_ARN},
    )
    stubber.add_response(
        "describe_map_run",
        {
            "mapRunArn": MAP_RUN_ARN,
            "executionArn": EXECUTION_ARN,
            "status": "RUNNING" if status == "RUNNING" else "SUCCEEDED",
            "startDate": STARTED,
            "maxConcurrency": 10,
            "toleratedFailurePercentage": 100.0,
            "toleratedFailureCount": 0,
            "itemCounts": _counts(done, total),
            "executionCounts": _counts(done, total),
        },
        {"mapRunArn": MAP_RUN_ARN},
    )


def _run(client, **options):
    return batch.run_batch(
        client,
        STATE_MACHINE_ARN,
        "bucket",
        "dataset/validation/",
        timeout_s=options.pop("timeout_s", 60),
        poll_s=0,
        **options,
    )


def test_progress_follows_the_map_run_then_the_summary_is_the_execution_output(sfn, capsys):
    client, stubber = sfn
    _expect_start(stubber)
    _expect_poll(stubber, "RUNNING")  # the map run has not started yet
    _expect_poll(stubber, "RUNNING", done=1, total=4)
    _expect_poll(stubber, "SUCCEEDED", done=4, total=4, output=json.dumps(SUMMARY))

    summary = _run(client)

    assert summary == SUMMARY
    progress = capsys.readouterr().err
    assert "1/4" in progress and "4/4" in progress
    assert batch.render_summary(summary).splitlines() == [
        "4 images: 2 classified, 1 below the threshold, 1 failed",
        "  predicted bicycle: 2",
        "  predicted motorcycle: 1",
        "  failed with ImageNotFound: 1",
        "results: s3://bucket/batch-results/run-1/",
        "summary: s3://bucket/batch-results/run-1/summary.json",
    ]


@pytest.mark.parametrize(
    ("last_poll", "timeout_s", "error", "message"),
    [
        pytest.param(
            {
                "status": "FAILED",
                "done": 1,
                "total": 4,
                "error": "States.ExceedToleratedFailureThreshold",
                "cause": "too many failed",
            },
            60,
            RunFailed,
            "ended FAILED: States.ExceedToleratedFailureThreshold: too",
            id="a-failed-execution-raises-with-its-error-and-cause",
        ),
        pytest.param(
            {"status": "SUCCEEDED", "done": 4, "total": 4, "output": json.dumps({"images": 4})},
            60,
            batch.BatchSummaryMissing,
            "lacks succeeded, below_threshold, failed, per_class",
            id="a-success-without-the-summary-names-what-is-missing",
        ),
        pytest.param(
            {"status": "RUNNING", "done": 1, "total": 4},
            0,
            RunFailed,
            "still running after 0 s; it was left running",
            id="an-execution-still-running-at-the-timeout-is-left-running-and-said-so",
        ),
    ],
)
def test_a_batch_without_a_summary_raises_a_named_error(sfn, last_poll, timeout_s, error, message):
    client, stubber = sfn
    _expect_start(stubber)
    _expect_poll(stubber, **last_poll)

    with pytest.raises(error, match=message):
        _run(client, timeout_s=timeout_s)


@pytest.fixture
def stubbed_session(stubbed_sessions):
    """boto3 sessions hand out these stubbed clients, so the CLI runs against them."""
    return stubbed_sessions(("cloudformation", "stepfunctions"))


def test_cli_reads_the_deployed_outputs_and_exits_0_when_the_batch_ran(stubbed_session, capsys):
    cloudformation = stubbed_session["cloudformation"]
    cloudformation.add_response(
        "describe_stacks",
        stack_description("SconesVision-Workflow", {"BatchStateMachineArn": STATE_MACHINE_ARN}),
        {"StackName": "SconesVision-Workflow"},
    )
    cloudformation.add_response(
        "describe_stacks",
        stack_description("SconesVision-Storage", {"BucketName": "bucket"}),
        {"StackName": "SconesVision-Storage"},
    )
    _expect_start(stubbed_session["stepfunctions"])
    _expect_poll(stubbed_session["stepfunctions"], "SUCCEEDED", done=4, total=4, output=json.dumps(SUMMARY))

    code = main(["batch", "--prefix", "dataset/validation/", "--poll", "0", "--no-progress"])

    assert code == 0
    assert "results: s3://bucket/batch-results/run-1/" in capsys.readouterr().out


# The bucket and the state machine given, so no DescribeStacks call is made.
BATCH_WITHOUT_LOOKING_UP_THE_STACKS = [
    "batch",
    "--prefix",
    "dataset/validation/",
    "--bucket",
    "bucket",
    "--state-machine-arn",
    STATE_MACHINE_ARN,
]


def test_cli_exits_1_when_the_execution_failed(stubbed_session, capsys):
    _expect_start(stubbed_session["stepfunctions"])
    _expect_poll(stubbed_session["stepfunctions"], "TIMED_OUT", done=2, total=4)

    code = main(BATCH_WITHOUT_LOOKING_UP_THE_STACKS)

    assert code == 1
    assert "ended TIMED_OUT" in capsys.readouterr().err


def test_cli_exits_2_when_the_state_machine_does_not_exist(stubbed_session, capsys):
    stubbed_session["stepfunctions"].add_client_error(
        "start_execution", "StateMachineDoesNotExist", "State Machine Does Not Exist", 400
    )

    code = main(BATCH_WITHOUT_LOOKING_UP_THE_STACKS)

    assert code == 2
    assert "StateMachineDoesNotExist" in capsys.readouterr().err


def test_help_names_batch_and_transform(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "batch " in out and "transform" in out
