import json
import uuid

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tests.cloud_assembly import write_cloud_assembly
from tests.ops.builders import WORKFLOW_DEFINITION

REGION = "us-east-1"


@pytest.fixture
def aws_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def executing_aws(aws_credentials):
    """moto with its Step Functions interpreter on: executions really run their definition."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield


def unique(name: str) -> str:
    # Another folder's session-wide moto mock may still be active, and a nested mock_aws does not reset
    # state: names unique to the test keep each test's resources its own.
    return f"{name}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3(executing_aws):
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3):
    name = unique("scones-test")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def sfn(executing_aws):
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def workflow_arn(sfn):
    return sfn.create_state_machine(
        name=unique("scones-workflow"),
        definition=json.dumps(WORKFLOW_DEFINITION),
        roleArn="arn:aws:iam::123456789012:role/workflow",
    )["stateMachineArn"]


# The services `python -m ops preflight` reads; a test adds each call's response to its Stubber in order.
PREFLIGHT_SERVICES = ("sts", "ssm", "service-quotas", "s3", "cloudformation")


@pytest.fixture
def stub(aws_credentials):
    """A stubbed client of one service; every queued response must have been used by the end of the test."""
    stubbers = []

    def make(service):
        client = boto3.client(service, region_name=REGION)
        stubber = Stubber(client)
        stubber.activate()
        stubbers.append(stubber)
        return client, stubber

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


@pytest.fixture
def stubbed_sessions(stub, monkeypatch):
    """Every boto3 session hands out one stubbed client per service named (returned: service -> Stubber) and the
    `unstubbed` clients as they are; asking for any other service is a KeyError."""

    def hand_out(services, *, unstubbed=None) -> dict[str, Stubber]:
        clients = dict(unstubbed or {})
        stubbers = {}
        for service in services:
            clients[service], stubbers[service] = stub(service)
        monkeypatch.setattr(
            boto3.Session, "client", lambda session, service, *args, **kwargs: clients[service]
        )
        return stubbers

    return hand_out


@pytest.fixture
def stubbed_aws(stubbed_sessions):
    """Every boto3 session's client for the preflight's services is one stubbed client: service -> Stubber."""
    return stubbed_sessions(PREFLIGHT_SERVICES)


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """An environment where botocore finds no credentials at all (and never asks an instance metadata service)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


def lambda_function(memory_mb=None) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {} if memory_mb is None else {"MemorySize": memory_mb},
    }


def state_machine(definition: dict, machine_type: str | None = None) -> dict:
    """A state machine whose definition refers to its Lambdas as CDK writes it: Fn::Join around Fn::GetAtt."""
    text = json.dumps(definition)
    parts: list = []
    for piece in text.split('"{arn:'):
        if parts:
            logical_id, rest = piece.split('}"', 1)
            parts += ['"', {"Fn::GetAtt": [logical_id, "Arn"]}, '"' + rest]
        else:
            parts.append(piece)
    properties = {"DefinitionString": {"Fn::Join": ["", parts]}}
    if machine_type:
        properties["StateMachineType"] = machine_type
    return {"Type": "AWS::StepFunctions::StateMachine", "Properties": properties}


def task(function: str, next_state: str | None = None) -> dict:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"{{arn:{function}}}"},
    }
    return state | ({"Next": next_state} if next_state else {"End": True})


# A Workflow stack as the app lays it out, small enough to price by hand: a two-Lambda chain (512 and 128 MB), a
# batch of 5 images a child with a 1024 MB summary Lambda, a two-state transform.
SMALL_WORKFLOW = {
    "Resources": {
        "First": lambda_function(512),
        "Second": lambda_function(),
        "Summary": lambda_function(1024),
        "Single": state_machine(
            {
                "StartAt": "A",
                "States": {
                    "A": task("First", "B"),
                    "B": task("Second", "Done"),
                    "Done": {"Type": "Succeed"},
                    "Rejected": {"Type": "Fail"},
                },
            }
        ),
        "Batch": state_machine(
            {
                "StartAt": "Map",
                "States": {
                    "Map": {
                        "Type": "Map",
                        "ItemBatcher": {"MaxItemsPerBatch": 5},
                        "ItemProcessor": {
                            "StartAt": "A",
                            "States": {"A": task("First", "B"), "B": task("Second")},
                        },
                        "Next": "Sum",
                    },
                    "Sum": task("Summary"),
                    "Failed": {"Type": "Fail"},
                },
            }
        ),
        "Transform": state_machine(
            {"StartAt": "Job", "States": {"Job": {"Type": "Pass", "Next": "End"}, "End": {"Type": "Succeed"}}}
        ),
    },
    "Outputs": {
        "StateMachineArn": {"Value": {"Ref": "Single"}},
        "BatchStateMachineArn": {"Value": {"Ref": "Batch"}},
        "TransformStateMachineArn": {"Value": {"Ref": "Transform"}},
    },
}
# The Model stack's algorithm image mapping, found by its shape (ops.assembly.algorithm_image_regions).
SMALL_MODEL = {"Mappings": {"Registry": {r: {"ImageUri": f"img.{r}"} for r in ("eu-west-1", "us-east-1")}}}


@pytest.fixture
def cdk_out(tmp_path):
    """A cloud assembly of the two stacks ops reads, needing bootstrap version 6."""
    folder = tmp_path / "cdk.out"
    folder.mkdir()
    write_cloud_assembly(folder, {"SconesVision-Workflow": SMALL_WORKFLOW, "SconesVision-Model": SMALL_MODEL})
    manifest = json.loads((folder / "manifest.json").read_text())
    for artifact in manifest["artifacts"].values():
        artifact["properties"] |= {
            "requiresBootstrapStackVersion": 6,
            "bootstrapStackVersionSsmParameter": BOOTSTRAP_PARAMETER,
        }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
