import dataclasses
import json

import boto3
import pytest

from data_prep.manifest import Manifest
from ops.assembly import AssemblyError, BootstrapRequirement, CloudAssembly, algorithm_image_regions
from ops.preflight import (
    QUOTAS_CONSOLE,
    Check,
    QuotaNeed,
    Status,
    check_algorithm_region,
    check_bootstrap,
    check_bucket,
    check_credentials,
    check_dataset,
    check_quotas,
    render_checks,
    required_quotas,
)
from stacks.config import AppConfig, cdk_json_context
from tests.cloud_assembly import write_cloud_assembly
from tests.ops.builders import stack_description, write_manifest
from tests.ops.conftest import REGION

ACCOUNT = "123456789012"
BOOTSTRAP = BootstrapRequirement(version=6, ssm_parameter="/cdk-bootstrap/hnb659fds/version")
TRAINING = QuotaNeed("training", "ml.g4dn.xlarge for training job usage", 1)
ENDPOINT = QuotaNeed("endpoint", "ml.m5.large for endpoint usage", 1)
SAGEMAKER = {"ServiceCode": "sagemaker"}


def quota(name, value, code="L-1234ABCD"):
    return {"QuotaName": name, "QuotaCode": code, "ServiceCode": "sagemaker", "Value": value}


# --- credentials ---


def test_credentials_pass_with_the_caller_and_give_the_account(stub):
    sts, stubber = stub("sts")
    stubber.add_response(
        "get_caller_identity",
        {"UserId": "AIDA", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/deployer"},
        {},
    )

    check, account = check_credentials(sts)

    assert account == ACCOUNT
    assert check == Check(
        "credentials", Status.PASS, f"arn:aws:iam::{ACCOUNT}:user/deployer (account {ACCOUNT})"
    )


def test_expired_credentials_fail_with_how_to_refresh_them(stub):
    sts, stubber = stub("sts")
    stubber.add_client_error(
        "get_caller_identity", "ExpiredToken", "The security token included is expired", 403
    )

    check, account = check_credentials(sts)

    assert account is None
    assert check.status is Status.FAIL
    assert "ExpiredToken" in check.detail
    assert "aws sso login" in check.fix


# --- region ---


def test_a_region_with_the_algorithm_image_passes_and_one_without_fails_listing_the_others():
    assert check_algorithm_region(["eu-west-1", "us-east-1"], "us-east-1").status is Status.PASS

    check = check_algorithm_region(["eu-west-1", "us-east-1"], "mars-north-1")

    assert check.status is Status.FAIL
    assert check.fix == "deploy to one of: eu-west-1, us-east-1 (--region, or AWS_REGION)"


def test_the_regions_are_those_of_the_synthesized_algorithm_image_mapping(synthesized_app):
    from stacks.constructs.algorithm_image import algorithm_registry

    assembly = CloudAssembly(synthesized_app.assembly.directory)
    template = assembly.template(f"{synthesized_app.config.project_name}-Model")

    assert algorithm_image_regions(template) == sorted(algorithm_registry())
    assert "us-east-1" in algorithm_image_regions(template)


def test_a_template_without_the_image_mapping_is_an_assembly_error():
    with pytest.raises(
        AssemblyError, match="expected one region -> ImageUri mapping in the Model template, found 0"
    ):
        algorithm_image_regions({"Mappings": {"Other": {"us-east-1": {"Value": "x"}}}})


# --- the cloud assembly ---


def test_the_bootstrap_requirement_is_the_one_the_synthesized_stacks_name(synthesized_app):
    assembly = CloudAssembly(synthesized_app.assembly.directory)
    model_template = assembly.template(f"{synthesized_app.config.project_name}-Model")

    (requirement,) = assembly.bootstrap_requirements()

    # The same parameter the template's CheckBootstrapVersion rule reads, and at least the version it asserts.
    assert requirement.ssm_parameter == model_template["Parameters"]["BootstrapVersion"]["Default"]
    rule = json.dumps(model_template["Rules"]["CheckBootstrapVersion"])
    assert f"CDK bootstrap stack version {requirement.version} required" in rule


def test_the_bootstrap_requirement_is_the_highest_per_parameter_and_ignores_the_lookup_role(tmp_path):
    artifacts = {
        "App-Storage": {
            "type": "aws:cloudformation:stack",
            "properties": {
                "templateFile": "App-Storage.template.json",
                "requiresBootstrapStackVersion": 6,
                "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version",
                "lookupRole": {"requiresBootstrapStackVersion": 8},
            },
        },
        "App-Storage.assets": {
            "type": "cdk:asset-manifest",
            "properties": {
                "requiresBootstrapStackVersion": 21,
                "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version",
            },
        },
        "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))

    assert CloudAssembly(tmp_path).bootstrap_requirements() == [
        BootstrapRequirement(21, "/cdk-bootstrap/hnb659fds/version")
    ]


def test_a_missing_template_is_an_assembly_error(tmp_path):
    stack = {"type": "aws:cloudformation:stack", "properties": {"templateFile": "App-Model.template.json"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"App-Model": stack}}))

    with pytest.raises(AssemblyError, match="App-Model.template.json .*: run `make synth` again"):
        CloudAssembly(tmp_path).template("App-Model")


