import dataclasses
import json
import re

import boto3
import pytest
from botocore.stub import Stubber

from data_prep.manifest import Manifest
from ops.cli import main
from tests.ops.builders import (
    CAPTURE_PREFIX,
    PNG_BYTES,
    capture_line,
    monitor_args,
    put_capture,
    stack_description,
    write_manifest,
)
from tests.ops.conftest import REGION

LST_KEY = "dataset/validation_lst/validation.lst"


def test_help_names_every_command_and_the_region_rule(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert all(f" {name} " in out for name in ("run", "monitor", "batch", "transform", "preflight", "cost"))
    assert "--region, else AWS_REGION, AMAZON_REGION, AWS_DEFAULT_REGION, the profile's region" in out


def _put_validation_set(s3, bucket, names_and_labels):
    lst = "".join(f"{index}\t{label}\t{name}\n" for index, (name, label) in enumerate(names_and_labels))
    s3.put_object(Bucket=bucket, Key=LST_KEY, Body=lst.encode())
    for name, _ in names_and_labels:
        s3.put_object(Bucket=bucket, Key=f"dataset/validation/{name}", Body=PNG_BYTES)


def _run_args(bucket, workflow_arn, *extra):
    return [
        "run",
        "--state-machine-arn",
        workflow_arn,
        "--bucket",
        bucket,
        "--poll",
        "0.01",
        "--no-progress",
        *extra,
    ]


def test_run_exits_0_when_every_execution_ends_as_designed(s3, bucket, workflow_arn, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0), ("low_motorbike_s_2.png", 1)])

    code = main(_run_args(bucket, workflow_arn, "--lst", LST_KEY, "--classes", "bicycle", "motorcycle"))

    out = capsys.readouterr().out
    assert code == 0
    assert "2 executions: 1 succeeded, 1 failed as designed (ThresholdConfidenceNotMet), 0 unexpected" in out
    assert "dataset/validation/low_motorbike_s_2.png  motorcycle  motorcycle  0.600       yes" in out


def test_run_exits_1_when_an_execution_fails_unexpectedly(s3, bucket, workflow_arn, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0), ("bike_s_2_missing.png", 0), ("bike_s_3.png", 0)])

    code = main(_run_args(bucket, workflow_arn, "--limit", "2"))

    out = capsys.readouterr().out
    assert code == 1
    assert "2 executions: 1 succeeded, 0 failed as designed (ThresholdConfidenceNotMet), 1 unexpected" in out
    assert "NO           FAILED\n    ImageNotFound: no such key\n" in out


def test_run_reads_class_names_from_the_manifest(s3, bucket, workflow_arn, tmp_path, capsys):
    write_manifest(tmp_path)
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0)])

    code = main(_run_args(bucket, workflow_arn, "--lst", LST_KEY, "--manifest", str(tmp_path)))

    assert code == 0
    assert "bicycle     images 1, predicted correctly 1, succeeded 1" in capsys.readouterr().out


def test_run_against_a_missing_state_machine_exits_2_with_a_clear_error(s3, bucket, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0)])

    code = main(_run_args(bucket, "arn:aws:states:us-east-1:123456789012:stateMachine:gone"))

    assert code == 2
    assert "error: no state machine 'arn:aws:states:us-east-1:123456789012:stateMachine:gone'" in (
        capsys.readouterr().err
    )


def _monitor_args(bucket, tmp_path):
    return monitor_args(bucket, tmp_path / "plots" / "monitoring.png", threshold="0.93")


def test_monitor_prints_the_summary_and_writes_the_png(s3, bucket, tmp_path, capsys):
    put_capture(
        s3, bucket, [capture_line([0.97, 0.03], event_id="1"), capture_line([0.3, 0.7], event_id="2")]
    )

    code = main(_monitor_args(bucket, tmp_path))

    out = capsys.readouterr().out
    summary_text, plot_line, summary_line = out.rsplit("\n", 3)[0], *out.splitlines()[-2:]
    assert code == 0
    assert json.loads(summary_text) == {
        "records": 2,
        "threshold": 0.93,
        "below_threshold": 1,
        "share_below_threshold": 0.5,
        "mean_confidence": 0.835,
        "per_class": {"bicycle": 1, "motorcycle": 1},
        "first_inference": "2026-11-26T10:00:00+00:00",
        "last_inference": "2026-11-26T10:00:00+00:00",
    }
    assert plot_line == f"plot: {tmp_path / 'plots' / 'monitoring.png'}"
    assert summary_line == f"summary: {tmp_path / 'plots' / 'monitoring.json'}"
    assert (tmp_path / "plots" / "monitoring.png").stat().st_size > 10_000


