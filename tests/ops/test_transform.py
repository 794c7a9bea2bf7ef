"""`python -m ops transform`: Step Functions and SageMaker stubbed, result files in moto's S3."""

import datetime
import hashlib
import json

import pytest
from botocore.stub import ANY

from ops import transform
from ops.cli import main
from ops.errors import OpsError, RunFailed
from tests.ops.builders import execution_description, stack_description

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:SconesVision-Transform"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:SconesVision-Transform:transform-1"
JOB_NAME = "transform-" + hashlib.md5(EXECUTION_ARN.encode()).hexdigest()
STARTED = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
PREFIX = "dataset/validation/"


def _output_uri(bucket):
    return f"s3://{bucket}/transform-results/{JOB_NAME}/"


def _job(status, **extra):
    """A DescribeTransformJob response."""
    return {
        "TransformJobName": JOB_NAME,
        "TransformJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{JOB_NAME}",
        "TransformJobStatus": status,
        "ModelName": "model",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/p"}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": STARTED,
        **extra,
    }


def _execution(status, **extra):
    return execution_description(
        status, execution_arn=EXECUTION_ARN, state_machine_arn=STATE_MACHINE_ARN, started=STARTED, **extra
    )


@pytest.fixture
def stubbed(stub):
    (sfn, sfn_stubber), (sagemaker, sagemaker_stubber) = stub("stepfunctions"), stub("sagemaker")
    return (
        {"stepfunctions": sfn, "sagemaker": sagemaker},
        {"stepfunctions": sfn_stubber, "sagemaker": sagemaker_stubber},
    )


def _expect_run(sfn, sagemaker, *, final, job_statuses, final_job=None):
    sfn.add_response(
        "start_execution",
        {"executionArn": EXECUTION_ARN, "startDate": STARTED},
        {"stateMachineArn": STATE_MACHINE_ARN, "name": ANY, "input": json.dumps({"prefix": PREFIX})},
    )
    for job_status in job_statuses:
        sfn.add_response("describe_execution", _execution("RUNNING"), {"executionArn": EXECUTION_ARN})
        if job_status is None:
            sagemaker.add_client_error(
                "describe_transform_job",
                "ValidationException",
                "Could not find requested job with name",
                400,
                expected_params={"TransformJobName": JOB_NAME},
            )
        else:
            sagemaker.add_response("describe_transform_job", _job(job_status), {"TransformJobName": JOB_NAME})
    sfn.add_response("describe_execution", final, {"executionArn": EXECUTION_ARN})
    sagemaker.add_response(
        "describe_transform_job", final_job or _job("Completed"), {"TransformJobName": JOB_NAME}
    )


def _run(clients, lines):
    return transform.run_transform(
        clients["stepfunctions"],
        clients["sagemaker"],
        STATE_MACHINE_ARN,
        PREFIX,
        timeout_s=60,
        poll_s=0,
        report=lines.append,
    )


def test_a_completed_job_reports_each_status_once_and_where_its_results_are(stubbed):
    clients, stubbers = stubbed
    output = {
        "job_name": JOB_NAME,
        "status": "Completed",
        "input_uri": "s3://b/p",
        "output_uri": "s3://b/out/",
    }
    _expect_run(
        stubbers["stepfunctions"],
        stubbers["sagemaker"],
        job_statuses=[None, "InProgress", "InProgress"],
        final=_execution("SUCCEEDED", output=json.dumps(output)),
    )
    lines = []

    run = _run(clients, lines)

    assert run == transform.TransformRun(EXECUTION_ARN, JOB_NAME, "s3://b/out/")
    assert lines == [
        f"started {EXECUTION_ARN}; transform job {JOB_NAME}",
        f"job {JOB_NAME}: waiting for the job to be created",
        f"job {JOB_NAME}: InProgress",
        f"job {JOB_NAME}: Completed",
    ]


def test_a_failed_job_raises_with_sagemakers_failure_reason(stubbed):
    clients, stubbers = stubbed
    reason = "ClientError: See job logs for more information"
    _expect_run(
        stubbers["stepfunctions"],
        stubbers["sagemaker"],
        job_statuses=["InProgress"],
        final=_execution("FAILED", error="States.TaskFailed", cause="{}"),
        final_job=_job("Failed", FailureReason=reason),
    )
    with pytest.raises(RunFailed, match=f"transform job {JOB_NAME} Failed: {reason}"):
        _run(clients, [])


def test_an_aborted_execution_says_what_became_of_the_job(stubbed):
    clients, stubbers = stubbed
    _expect_run(
        stubbers["stepfunctions"],
        stubbers["sagemaker"],
        job_statuses=["InProgress"],
        final=_execution("ABORTED"),
        final_job=_job("Stopping"),
    )

    with pytest.raises(RunFailed, match=f"ended ABORTED \\(transform job {JOB_NAME} is Stopping\\)"):
        _run(clients, [])


def test_a_prefix_the_state_machine_refuses_is_bad_input(stubbed):
    clients, stubbers = stubbed
    stubbers["stepfunctions"].add_response(
        "start_execution", {"executionArn": EXECUTION_ARN, "startDate": STARTED}, None
    )
    stubbers["stepfunctions"].add_response(
        "describe_execution",
        _execution(
            "FAILED", error="InvalidTransformInput", cause="the input needs a 'prefix' under dataset/"
        ),
        {"executionArn": EXECUTION_ARN},
    )
    stubbers["sagemaker"].add_client_error(
        "describe_transform_job", "ValidationException", "Could not find job", 400
    )

    with pytest.raises(
        OpsError, match="refused the input: the input needs a 'prefix' under dataset/"
    ) as error:
        _run(clients, [])
    assert type(error.value) is OpsError


