import pytest

from ops.errors import OpsError
from ops.session import Deployment, aws_session
from tests.ops.builders import stack_description

VARIABLES = ("AWS_REGION", "AMAZON_REGION", "AWS_DEFAULT_REGION", "AMAZON_DEFAULT_REGION", "AWS_PROFILE")


@pytest.fixture
def aws_files(no_aws_credentials, tmp_path, monkeypatch):
    """An AWS config whose default profile is in eu-north-1 and profile `other` in ap-south-1."""
    config = tmp_path / "config"
    config.write_text(
        "[default]\nregion = eu-north-1\n[profile other]\nregion = ap-south-1\n[profile bare]\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


# The CDK CLI's order: --region, AWS_REGION, AMAZON_REGION, AWS_DEFAULT_REGION, AMAZON_DEFAULT_REGION, the profile's
# region (--profile, else AWS_PROFILE, else default), else us-east-1.
@pytest.mark.parametrize(
    ("flags", "environment", "region"),
    [
        ({"region": "sa-east-1"}, {"AWS_REGION": "eu-west-1"}, "sa-east-1"),
        (
            {},
            {"AWS_REGION": "eu-west-1", "AMAZON_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"},
            "eu-west-1",
        ),
        ({}, {"AMAZON_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"}, "eu-west-2"),
        ({}, {"AWS_DEFAULT_REGION": "eu-west-3", "AMAZON_DEFAULT_REGION": "eu-south-1"}, "eu-west-3"),
        ({}, {"AMAZON_DEFAULT_REGION": "eu-south-1"}, "eu-south-1"),
        ({"profile": "other"}, {"AWS_PROFILE": "default"}, "ap-south-1"),
        ({}, {"AWS_PROFILE": "other"}, "ap-south-1"),
        ({}, {}, "eu-north-1"),
        ({"profile": "bare"}, {}, "us-east-1"),
    ],
)
def test_the_region_follows_the_cdk_cli(aws_files, monkeypatch, flags, environment, region):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    session = aws_session(**flags)

    assert session.region_name == region
    assert session.profile_name == flags.get("profile", environment.get("AWS_PROFILE", "default"))


def test_outputs_come_from_describe_stacks_once_per_stack(stubbed_sessions):
    stubbed = stubbed_sessions(["cloudformation"])
    outputs = {"StateMachineArn": "arn:sm", "ConfidenceThreshold": "0.9"}
    stubbed["cloudformation"].add_response(
        "describe_stacks", stack_description("App-Workflow", outputs), {"StackName": "App-Workflow"}
    )
    deployment = Deployment(aws_session(), "App")

    assert deployment.output("Workflow", "StateMachineArn") == "arn:sm"
    assert deployment.output("Workflow", "ConfidenceThreshold") == "0.9"
    with pytest.raises(OpsError, match=r"'App-Workflow' has no output 'X' \(its outputs: Confid"):
        deployment.output("Workflow", "X")


def test_a_missing_stack_names_its_region_and_what_to_do(stubbed_sessions):
    stubbed = stubbed_sessions(["cloudformation"])
    message = "Stack with id App-Storage does not exist"
    stubbed["cloudformation"].add_client_error("describe_stacks", "ValidationError", message, 400)
    stubbed["cloudformation"].add_client_error("describe_stacks", "AccessDenied", "no", 403)

    with pytest.raises(
        OpsError, match="no stack 'App-Storage' in region us-east-1: deploy with `make deploy`"
    ):
        Deployment(aws_session(), "App").output("Storage", "BucketName")
    with pytest.raises(Exception, match="AccessDenied"):
        Deployment(aws_session(), "App").output("Storage", "BucketName")