def test_monitor_reports_malformed_lines_and_exits_1(s3, bucket, tmp_path, capsys):
    key = put_capture(s3, bucket, [capture_line([0.97, 0.03]), "{broken"])

    code = main(_monitor_args(bucket, tmp_path))

    err = capsys.readouterr().err
    assert code == 1
    assert f"malformed capture line skipped: s3://{bucket}/{key} line 2: not JSON" in err
    assert "1 malformed capture lines were skipped" in err
    assert (tmp_path / "plots" / "monitoring.png").exists()


def test_monitor_without_capture_records_exits_2_with_a_clear_error(s3, bucket, tmp_path, capsys):
    code = main(_monitor_args(bucket, tmp_path))

    assert code == 2
    assert (
        f"error: no readable capture records under s3://{bucket}/{CAPTURE_PREFIX}" in capsys.readouterr().err
    )
    assert not (tmp_path / "plots").exists()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["run", "--lst", LST_KEY],
            "python -m ops run: --lst needs --classes or --manifest to name its labels",
        ),
        (
            ["monitor", "--threshold", "93"],
            "argument --threshold: expected a confidence between 0 and 1, got 93",
        ),
        (
            ["monitor", "--bucket", "b", "--prefix", "p/"],
            "python -m ops monitor: give --classes or --manifest to name the classes",
        ),
        (["run", "--limit", "-5"], "argument --limit: expected a positive whole number, got -5"),
        (
            ["preflight", "-c", "use_spot_training"],
            "argument -c/--context: expected KEY=VALUE, got 'use_spot_training'",
        ),
        (["batch"], "python -m ops batch: the following arguments are required: --prefix"),
    ],
)
def test_bad_input_is_one_line_naming_it_and_exit_2(capsys, args, error):
    code = main(args)

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and error in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("names", "shown"),
    [(["bicycle", "bicycle"], "bicycle bicycle"), (["bicycle,,motorcycle"], "bicycle,,motorcycle")],
)
def test_bad_class_names_exit_2_with_a_clear_error(tmp_path, capsys, names, shown):
    code = main([*_monitor_args("any-bucket", tmp_path), "--classes", *names])

    assert code == 2
    assert (
        f"error: --classes '{shown}': expected distinct non-empty names, separated by spaces or commas"
        in capsys.readouterr().err
    )


# The deployed app as CloudFormation describes it. moto's CloudFormation cannot be imported here (it needs
# openapi_spec_validator), so every boto3 session's CloudFormation client is one stubbed client.
@pytest.fixture
def cloudformation(executing_aws, monkeypatch):
    client = boto3.client("cloudformation", region_name=REGION)
    session_client = boto3.Session.client

    def client_for(session, service_name, *args, **kwargs):
        if service_name == "cloudformation":
            return client
        return session_client(session, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.Session, "client", client_for)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _deployed(stubber, stack_name, outputs):
    stubber.add_response("describe_stacks", stack_description(stack_name, outputs), {"StackName": stack_name})


def test_run_asks_the_stacks_only_for_what_is_not_given(cloudformation, s3, bucket, workflow_arn, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0)])
    _deployed(cloudformation, "Other-Storage", {"BucketName": bucket})

    code = main(
        [
            "run",
            "--stack-prefix",
            "Other",
            "--state-machine-arn",
            workflow_arn,
            "--poll",
            "0.01",
            "--no-progress",
        ]
    )

    assert code == 0
    assert "1 executions: 1 succeeded" in capsys.readouterr().out


def test_run_without_a_deployed_app_says_which_stack_is_missing(cloudformation, capsys):
    cloudformation.add_client_error(
        "describe_stacks",
        "ValidationError",
        "Stack with id Other-Workflow does not exist",
        400,
        expected_params={"StackName": "Other-Workflow"},
    )

    code = main(["run", "--stack-prefix", "Other", "--no-progress"])

    assert code == 2
    assert f"error: no stack 'Other-Workflow' in region {REGION}: deploy with `make deploy`" in (
        capsys.readouterr().err
    )