def test_a_missing_assembly_or_stack_is_an_assembly_error_saying_what_to_run(tmp_path, synthesized_app):
    with pytest.raises(AssemblyError, match="manifest.json: run `make synth` first"):
        CloudAssembly(tmp_path / "cdk.out")
    with pytest.raises(AssemblyError, match=r"has no stack 'Other-Model' \(it has: SconesVision-Model, "):
        CloudAssembly(synthesized_app.assembly.directory).template("Other-Model")


def test_the_stacks_are_the_manifests_and_each_template_is_read_once(tmp_path):
    write_cloud_assembly(
        tmp_path,
        {
            "App-Workflow": {"Outputs": {"StateMachineArn": {"Value": {"Ref": "Machine"}}}},
            "App-Monitoring": {"Resources": {}},
        },
    )
    (tmp_path / "Stray.template.json").write_text(json.dumps({"Outputs": {"StateMachineArn": {}}}))
    assembly = CloudAssembly(tmp_path)

    assert assembly.stack_names == ["App-Monitoring", "App-Workflow"]
    assert assembly.stacks_with_output("StateMachineArn") == ["App-Workflow"]
    template = assembly.template("App-Workflow")
    (tmp_path / "App-Workflow.template.json").unlink()
    assert assembly.template("App-Workflow") is template


# --- CDK bootstrap ---


GET_VERSION = {"Name": BOOTSTRAP.ssm_parameter}


@pytest.mark.parametrize(
    ("answer", "status", "detail", "fix"),
    [
        ({"Parameter": {"Value": "28"}}, Status.PASS, "version 28 (needs 6 or later)", ""),
        (
            ("ParameterNotFound", 400),
            Status.FAIL,
            f"{REGION} is not bootstrapped for the CDK: no SSM parameter {BOOTSTRAP.ssm_parameter}",
            f"npx cdk bootstrap aws://{ACCOUNT}/{REGION} ",
        ),
        (
            {"Parameter": {"Value": "5"}},
            Status.FAIL,
            f"bootstrap version 5 in {REGION}, this app needs 6 or later",
            f"bootstrap again with this project's CDK CLI: npx cdk bootstrap aws://{ACCOUNT}/{REGION} ",
        ),
        (
            ("AccessDeniedException", 400),
            Status.WARN,
            f"cannot read {BOOTSTRAP.ssm_parameter} (AccessDeniedException)",
            "if the deploy says the environment is not bootstrapped: npx cdk bootstrap",
        ),
    ],
    ids=["recent", "never", "older", "unreadable"],
)
def test_the_bootstrap_version(stub, answer, status, detail, fix):
    ssm, stubber = stub("ssm")
    if isinstance(answer, tuple):
        stubber.add_client_error("get_parameter", answer[0], "", answer[1], GET_VERSION)
    else:
        stubber.add_response("get_parameter", answer, GET_VERSION)

    check = check_bootstrap(ssm, BOOTSTRAP, account=ACCOUNT, region=REGION)

    assert (check.status, check.detail.split(";")[0]) == (status, detail)
    assert check.fix.startswith(fix)


