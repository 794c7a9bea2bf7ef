"""`python -m ops models`: versions registered by the registry's own handler in moto, the served one read from the
live endpoint; an endpoint mid-update through Stubber (moto's endpoints are always InService)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from ops import models
from ops.cli import main
from stacks.names import MODEL, model_package_group_name, stack_name
from tests.lambda_handlers import load_handler_module
from tests.ops.conftest import REGION, unique

IMAGE = "685385470294.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
ROLE = "arn:aws:iam::123456789012:role/serving"


@pytest.fixture
def registry(aws_credentials):
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def register(sagemaker, group, job, accuracy):
    """A version as the deploy registers it: through lambda_src/model_registry's handler."""
    handler = load_handler_module("model_registry")
    properties = {
        "GroupName": group,
        "TrainingJobName": job,
        "ModelDataUrl": f"s3://bucket/model-artifacts/{job}/output/model.tar.gz",
        "ValidationAccuracy": accuracy,
        "DatasetContentHash": "cd" * 32,
        "Hyperparameters": {"epochs": "30"},
        "Image": IMAGE,
    }
    return handler.register_version(sagemaker, properties)["ModelPackageArn"]


def serve(sagemaker, project, model_container):
    """The Model stack's endpoint on one model, and its EndpointName output."""
    name = unique("model")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=model_container)
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"EndpointName": {"Value": name}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=stack_name(project, MODEL), TemplateBody=json.dumps(template)
    )
    return name


def test_versions_are_listed_newest_first_with_their_lineage(registry):
    group = unique("group")
    registry.create_model_package_group(ModelPackageGroupName=group)
    register(registry, group, "job-a", "0.81")
    register(registry, group, "job-b", "0.86")
    versions = models.list_versions(registry, group)
    assert [(v.number, v.job, v.accuracy, v.status, v.dataset_hash) for v in versions] == [
        (2, "job-b", "0.86", "Approved", "cd" * 6),
        (1, "job-a", "0.81", "Approved", "cd" * 6),
    ]


def test_the_version_the_endpoint_serves_is_marked(registry, capsys):
    project = unique("Proj")
    group = model_package_group_name(project)
    registry.create_model_package_group(ModelPackageGroupName=group)
    first = register(registry, group, "job-a", "0.81")
    register(registry, group, "job-b", "0.86")
    endpoint = serve(registry, project, {"ModelPackageName": first})

    assert main(["models", "--stack-prefix", project]) == 0

    out = capsys.readouterr().out
    rows = {line.split()[1 if line.startswith("*") else 0]: line for line in out.splitlines()[2:4]}
    assert rows["1"].startswith("*") and "job-a" in rows["1"] and "0.81" in rows["1"]
    assert not rows["2"].startswith("*")
    assert f"Endpoint {endpoint} (InService) serves version 1." in out
    # A rolled-back update looks like this: the newest registered version is not the one served.
    assert "The newest, version 2, is not: -c model_version, or an update rolled back." in out


def test_a_brought_artifact_is_said_to_be_unregistered(registry, capsys):
    project = unique("Proj")
    url = "s3://someone/model.tar.gz"
    serve(registry, project, {"Image": IMAGE, "ModelDataUrl": url})

    assert main(["models", "--stack-prefix", project]) == 0

    out = capsys.readouterr().out
    assert "none registered yet" in out
    assert f"serves a brought artifact, not a registered version ({url})" in out


def test_without_a_deployed_model_stack_the_versions_still_list_and_the_exit_is_1(registry, capsys):
    project = unique("Proj")
    group = model_package_group_name(project)
    registry.create_model_package_group(ModelPackageGroupName=group)
    register(registry, group, "job-a", "0.81")

    assert main(["models", "--stack-prefix", project]) == 1

    out = capsys.readouterr().out
    assert "job-a" in out and f"Endpoint: unknown (no stack '{project}-Model' in region {REGION}" in out


ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/sconesvision-vehicles/{}"


def described_model(sagemaker_stub, config, version):
    sagemaker_stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": config,
            "EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/{config}",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": f"model-{version}"}],
            "CreationTime": datetime(2026, 12, 4, tzinfo=UTC),
        },
        {"EndpointConfigName": config},
    )
    sagemaker_stub.add_response(
        "describe_model",
        {
            "ModelName": f"model-{version}",
            "PrimaryContainer": {"ModelPackageName": ARN.format(version)},
            "ExecutionRoleArn": ROLE,
            "CreationTime": datetime(2026, 12, 4, tzinfo=UTC),
            "ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/model-{version}",
        },
        {"ModelName": f"model-{version}"},
    )


@pytest.mark.parametrize("status", ["Updating", "RollingBack"])
def test_an_endpoint_mid_update_says_so_and_what_it_serves_meanwhile(stub, status):
    sagemaker, stubber = stub("sagemaker")
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": "endpoint",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/endpoint",
            "EndpointConfigName": "config-3",
            "EndpointStatus": status,
            "CreationTime": datetime(2026, 12, 4, tzinfo=UTC),
            "LastModifiedTime": datetime(2026, 12, 4, tzinfo=UTC),
            "PendingDeploymentSummary": {"EndpointConfigName": "config-4"},
        },
        {"EndpointName": "endpoint"},
    )
    described_model(stubber, "config-3", 3)
    described_model(stubber, "config-4", 4)
    serving = models.served(sagemaker, "endpoint")
    versions = [
        models.Version(
            n, ARN.format(n), "Approved", "0.8", f"job-{n}", "ab", datetime(2026, 12, n, tzinfo=UTC)
        )
        for n in (4, 3)
    ]
    text = models.render("sconesvision-vehicles", versions, serving)
    assert (
        f"Endpoint endpoint ({status}) serves version 3. It is mid-update to version 4: run this again"
        in text
    )
    assert [line.startswith("*") for line in text.splitlines()[2:4]] == [False, True]
