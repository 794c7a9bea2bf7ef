"""`python -m ops models` as a user runs it after a deploy and a rollback: a subprocess with only AWS_REGION set,
against moto on 127.0.0.1 holding two registered versions (in eu-west-1, found through AWS_REGION alone) and the
endpoint serving the older one."""

from __future__ import annotations

import json
import subprocess
import sys

from stacks.names import MODEL, model_package_group_name, stack_name
from tests.journey.test_operations import ROOT, user_environment
from tests.lambda_handlers import load_handler_module

PROJECT = "Rollback"
IMAGE = "685385470294.dkr.ecr.eu-west-1.amazonaws.com/image-classification:1"


def test_models_marks_the_version_the_endpoint_really_serves(aws, moto_server, tmp_path):
    sagemaker, group = aws("sagemaker"), model_package_group_name(PROJECT)
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    handler = load_handler_module("model_registry")
    arns = [
        handler.register_version(
            sagemaker,
            {
                "GroupName": group,
                "TrainingJobName": job,
                "ModelDataUrl": f"s3://bucket/model-artifacts/{job}/output/model.tar.gz",
                "ValidationAccuracy": accuracy,
                "DatasetContentHash": "ef" * 32,
                "Hyperparameters": {"epochs": "30"},
                "Image": IMAGE,
            },
        )["ModelPackageArn"]
        for job, accuracy in (("rollback-job-1", "0.82"), ("rollback-job-2", "0.88"))
    ]
    # The update to version 2 rolled back: the endpoint runs version 1.
    sagemaker.create_model(
        ModelName="rollback-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/serving",
        PrimaryContainer={"ModelPackageName": arns[0]},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "rollback-model", "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="rollback-config", ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sagemaker.create_endpoint(EndpointName="rollback-endpoint", EndpointConfigName="rollback-config")
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"EndpointName": {"Value": "rollback-endpoint"}},
    }
    aws("cloudformation").create_stack(
        StackName=stack_name(PROJECT, MODEL), TemplateBody=json.dumps(template)
    )

    env = user_environment(tmp_path, moto_server.endpoint_url, "AWS_REGION") | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "ops", "models", "--stack-prefix", PROJECT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Model versions in {group} (* the endpoint serves it now):"
    assert lines[2].split()[:4] == ["2", "Approved", "0.88", "rollback-job-2"]
    assert lines[3].split()[:5] == ["*", "1", "Approved", "0.82", "rollback-job-1"]
    assert lines[4].startswith(
        "Endpoint rollback-endpoint (InService) serves version 1. The newest, version 2"
    )