# --- SageMaker quotas ---


def test_required_quotas_follow_the_config():
    config = AppConfig.from_context(cdk_json_context())
    assert required_quotas(config) == [
        QuotaNeed("training", "ml.g4dn.xlarge for training job usage", 1),
        QuotaNeed("endpoint", "ml.m5.large for endpoint usage", 1),
    ]

    spot = AppConfig.from_context(
        {**cdk_json_context(), "use_spot_training": "true", "training_instance_count": "2"}
    )
    assert required_quotas(spot)[0] == QuotaNeed(
        "spot training", "ml.g4dn.xlarge for spot training job usage", 2
    )

    serving_only = AppConfig.from_context(
        {**cdk_json_context(), "model_data_url": "s3://bucket/m/model.tar.gz"}
    )
    assert required_quotas(serving_only) == [QuotaNeed("endpoint", "ml.m5.large for endpoint usage", 1)]
    rollback = AppConfig.from_context({**cdk_json_context(), "model_version": "3"})
    assert required_quotas(rollback) == required_quotas(serving_only)


def test_an_autoscaled_endpoint_needs_its_maximum_and_a_serverless_one_no_instance_quota(stub):
    scaled = AppConfig.from_context(
        {**cdk_json_context(), "autoscaling_enabled": "true", "autoscaling_max_instances": "6"}
    )
    assert required_quotas(scaled)[-1] == QuotaNeed("endpoint", "ml.m5.large for endpoint usage", 6)
    serverless = {**cdk_json_context(), "endpoint_mode": "serverless", "data_capture_enabled": "false"}
    assert required_quotas(AppConfig.from_context(serverless)) == [TRAINING]
    brought = AppConfig.from_context({**serverless, "model_data_url": "s3://bucket/m/model.tar.gz"})
    assert required_quotas(brought) == []
    # Nothing to check: Service Quotas is not called (any call to the stub, with nothing queued, would raise).
    service_quotas, _ = stub("service-quotas")
    assert check_quotas(service_quotas, [], region=REGION) == []


def test_quotas_at_least_the_instance_counts_pass_reading_every_page_needed(stub):
    quotas, stubber = stub("service-quotas")
    stubber.add_response(
        "list_service_quotas",
        {"Quotas": [quota("ml.m5.large for endpoint usage", 4.0), quota("ml.p3.2xlarge for endpoint usage", 0.0)],
         "NextToken": "page-2"},
        SAGEMAKER,
    )  # fmt: skip
    stubber.add_response(
        "list_service_quotas",
        {"Quotas": [quota("ml.g4dn.xlarge for training job usage", 1.0)], "NextToken": "page-3"},
        {**SAGEMAKER, "NextToken": "page-2"},
    )

    checks = check_quotas(quotas, [TRAINING, ENDPOINT], region=REGION)

    assert checks == [
        Check("training quota", Status.PASS, "'ml.g4dn.xlarge for training job usage' is 1, 1 needed"),
        Check("endpoint quota", Status.PASS, "'ml.m5.large for endpoint usage' is 4, 1 needed"),
    ]


def test_a_quota_of_0_fails_naming_the_quota_the_console_and_the_request_command(stub):
    quotas, stubber = stub("service-quotas")
    stubber.add_response(
        "list_service_quotas",
        {"Quotas": [quota("ml.g4dn.xlarge for training job usage", 0.0, code="L-3F53BB7D"),
                    quota("ml.m5.large for endpoint usage", 1.0)]},
        SAGEMAKER,
    )  # fmt: skip

    training, endpoint = check_quotas(quotas, [TRAINING, ENDPOINT], region=REGION)

    assert training.status is Status.FAIL
    assert training.detail == (
        f"'ml.g4dn.xlarge for training job usage' is 0 in {REGION}, 1 needed "
        "(new accounts often start at 0 for GPU instances)"
    )
    assert training.fix.splitlines() == [
        f"request 1 at {QUOTAS_CONSOLE}/L-3F53BB7D (region {REGION}), or:",
        "aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code L-3F53BB7D "
        f"--desired-value 1 --region {REGION}",
    ]
    assert endpoint.status is Status.PASS


