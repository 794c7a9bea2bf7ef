"""The model stack's intent on the default app: the training resource, the serving chain with encrypted capture, and
the scope of every role. Its variants are in tests/cdk/test_option_variants.py."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template

from stacks import names
from stacks.constructs.algorithm_image import algorithm_registry
from tests.cdk.helpers import (
    CDK_JSON_TRAINING_HYPERPARAMETERS,
    as_list,
    policy_statements_of_role,
    resources_of_type,
)


@pytest.fixture(scope="module")
def model(synthesized_app) -> dict:
    return synthesized_app.template(names.MODEL)


def flat(value) -> str:
    return json.dumps(value, sort_keys=True)


def by_actions(template: dict, role_path: str) -> dict[str, dict]:
    return {" ".join(sorted(as_list(s["Action"]))): s for s in policy_statements_of_role(template, role_path)}


def test_training_resource_carries_the_settings_and_the_manifest_derived_hyperparameters(model):
    hyperparameters = Capture()
    Template.from_json(model).has_resource(
        "Custom::SageMakerTrainingJob",
        {
            "Properties": Match.object_like(
                {
                    "Hyperparameters": hyperparameters,
                    "InstanceType": "ml.g4dn.xlarge",
                    "UseSpotTraining": "false",
                    "MaxRuntimeSeconds": "2400",
                    "ServiceTimeout": "3600",
                    "DatasetSynthetic": "true",
                    "TrainingImage": {
                        "Fn::FindInMap": [Match.any_value(), {"Ref": "AWS::Region"}, "ImageUri"]
                    },
                }
            ),
            # The data is uploaded before the job starts.
            "DependsOn": Match.array_with([Match.string_like_regexp("DatasetTrainChannelCustomResource")]),
        },
    )
    # The demo dataset's two classes and 40 training images; the rest is cdk.json's set.
    expected = {**CDK_JSON_TRAINING_HYPERPARAMETERS, "num_classes": "2", "num_training_samples": "40"}
    assert hyperparameters.as_object() == expected


def test_channels_are_the_four_dataset_prefixes(model):
    (job,) = resources_of_type(model, "Custom::SageMakerTrainingJob").values()
    channels = job["Properties"]["Channels"]
    assert sorted(channels) == ["train", "train_lst", "validation", "validation_lst"]
    for name, uri in channels.items():
        assert flat(uri).endswith(f'"/dataset/{name}/"]]}}'), uri
    for prefix in ("dataset/train/", "dataset/validation/", "dataset/train_lst/", "dataset/validation_lst/"):
        Template.from_json(model).has_resource_properties(
            "Custom::CDKBucketDeployment", {"DestinationBucketKeyPrefix": prefix, "Prune": True}
        )


def test_provider_waits_within_cloudformations_hour(model):
    # The waiter retries is_complete every 60 s, 55 times: 55 minutes.
    (waiter,) = resources_of_type(model, "AWS::StepFunctions::StateMachine").values()
    text = flat(waiter["Properties"]["DefinitionString"])
    assert '\\"IntervalSeconds\\":60' in text and '\\"MaxAttempts\\":55' in text


def test_handlers_log_json_into_expiring_groups(model, synthesized_app):
    handlers = {
        f["Properties"]["Handler"]: f["Properties"]
        for f in resources_of_type(model, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") in ("app.on_event", "app.is_complete")
    }
    # The handlers log fields through `extra`; only Lambda's JSON log format prints them.
    assert {name: props["LoggingConfig"]["LogFormat"] for name, props in handlers.items()} == {
        "app.on_event": "JSON",
        "app.is_complete": "JSON",
    }
    assert all(
        props["Runtime"] == "python3.14" and props["Architectures"] == ["arm64"]
        for props in handlers.values()
    )
    for group in resources_of_type(model, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == synthesized_app.config.log_retention_days
        assert group["DeletionPolicy"] == "Delete"


def test_endpoint_config_captures_input_and_output_encrypted_with_a_rotated_key(model):
    key = Capture()
    Template.from_json(model).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]},
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
                "DestinationS3Uri": {"Fn::Join": ["", ["s3://", Match.any_value(), "/data_capture"]]},
                "KmsKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
            },
            "ProductionVariants": [
                Match.object_like(
                    {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1, "VariantName": "AllTraffic"}
                )
            ],
        },
    )
    assert model["Resources"][key.as_string()]["Properties"]["EnableKeyRotation"] is True
    assert not resources_of_type(model, "AWS::ApplicationAutoScaling::ScalableTarget")


def test_model_config_endpoint_are_chained_by_generated_names(model):
    (model_id,) = resources_of_type(model, "AWS::SageMaker::Model")
    ((config_id, config),) = resources_of_type(model, "AWS::SageMaker::EndpointConfig").items()
    (endpoint,) = resources_of_type(model, "AWS::SageMaker::Endpoint").values()
    assert config["Properties"]["ProductionVariants"][0]["ModelName"] == {
        "Fn::GetAtt": [model_id, "ModelName"]
    }
    assert endpoint["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    # No literal names: CloudFormation generates them, so a changed model or config can be replaced. The endpoint's
    # is fixed per mode, for its rollback alarms (tests/cdk/test_deployment_guardrails.py).
    for resource_type, name in (
        ("AWS::SageMaker::Model", "ModelName"),
        ("AWS::SageMaker::EndpointConfig", "EndpointConfigName"),
    ):
        assert all(name not in r["Properties"] for r in resources_of_type(model, resource_type).values())
    assert model["Outputs"][names.MODEL_NAME_OUTPUT]["Value"] == {"Fn::GetAtt": [model_id, "ModelName"]}


def test_mapping_covers_every_region_the_sdk_lists(model):
    (mapping,) = model["Mappings"].values()
    assert mapping == algorithm_registry() and len(mapping) >= 30


def test_no_policy_grants_every_bucket_or_a_star_beyond_what_has_no_resource(model):
    for policy in resources_of_type(model, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for resource in as_list(statement["Resource"]):
                assert ":s3:::*" not in flat(resource), statement
                if resource == "*":
                    assert statement["Action"] in ("ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"), (
                        statement
                    )


def test_training_role_is_scoped_to_prefixes_and_the_algorithm_repository(model):
    granted = by_actions(model, "Training/ExecutionRole")
    assert flat(granted["s3:GetObject"]["Resource"]).endswith('"/dataset/*"]]}')
    assert granted["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["dataset/*"]}}
    assert flat(granted["s3:AbortMultipartUpload s3:PutObject"]["Resource"]).endswith(
        '"/model-artifacts/*"]]}'
    )
    ecr = granted["ecr:BatchCheckLayerAvailability ecr:BatchGetImage ecr:GetDownloadUrlForLayer"]
    assert ":repository/image-classification" in flat(ecr["Resource"]) and '"Account"' in flat(
        ecr["Resource"]
    )
    assert granted["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    }


def test_handler_may_pass_only_the_training_role_and_only_to_sagemaker(model):
    granted = by_actions(model, "Training/HandlerRole")
    pass_role = granted["iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role["Resource"]["Fn::GetAtt"][0].startswith("TrainingExecutionRole")
    jobs = granted["sagemaker:CreateTrainingJob sagemaker:DescribeTrainingJob sagemaker:StopTrainingJob"]
    assert flat(jobs["Resource"]).endswith(':training-job/sconesvision-*"]]}')


def test_serving_role_reads_exactly_the_served_versions_artifact_and_writes_capture(model):
    granted = by_actions(model, "Serving/ExecutionRole")
    artifact = flat(granted["s3:GetObject"]["Resource"])
    assert '["RegistryTrainedVersion' in artifact and '"ModelDataKey"]' in artifact and "*" not in artifact
    assert flat(granted["s3:PutObject"]["Resource"]).endswith('"/data_capture/*"]]}')
    assert "kms:Encrypt kms:GenerateDataKey" in granted