def test_monitor_asks_the_stacks_only_for_what_is_not_given(cloudformation, s3, bucket, tmp_path, capsys):
    put_capture(s3, bucket, [capture_line([0.97, 0.03])])
    _deployed(
        cloudformation, "SconesVision-Workflow", {"StateMachineArn": "arn", "ConfidenceThreshold": "0.99"}
    )
    args = ["monitor", "--bucket", bucket, "--prefix", CAPTURE_PREFIX, "--classes", "bicycle", "motorcycle"]

    code = main([*args, "--out", str(tmp_path / "monitoring.png")])

    assert code == 0
    assert json.loads(capsys.readouterr().out.rsplit("\n", 3)[0])["below_threshold"] == 1


def test_monitor_refuses_a_threshold_output_that_is_no_confidence(cloudformation, tmp_path, capsys):
    _deployed(cloudformation, "SconesVision-Workflow", {"ConfidenceThreshold": "93"})
    args = [
        "monitor",
        "--bucket",
        "any-bucket",
        "--prefix",
        CAPTURE_PREFIX,
        "--classes",
        "bicycle,motorcycle",
    ]

    code = main([*args, "--out", str(tmp_path / "monitoring.png")])

    assert code == 2
    assert (
        "error: the Workflow stack's ConfidenceThreshold output '93' is not a confidence between 0 and 1"
        in (capsys.readouterr().err)
    )


# `python -m ops preflight` end to end: the synthesized app's cdk.out, cdk.json's settings, every AWS call stubbed.
ACCOUNT = "123456789012"
BUCKET = f"sconesvision-{ACCOUNT}-{REGION}"