def test_a_quota_below_the_instance_count_fails(stub):
    quotas, stubber = stub("service-quotas")
    stubber.add_response(
        "list_service_quotas", {"Quotas": [quota("ml.m5.large for endpoint usage", 2.0)]}, SAGEMAKER
    )

    (check,) = check_quotas(
        quotas, [QuotaNeed("endpoint", "ml.m5.large for endpoint usage", 3)], region=REGION
    )

    assert check.status is Status.FAIL
    assert check.detail == f"'ml.m5.large for endpoint usage' is 2 in {REGION}, 3 needed"


def test_a_quota_never_changed_is_read_from_the_defaults(stub):
    quotas, stubber = stub("service-quotas")
    stubber.add_response(
        "list_service_quotas", {"Quotas": [quota("ml.m5.large for endpoint usage", 1.0)]}, SAGEMAKER
    )
    stubber.add_response(
        "list_aws_default_service_quotas",
        {"Quotas": [quota("ml.g4dn.xlarge for training job usage", 0.0)]},
        SAGEMAKER,
    )

    training, endpoint = check_quotas(quotas, [TRAINING, ENDPOINT], region=REGION)

    assert (training.status, endpoint.status) == (Status.FAIL, Status.PASS)


def test_a_quota_that_does_not_exist_is_a_warning(stub):
    quotas, stubber = stub("service-quotas")
    stubber.add_response("list_service_quotas", {"Quotas": []}, SAGEMAKER)
    stubber.add_response("list_aws_default_service_quotas", {"Quotas": []}, SAGEMAKER)

    (check,) = check_quotas(quotas, [ENDPOINT], region=REGION)

    assert check.status is Status.WARN
    assert (
        check.detail
        == f"no quota 'ml.m5.large for endpoint usage' in {REGION}: is that instance type offered there?"
    )


def test_service_quotas_access_denied_is_a_warning_with_the_console_link(stub):
    quotas, stubber = stub("service-quotas")
    stubber.add_client_error("list_service_quotas", "AccessDeniedException", "not authorized", 400, SAGEMAKER)

    (check,) = check_quotas(quotas, [TRAINING, ENDPOINT], region=REGION)

    assert check == Check(
        "SageMaker quotas",
        Status.WARN,
        "cannot read Service Quotas (AccessDeniedException)",
        f"check by hand in {REGION}: 'ml.g4dn.xlarge for training job usage' >= 1; "
        f"'ml.m5.large for endpoint usage' >= 1 at {QUOTAS_CONSOLE}",
    )


# --- bucket name ---

BUCKET = f"sconesvision-{ACCOUNT}-{REGION}"


STORAGE = "SconesVision-Storage"
NO_STACK = ("ValidationError", f"Stack with id {STORAGE} does not exist", 400)


