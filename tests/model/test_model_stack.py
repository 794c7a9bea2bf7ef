"""The model stack's template: training resource, serving chain with data capture, IAM scopes, registry mapping,
and cdk-nag / cfn-lint cleanliness. Synthesized once per session (tests/model/conftest.py)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from stacks.constructs.algorithm_image import algorithm_registry
from tests.cdk.helpers import CDK_JSON_TRAINING_HYPERPARAMETERS
from tests.model.conftest import BROUGHT_MODEL_URL, LOCAL_STORAGE_INSTANCE_TYPE


def statements(template: dict) -> list[dict]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def role_statements(template: dict, description_start: str) -> list[dict]:
    role_ids = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        and resource["Properties"].get("Description", "").startswith(description_start)
    ]
    assert len(role_ids) == 1, f"expected one role described {description_start!r}, found {role_ids}"
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_ids[0]} in resource["Properties"]["Roles"]:
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def flat(value) -> str:
    return json.dumps(value, sort_keys=True)


def actions(statement: dict) -> str:
    listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return " ".join(sorted(listed))


def test_training_resource_carries_the_manifest_derived_hyperparameters(trained):
    template = Template.from_json(trained.template)
    hyperparameters = Capture()
    template.has_resource(
        "Custom::SageMakerTrainingJob",
        {
            "Properties": Match.object_like(
                {
                    "Hyperparameters": hyperparameters,
                    "InstanceType": "ml.g4dn.xlarge",
                    "UseSpotTraining": "false",
                    "MaxRuntimeSeconds": "2400",
                    "ServiceTimeout": "3600",
                    "TrainingImage": {
                        "Fn::FindInMap": [Match.any_value(), {"Ref": "AWS::Region"}, "ImageUri"]
                    },
                }
            ),
            "DependsOn": Match.array_with([Match.string_like_regexp("DatasetTrainChannelCustomResource")]),
        },
    )
    # Six training images of two classes in the fixture dataset; the rest is cdk.json's set.
    assert hyperparameters.as_object() == {
        **CDK_JSON_TRAINING_HYPERPARAMETERS,
        "num_classes": "2",
        "num_training_samples": "6",
    }


def test_channels_are_the_four_dataset_prefixes(trained):
    channels = next(
        r["Properties"]["Channels"]
        for r in trained.template["Resources"].values()
        if r["Type"] == "Custom::SageMakerTrainingJob"
    )
    assert sorted(channels) == ["train", "train_lst", "validation", "validation_lst"]
    for name, uri in channels.items():
        assert flat(uri).endswith(f'"/dataset/{name}/"]]}}'), uri


def test_provider_waits_within_cloudformations_hour(trained):
    template = Template.from_json(trained.template)
    # The waiter retries is_complete every 60 s, 55 times: 55 minutes.
    definition = Capture()
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"DefinitionString": definition})
    text = flat(definition.as_object())
    assert '\\"IntervalSeconds\\":60' in text and '\\"MaxAttempts\\":55' in text


def test_handler_functions_use_the_newest_python_on_arm_with_log_retention(trained):
    template = Template.from_json(trained.template)
    for handler in ("app.on_event", "app.is_complete"):
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": handler,
                "Runtime": "python3.14",
                "Architectures": ["arm64"],
                "LoggingConfig": Match.any_value(),
            },
        )
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    template.all_resources("AWS::Logs::LogGroup", {"DeletionPolicy": "Delete"})


def test_endpoint_config_captures_input_and_output_encrypted(trained):
    template = Template.from_json(trained.template)
    key = Capture()
    template.has_resource_properties(
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
    assert trained.template["Resources"][key.as_string()]["Properties"]["EnableKeyRotation"] is True


def test_local_storage_instance_gets_no_volume_key_but_keeps_encrypted_capture(local_storage_endpoint):
    template = Template.from_json(local_storage_endpoint.template)
    (config,) = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    # CreateEndpointConfig refuses a KmsKeyId for instance types with local NVMe storage.
    assert "KmsKeyId" not in config["Properties"]
    assert config["Properties"]["ProductionVariants"][0]["InstanceType"] == LOCAL_STORAGE_INSTANCE_TYPE
    key = config["Properties"]["DataCaptureConfig"]["KmsKeyId"]["Fn::GetAtt"][0]
    assert local_storage_endpoint.template["Resources"][key]["Type"] == "AWS::KMS::Key"
    assert "local storage" in local_storage_endpoint.template["Resources"][key]["Properties"]["Description"]


def test_model_config_endpoint_are_chained_by_generated_names(trained):
    template = Template.from_json(trained.template)
    model_id, config_id = Capture(), Capture()
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"ProductionVariants": [Match.object_like({"ModelName": {"Fn::GetAtt": [model_id, "ModelName"]}})]},
    )
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint", {"EndpointConfigName": {"Fn::GetAtt": [config_id, "EndpointConfigName"]}}
    )
    assert trained.template["Resources"][model_id.as_string()]["Type"] == "AWS::SageMaker::Model"
    # No literal names: CloudFormation generates them, so a changed model or config can be replaced.
    for sagemaker_type, name_property in (
        ("AWS::SageMaker::Model", "ModelName"),
        ("AWS::SageMaker::EndpointConfig", "EndpointConfigName"),
        ("AWS::SageMaker::Endpoint", "EndpointName"),
    ):
        for resource in template.find_resources(sagemaker_type).values():
            assert name_property not in resource["Properties"]
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "ModelDataUrl": {"Fn::GetAtt": [Match.any_value(), "ModelArtifactUrl"]},
                "Image": Match.any_value(),
            }
        },
    )


def test_endpoint_ref_points_at_the_endpoint(trained):
    stack = trained.stack
    assert stack.resolve(stack.endpoint.arn)["Ref"].startswith("ServingEndpoint")
    assert stack.resolve(stack.endpoint.name)["Fn::GetAtt"][1] == "EndpointName"


def test_mapping_covers_every_region_the_sdk_lists(trained):
    (mapping,) = trained.template["Mappings"].values()
    assert mapping == algorithm_registry()
    assert len(mapping) >= 30
    assert mapping["us-east-1"] == {
        "ImageUri": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
        "Account": "811284229777",
    }
    assert mapping["cn-north-1"]["ImageUri"].startswith("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/")


def test_no_policy_grants_every_bucket_or_everything_on_s3(trained, brought):
    for template in (trained.template, brought.template):
        for statement in statements(template):
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                assert "arn:aws:s3:::*" not in flat(resource) and ":s3:::*" not in flat(resource), statement
                if resource == "*":
                    assert statement["Action"] in ("ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"), (
                        statement
                    )


def test_training_role_is_scoped_to_prefixes_and_the_algorithm_repository(trained):
    granted = {actions(s): s for s in role_statements(trained.template, "SageMaker training job")}
    assert flat(granted["s3:GetObject"]["Resource"]).endswith('"/dataset/*"]]}')
    assert granted["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["dataset/*"]}}
    assert flat(granted["s3:AbortMultipartUpload s3:PutObject"]["Resource"]).endswith(
        '"/model-artifacts/*"]]}'
    )
    ecr = granted["ecr:BatchCheckLayerAvailability ecr:BatchGetImage ecr:GetDownloadUrlForLayer"]
    assert ":repository/image-classification" in flat(ecr["Resource"])
    assert '"Account"' in flat(ecr["Resource"])  # the registry account comes from the mapping
    assert granted["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    }


def test_handler_may_pass_only_the_training_role_and_only_to_sagemaker(trained):
    granted = role_statements(trained.template, "Training-job custom resource handlers")
    (pass_role,) = [s for s in granted if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role["Resource"]["Fn::GetAtt"][0].startswith("TrainingExecutionRole")
    (jobs,) = [s for s in granted if "sagemaker:CreateTrainingJob" in s["Action"]]
    assert flat(jobs["Resource"]).endswith(':training-job/sconesvision-*"]]}')


def test_serving_role_reads_exactly_the_trained_artifact(trained):
    granted = role_statements(trained.template, "SageMaker model and endpoint")
    (read,) = [s for s in granted if s["Action"] == "s3:GetObject"]
    assert '"ModelArtifactKey"' in flat(read["Resource"])
    (capture,) = [s for s in granted if s["Action"] == "s3:PutObject"]
    assert flat(capture["Resource"]).endswith('"/data_capture/*"]]}')
    assert any(actions(s) == "kms:Encrypt kms:GenerateDataKey" for s in granted)


def test_brought_model_skips_training_and_reads_only_that_object(brought):
    template = Template.from_json(brought.template)
    template.resource_count_is("Custom::SageMakerTrainingJob", 0)
    template.resource_count_is("AWS::StepFunctions::StateMachine", 0)
    template.has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": Match.object_like({"ModelDataUrl": BROUGHT_MODEL_URL})}
    )
    granted = role_statements(brought.template, "SageMaker model and endpoint")
    (read,) = [s for s in granted if s["Action"] == "s3:GetObject"]
    assert flat(read["Resource"]) == flat(
        {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":s3:::someone-elses-models/classifiers/v3/model.tar.gz"],
            ]
        }
    )
    assert brought.stack.model_data_url == BROUGHT_MODEL_URL


def test_dataset_is_uploaded_to_the_four_channels(trained):
    template = Template.from_json(trained.template)
    for prefix in ("dataset/train/", "dataset/validation/", "dataset/train_lst/", "dataset/validation_lst/"):
        template.has_resource_properties(
            "Custom::CDKBucketDeployment", {"DestinationBucketKeyPrefix": prefix, "Prune": True}
        )
    template.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketKeyPrefix": "dataset/train/",
            "SystemMetadata": {"content-type": "application/x-image"},
        },
    )
    template.has_output("DatasetSource", {"Value": Match.string_like_regexp("^prepared dataset: 2 classes")})


MODEL_VARIANTS = ["trained", "brought", "local_storage_endpoint", "autoscaled", "serverless", "uncaptured"]


@pytest.mark.parametrize("model", MODEL_VARIANTS)
def test_cdk_nag_finds_nothing(model, request):
    stack = request.getfixturevalue(model).stack
    # After synthesis: wildcard acknowledgments are computed once cross-stack references are resolved.
    report = AwsSolutionsChecks().validate_scope(stack)
    findings = [
        f"{violation.rule_name}: {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert report.success, "cdk-nag findings:\n" + "\n".join(findings)


@pytest.mark.parametrize("model", MODEL_VARIANTS)
def test_cfn_lint_finds_nothing(model, request):
    template = json.dumps(request.getfixturevalue(model).template)
    # W3005: CDK itself adds DependsOn on a Lambda's role next to a GetAtt of it; harmless and not ours to change.
    matches = lint(template, regions=["us-east-1"], config=ManualArgs(ignore_checks=["W3005"]))
    assert not matches, "\n".join(str(match) for match in matches)
