"""Serving that follows demand: an autoscaled real-time variant, a serverless variant, and capture turned off.

Each variant's model stack is synthesized once per session (tests/model/conftest.py); test_model_stack.py runs
cdk-nag and cfn-lint over every variant.
"""

from __future__ import annotations

import json

from aws_cdk.assertions import Capture, Template

from stacks.constructs.endpoint_scaling import SERVICE_LINKED_ROLE
from tests.model.test_model_stack import role_statements

SERVING_ROLE = "SageMaker model and endpoint"


def the_endpoint_config(template: dict) -> dict:
    (config,) = Template.from_json(template).find_resources("AWS::SageMaker::EndpointConfig").values()
    return config["Properties"]


def test_variant_is_registered_with_application_auto_scaling(autoscaled):
    template = Template.from_json(autoscaled.template)
    endpoint = Capture()
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 1)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "ResourceId": {
                "Fn::Join": [
                    "",
                    ["endpoint/", {"Fn::GetAtt": [endpoint, "EndpointName"]}, "/variant/AllTraffic"],
                ]
            },
            "MinCapacity": 1,
            "MaxCapacity": 4,
        },
    )
    # The name token is the dependency: the target is created after the endpoint and deleted before it.
    assert autoscaled.template["Resources"][endpoint.as_string()]["Type"] == "AWS::SageMaker::Endpoint"
    # The variant starts at endpoint_instance_count, inside the range.
    assert the_endpoint_config(autoscaled.template)["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_target_tracking_policy_holds_invocations_per_instance(autoscaled):
    template = Template.from_json(autoscaled.template)
    target = Capture()
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 1)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target},
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "TargetValue": 120,
            },
        },
    )
    assert (
        autoscaled.template["Resources"][target.as_string()]["Type"]
        == "AWS::ApplicationAutoScaling::ScalableTarget"
    )


def test_scaling_acts_through_the_service_linked_role_not_a_role_of_ours(autoscaled, trained):
    (target,) = (
        Template.from_json(autoscaled.template)
        .find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
        .values()
    )
    role_arn = json.dumps(target["Properties"]["RoleARN"])
    assert role_arn.endswith(f':role/{SERVICE_LINKED_ROLE}"]]}}'), role_arn
    assert '{"Ref": "AWS::AccountId"}' in role_arn
    # Autoscaling adds no IAM role: the same roles as the fixed-size endpoint.
    roles = [
        Template.from_json(model.template).find_resources("AWS::IAM::Role") for model in (autoscaled, trained)
    ]
    assert len(roles[0]) == len(roles[1])
    assert "application-autoscaling" not in json.dumps(roles[0])


def test_a_new_model_keeps_the_scaled_instance_count_but_not_weight_or_capture(autoscaled):
    Template.from_json(autoscaled.template).has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [
                {"VariantPropertyType": "DesiredWeight"},
                {"VariantPropertyType": "DataCaptureConfig"},
            ],
        },
    )


def test_fixed_size_endpoint_has_no_scaling(trained):
    template = Template.from_json(trained.template)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 0)
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    assert "RetainAllVariantProperties" not in endpoint["Properties"]


def test_serverless_variant_has_serverless_config_and_no_instances(serverless):
    config = the_endpoint_config(serverless.template)
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 7}
    assert variant["VariantName"] == "AllTraffic"
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    # No capture (SageMaker has none for serverless) and no volume of ours to encrypt.
    assert "DataCaptureConfig" not in config
    assert "KmsKeyId" not in config


def test_switching_to_serverless_replaces_the_endpoint_instead_of_updating_it(serverless, trained):
    # SageMaker refuses an update from real-time to serverless: a new logical id makes CloudFormation replace it.
    (realtime_id,) = Template.from_json(trained.template).find_resources("AWS::SageMaker::Endpoint")
    (serverless_id,) = Template.from_json(serverless.template).find_resources("AWS::SageMaker::Endpoint")
    assert realtime_id != serverless_id
    # The workflow follows the new endpoint through the reference, whatever its id.
    assert serverless.stack.resolve(serverless.stack.endpoint.name) == {
        "Fn::GetAtt": [serverless_id, "EndpointName"]
    }


def test_serverless_without_capture_needs_no_key_and_no_capture_grants(serverless):
    template = Template.from_json(serverless.template)
    # The key only ever encrypted captured data and the instances' volume: with neither, it is gone.
    template.resource_count_is("AWS::KMS::Key", 0)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    granted = role_statements(serverless.template, SERVING_ROLE)
    assert not [s for s in granted if "s3:PutObject" in json.dumps(s["Action"])]
    assert not [s for s in granted if "kms:" in json.dumps(s["Action"])]
    assert [s for s in granted if s["Action"] == "s3:GetObject"]


def test_realtime_without_capture_keeps_the_volume_key_but_writes_nothing(uncaptured):
    config = the_endpoint_config(uncaptured.template)
    assert "DataCaptureConfig" not in config
    key = config["KmsKeyId"]["Fn::GetAtt"][0]
    assert uncaptured.template["Resources"][key]["Properties"]["Description"] == (
        "Encrypts the endpoint's ML storage volume (data capture is off)"
    )
    granted = role_statements(uncaptured.template, SERVING_ROLE)
    assert not [s for s in granted if "s3:PutObject" in json.dumps(s["Action"])]
    (kms,) = [s for s in granted if "kms:" in json.dumps(s["Action"])]
    assert kms["Action"] == ["kms:Encrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == {"Fn::GetAtt": [key, "Arn"]}
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