@pytest.mark.parametrize(
    ("head", "describe", "status", "detail", "fix"),
    [
        (("404", "Not Found", 404), None, Status.PASS, f"{BUCKET} is free", ""),
        (
            ("403", "Forbidden", 403),
            None,
            Status.FAIL,
            f"{BUCKET} exists and these credentials cannot see it: another account owns the name",
            "choose another",
        ),
        (
            {},
            NO_STACK,
            Status.FAIL,
            f"{BUCKET} exists but no deployed {STORAGE} stack owns it (retained by an earlier deploy)",
            # A versioned bucket: `aws s3 rb --force` cannot delete it, this does.
            f'if its data is not needed, delete it with every object version:\n.venv/bin/python -c "import boto3; '
            f"b = boto3.resource('s3').Bucket('{BUCKET}'); b.object_versions.delete(); b.delete()\"",
        ),
        (
            {},
            ("AccessDenied", "no", 403),
            Status.WARN,
            f"{BUCKET} exists; cannot tell whether {STORAGE} owns it (DescribeStacks: AccessDenied)",
            "if no ",
        ),
        (
            {},
            stack_description(STORAGE, {"BucketName": BUCKET}),
            Status.PASS,
            f"{BUCKET} belongs to the deployed {STORAGE} stack",
            "",
        ),
    ],
    ids=["free", "another-account", "retained", "stack-unreadable", "ours"],
)
def test_the_bucket_name(stub, head, describe, status, detail, fix):
    s3, s3_stubber = stub("s3")
    cloudformation, cfn_stubber = stub("cloudformation")
    for stubber, operation, answer, params in (
        (s3_stubber, "head_bucket", head, {"Bucket": BUCKET}),
        (cfn_stubber, "describe_stacks", describe, {"StackName": STORAGE}),
    ):
        if isinstance(answer, tuple):
            stubber.add_client_error(operation, answer[0], answer[1], answer[2], params)
        elif answer is not None:
            stubber.add_response(operation, answer, params)

    check = check_bucket(s3, cloudformation, bucket=BUCKET, storage_stack=STORAGE)

    assert (check.status, check.detail) == (status, detail)
    assert check.fix.startswith(fix)


# --- dataset ---


def write_real_manifest(folder):
    write_manifest(folder)
    manifest = Manifest.load(folder)
    (folder / Manifest.FILENAME).write_text(dataclasses.replace(manifest, synthetic=False).to_json())


def test_a_real_dataset_passes(tmp_path):
    write_real_manifest(tmp_path)

    check = check_dataset(tmp_path)

    assert check == Check("dataset", Status.PASS, f"{tmp_path}: bicycle, motorcycle, 2 training images")


def test_a_missing_or_synthetic_dataset_fails_with_make_data(tmp_path):
    missing = check_dataset(tmp_path)
    write_manifest(tmp_path)
    synthetic = check_dataset(tmp_path)

    assert (missing.status, synthetic.status) == (Status.FAIL, Status.FAIL)
    assert "manifest.json is missing" in missing.detail
    assert synthetic.detail == f"{tmp_path} holds a generated (synthetic) dataset, not CIFAR-100"
    assert missing.fix == "make data"
    assert synthetic.fix.startswith("make data")


# --- the table ---


def test_the_table_aligns_its_columns_and_puts_each_fix_under_its_row():
    table = render_checks(
        [
            Check("credentials", Status.PASS, "arn:aws:iam::1:user/me (account 1)"),
            Check("training quota", Status.FAIL, "'ml.g4dn.xlarge for training job usage' is 0", "request 1"),
            Check("bucket name", Status.WARN, "HeadBucket answered 400", "check the name by hand\nor rename"),
        ]
    )

    assert table.splitlines() == [
        "check           status  detail",
        "credentials     pass    arn:aws:iam::1:user/me (account 1)",
        "training quota  fail    'ml.g4dn.xlarge for training job usage' is 0",
        "                        fix: request 1",
        "bucket name     warn    HeadBucket answered 400",
        "                        fix: check the name by hand",
        "                             or rename",
        "3 checks: 1 pass, 1 warn, 1 fail: fix the failing checks, then deploy",
    ]


def test_the_retained_bucket_fix_deletes_a_versioned_bucket_that_aws_s3_rb_force_cannot(executing_aws, stub):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=BUCKET, Key="dataset/train.lst", Body=body)
    s3.delete_object(Bucket=BUCKET, Key="dataset/train.lst")  # leaves two versions and a delete marker
    stubbed_s3, stubber = stub("s3")
    cloudformation, cfn_stubber = stub("cloudformation")
    stubber.add_response("head_bucket", {}, {"Bucket": BUCKET})
    cfn_stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id X does not exist", 400)
    fix = check_bucket(stubbed_s3, cloudformation, bucket=BUCKET, storage_stack="SconesVision-Storage").fix

    command = fix.splitlines()[1]
    assert command.startswith('.venv/bin/python -c "') and command.endswith('"')
    exec(command.removeprefix('.venv/bin/python -c "').removesuffix('"'))

    assert BUCKET not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