@pytest.fixture
def real_dataset(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_manifest(folder)
    manifest = Manifest.load(folder)
    (folder / Manifest.FILENAME).write_text(dataclasses.replace(manifest, synthetic=False).to_json())
    return folder


def _preflight_args(cdk_out, dataset, *extra):
    return [
        "preflight",
        "--cdk-out",
        str(cdk_out),
        "-c",
        f"dataset_dir={dataset}",
        *extra,
    ]


def _account_answers(stubbed, *, training_quota=1.0, spot=False, bucket=BUCKET):
    stubbed["sts"].add_response(
        "get_caller_identity",
        {"UserId": "AIDA", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/deployer"},
        {},
    )
    stubbed["ssm"].add_response(
        "get_parameter",
        {"Parameter": {"Name": "/cdk-bootstrap/hnb659fds/version", "Value": "28"}},
        {"Name": "/cdk-bootstrap/hnb659fds/version"},
    )
    usage = "spot training job usage" if spot else "training job usage"
    stubbed["service-quotas"].add_response(
        "list_service_quotas",
        {
            "Quotas": [
                {
                    "QuotaName": f"ml.g4dn.xlarge for {usage}",
                    "QuotaCode": "L-3F53BB7D",
                    "Value": training_quota,
                },
                {"QuotaName": "ml.m5.large for endpoint usage", "QuotaCode": "L-2F737F8D", "Value": 4.0},
            ]
        },
        {"ServiceCode": "sagemaker"},
    )
    stubbed["s3"].add_client_error("head_bucket", "404", "Not Found", 404, {"Bucket": bucket})


def _all_answered(stubbed):
    for stubber in stubbed.values():
        stubber.assert_no_pending_responses()


def test_preflight_passes_on_a_ready_account(stubbed_aws, cdk_out, real_dataset, capsys):
    _account_answers(stubbed_aws)

    code = main(_preflight_args(cdk_out, real_dataset))

    out = capsys.readouterr().out
    _all_answered(stubbed_aws)
    assert code == 0
    assert out.splitlines() == [
        "check            status  detail",
        f"credentials      pass    arn:aws:iam::{ACCOUNT}:user/deployer (account {ACCOUNT})",
        f"algorithm image  pass    the image-classification image exists in {REGION}",
        "CDK bootstrap    pass    version 28 (needs 6 or later)",
        "training quota   pass    'ml.g4dn.xlarge for training job usage' is 1, 1 needed",
        "endpoint quota   pass    'ml.m5.large for endpoint usage' is 4, 1 needed",
        f"bucket name      pass    {BUCKET} is free",
        f"dataset          pass    {real_dataset}: bicycle, motorcycle, 2 training images",
        "7 checks: 7 pass: ready to deploy",
    ]


def test_preflight_checks_the_settings_given_with_c(stubbed_aws, cdk_out, real_dataset, capsys):
    _account_answers(stubbed_aws, training_quota=0.0, spot=True)

    code = main(_preflight_args(cdk_out, real_dataset, "-c", "use_spot_training=true"))

    out = capsys.readouterr().out
    _all_answered(stubbed_aws)
    assert code == 1
    assert (
        "spot training quota  fail    'ml.g4dn.xlarge for spot training job usage' is 0 in us-east-1" in out
    )
    assert (
        "fix: request 1 at https://console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas/L-3F53BB7D"
        in out
    )
    assert out.splitlines()[-1] == "7 checks: 6 pass, 1 fail: fix the failing checks, then deploy"


def test_preflight_with_the_demo_dataset_fails_and_says_make_data(stubbed_aws, cdk_out, tmp_path, capsys):
    _account_answers(stubbed_aws)
    write_manifest(tmp_path)

    code = main(_preflight_args(cdk_out, tmp_path))

    out = capsys.readouterr().out
    _all_answered(stubbed_aws)
    assert code == 1
    assert f"dataset          fail    {tmp_path} holds a generated (synthetic) dataset, not CIFAR-100" in out
    assert "\n" + " " * 25 + "fix: make data (downloads CIFAR-100 once" in out


def test_preflight_with_refused_credentials_fails_and_skips_what_needs_them(
    stubbed_aws, cdk_out, real_dataset, capsys
):
    stubbed_aws["sts"].add_client_error("get_caller_identity", "InvalidClientTokenId", "invalid token", 403)

    code = main(_preflight_args(cdk_out, real_dataset))

    out = capsys.readouterr().out
    _all_answered(stubbed_aws)
    assert code == 1
    assert re.search(
        r"^credentials +fail +STS refused the credentials: InvalidClientTokenId: invalid token$", out, re.M
    )
    for needs_an_account in ("CDK bootstrap", "SageMaker quotas", "bucket name"):
        assert re.search(rf"^{needs_an_account} +skip +needs working credentials$", out, re.M)
    assert out.splitlines()[-1] == "6 checks: 2 pass, 1 fail, 3 skip: fix the failing checks, then deploy"


def test_preflight_without_any_credentials_exits_2(
    no_aws_credentials, monkeypatch, cdk_out, real_dataset, capsys
):
    monkeypatch.setenv("AWS_REGION", REGION)

    code = main(_preflight_args(cdk_out, real_dataset))

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == (
        "error: no AWS credentials found: run `aws configure` or `aws sso login`, or give --profile\n"
    )


def test_preflight_without_cdk_out_exits_2(stubbed_aws, tmp_path, capsys):
    code = main(["preflight", "--cdk-out", str(tmp_path / "cdk.out")])

    assert code == 2
    assert (
        f"error: no {tmp_path / 'cdk.out' / 'manifest.json'}: run `make synth` first"
        in capsys.readouterr().err
    )


def test_preflight_with_a_bad_setting_exits_2_with_one_line(stubbed_aws, cdk_out, capsys):
    code = main(["preflight", "--cdk-out", str(cdk_out), "-c", "endpoint_instance_count=0"])

    assert code == 2
    assert capsys.readouterr().err == (
        "error: context 'endpoint_instance_count'='0' is invalid: expected an integer in [1, 10]\n"
    )


def test_preflight_checks_the_region_cdk_deploys_to(stubbed_aws, monkeypatch, cdk_out, real_dataset, capsys):
    # The CDK CLI prefers AWS_REGION to AWS_DEFAULT_REGION (us-east-1 in these tests); boto3 reads only the latter.
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    _account_answers(stubbed_aws, bucket=f"sconesvision-{ACCOUNT}-eu-west-1")

    code = main(_preflight_args(cdk_out, real_dataset))

    _all_answered(stubbed_aws)
    assert code == 0
    assert "the image-classification image exists in eu-west-1" in capsys.readouterr().out
