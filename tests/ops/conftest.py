import json
import uuid

import boto3
import pytest
from moto import mock_aws

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