def test_a_success_without_an_output_location_is_a_named_error(stubbed):
    clients, stubbers = stubbed
    _expect_run(
        stubbers["stepfunctions"],
        stubbers["sagemaker"],
        job_statuses=[],
        final=_execution("SUCCEEDED", output="{}"),
    )

    with pytest.raises(transform.TransformResultsMissing, match="without an output_uri"):
        _run(clients, [])


def _put_results(s3, bucket, results):
    for key, body in results.items():
        s3.put_object(Bucket=bucket, Key=f"transform-results/{JOB_NAME}/{key}", Body=body)


def test_results_are_counted_per_predicted_class_and_below_the_threshold(s3, bucket):
    _put_results(
        s3,
        bucket,
        {
            "bike_1.png.out": b"[0.97, 0.03]",
            "bike_2.png.out": b"[0.6, 0.4]",
            "moto_1.png.out": b"[0.1, 0.9]",
            "broken.png.out": b"<html>",
            "manifest.json": b"{}",
        },
    )

    summary = transform.summarize_results(
        s3, _output_uri(bucket), threshold=0.93, class_names=["bicycle", "motorcycle"]
    )

    assert summary.per_class == {"bicycle": 2, "motorcycle": 1}
    assert summary.below_threshold == {"bicycle": 1, "motorcycle": 1}
    assert summary.unreadable == [f"transform-results/{JOB_NAME}/broken.png.out"]
    rendered = transform.render_results(
        transform.TransformRun(EXECUTION_ARN, JOB_NAME, _output_uri(bucket)), summary
    )
    assert rendered.splitlines()[1:4] == [
        "class             images  below 0.93",
        "bicycle                2  1",
        "motorcycle             1  1",
    ]


def test_without_class_names_classes_are_numbered(s3, bucket):
    _put_results(s3, bucket, {"a.png.out": b"[0.2, 0.8]"})

    summary = transform.summarize_results(s3, _output_uri(bucket), threshold=0.5, class_names=None)

    assert summary.per_class == {"class 1": 1} and summary.below_threshold == {}


def test_no_result_files_is_a_named_error(s3, bucket):
    with pytest.raises(
        transform.TransformResultsMissing, match=f"no result file .* under {_output_uri(bucket)}"
    ):
        transform.summarize_results(s3, _output_uri(bucket), threshold=0.5, class_names=None)


@pytest.fixture
def cli_clients(s3, stubbed_sessions):
    """CloudFormation, Step Functions and SageMaker stubbed; S3 is moto's."""
    return stubbed_sessions(("cloudformation", "stepfunctions", "sagemaker"), unstubbed={"s3": s3})


def _expect_outputs(cloudformation, bucket):
    workflow = {"TransformStateMachineArn": STATE_MACHINE_ARN, "ConfidenceThreshold": "0.93"}
    for stack, outputs in (
        ("SconesVision-Workflow", workflow),
        ("SconesVision-Storage", {"BucketName": bucket}),
    ):
        cloudformation.add_response(
            "describe_stacks", stack_description(stack, outputs), {"StackName": stack}
        )


def test_cli_exits_0_and_prints_the_summary_when_the_job_completed(cli_clients, s3, bucket, capsys):
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}bike_1.png", Body=b"png")
    _put_results(s3, bucket, {"bike_1.png.out": b"[0.97, 0.03]"})
    _expect_outputs(cli_clients["cloudformation"], bucket)
    output = {"job_name": JOB_NAME, "status": "Completed", "output_uri": _output_uri(bucket)}
    _expect_run(
        cli_clients["stepfunctions"],
        cli_clients["sagemaker"],
        job_statuses=[],
        final=_execution("SUCCEEDED", output=json.dumps(output)),
    )

    code = main(["transform", "--prefix", PREFIX, "--classes", "bicycle", "motorcycle", "--poll", "0"])

    assert code == 0
    out = capsys.readouterr().out
    assert f"transform job {JOB_NAME}: 1 images scored" in out
    assert f"results: {_output_uri(bucket)}" in out


def test_cli_exits_1_with_the_failure_reason_when_the_job_failed(cli_clients, s3, bucket, capsys):
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}bike_1.png", Body=b"png")
    _expect_outputs(cli_clients["cloudformation"], bucket)
    failed = _job("Failed", FailureReason="AlgorithmError: unable to decode the image")
    _expect_run(
        cli_clients["stepfunctions"],
        cli_clients["sagemaker"],
        job_statuses=[],
        final=_execution("FAILED", error="States.TaskFailed", cause="{}"),
        final_job=failed,
    )

    code = main(["transform", "--prefix", PREFIX, "--poll", "0", "--no-progress"])

    assert code == 1
    assert "AlgorithmError: unable to decode the image" in capsys.readouterr().err


def test_cli_exits_2_when_the_prefix_holds_no_image_and_starts_nothing(cli_clients, bucket, capsys):
    _expect_outputs(cli_clients["cloudformation"], bucket)

    code = main(["transform", "--prefix", "dataset/nothing-here/", "--poll", "0"])

    assert code == 2
    assert f"no object under s3://{bucket}/dataset/nothing-here/" in capsys.readouterr().err
