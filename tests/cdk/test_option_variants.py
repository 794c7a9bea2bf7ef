"""Every option flipped from its default, in three apps synthesized once each (tests/cdk/conftest.py): each is cdk-nag
and cfn-lint clean and does what its options say."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from stacks import names
from stacks.constructs.endpoint_scaling import SERVICE_LINKED_ROLE
from tests.cdk.helpers import as_list, policy_statements_of_role, resources_of_type, state_machine_definition
from tests.cdk.test_cfn_lint import findings_of

# The tests of one variant share its synth; with `--dist loadgroup` they also share a worker.
pytestmark = pytest.mark.xdist_group("option_variants")

BROUGHT_MODEL_URL = "s3://someone-elses-models/classifiers/v3/model.tar.gz"
ALARM_OPTIONS = {
    "alarm_email": "ops@example.com",
    "alarm_unexpected_failures": "3",
    "alarm_endpoint_5xx_errors": "5",
    "alarm_latency_p90_ms": "250",
    "alarm_below_threshold_share": "0.2",
    "alarm_below_threshold_minutes": "30",
    "alarm_idle_hours": "3",
}
VARIANTS = {
    # Real-time, autoscaled from 2 instances (a canary rollout), on an instance type with local NVMe storage (no volume
    # key), capture on.
    "flipped": {
        "project_name": "Scones2",
        "workflow_type": "EXPRESS",
        "removal_policy": "retain",
        "use_spot_training": "true",
        "capture_sampling_percentage": "20",
        "confidence_threshold": "0.8",
        "endpoint_instance_type": "ml.g4dn.xlarge",
        "endpoint_instance_count": "2",
        "autoscaling_enabled": "true",
        "autoscaling_min_instances": "2",
        "autoscaling_max_instances": "3",
        "autoscaling_target_invocations": "150",
        "transform_instance_type": "ml.g4dn.xlarge",
        "transform_instance_count": "3",
        "workflow_input_prefix": "incoming/",
        **ALARM_OPTIONS,
    },
    # Serverless excludes autoscaling and capture; it serves a brought model.
    "serverless": {
        "endpoint_mode": "serverless",
        "data_capture_enabled": "false",
        "serverless_memory_mb": "3072",
        "serverless_max_concurrency": "7",
        "model_data_url": BROUGHT_MODEL_URL,
    },
    # Real-time without capture: the key encrypts only the ML volume; it serves registered version 3 (a rollback).
    # No intake: no rule, no EventBridge.
    "uncaptured": {"data_capture_enabled": "false", "model_version": "3", "intake_prefix": ""},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_is_nag_and_lint_clean(variants, variant, synthesized_app):
    for unit, template in variants(variant).items():
        if template == synthesized_app.template(unit):
            continue  # linted as the default app's (test_cfn_lint.py)
        findings = findings_of(template)
        assert findings == [], f"{unit}: " + "\n".join(f"{m.rule.id} {m.path}: {m.message}" for m in findings)


def the_endpoint_config(template: dict) -> dict:
    (config,) = resources_of_type(template, "AWS::SageMaker::EndpointConfig").values()
    return config["Properties"]


def capture_keys(template: dict) -> dict:
    """The endpoint's key (the alarm topic has its own)."""
    return {
        key_id: key
        for key_id, key in resources_of_type(template, "AWS::KMS::Key").items()
        if "/Serving/CaptureKey/" in key["Metadata"]["aws:cdk:path"]
    }


def test_express_workflow_keeps_full_logging(variants):
    Template.from_json(variants("flipped")["Workflow"]).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"StateMachineType": "EXPRESS", "LoggingConfiguration": Match.object_like({"Level": "ALL"})},
    )


def test_retain_keeps_buckets_their_objects_and_the_capture_key(variants):
    flipped = variants("flipped")
    for bucket in resources_of_type(flipped["Storage"], "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    assert not resources_of_type(flipped["Storage"], "Custom::S3AutoDeleteObjects")
    (key,) = capture_keys(flipped["Model"]).values()
    assert key["DeletionPolicy"] == "Retain"
    # The registry's versions point at the retained artifacts: the group stays too, and is never deleted.
    (group,) = resources_of_type(flipped["Model"], "Custom::ModelPackageGroup").values()
    assert group["DeletionPolicy"] == "Retain"
    granted = " ".join(
        a
        for s in policy_statements_of_role(flipped["Model"], "Registry/HandlerRole")
        for a in as_list(s["Action"])
    )
    assert "Delete" not in granted


def test_spot_sampling_and_threshold_reach_their_resources(variants):
    flipped = variants("flipped")
    (job,) = resources_of_type(flipped["Model"], "Custom::SageMakerTrainingJob").values()
    assert job["Properties"]["UseSpotTraining"] == "true"
    assert the_endpoint_config(flipped["Model"])["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert flipped["Workflow"]["Outputs"][names.CONFIDENCE_THRESHOLD_OUTPUT]["Value"] == "0.8"


def test_local_storage_instance_gets_no_volume_key_but_keeps_encrypted_capture(variants):
    model = variants("flipped")["Model"]
    config = the_endpoint_config(model)
    # CreateEndpointConfig refuses a KmsKeyId for instance types with local NVMe storage.
    assert "KmsKeyId" not in config
    key = config["DataCaptureConfig"]["KmsKeyId"]["Fn::GetAtt"][0]
    assert "local storage" in model["Resources"][key]["Properties"]["Description"]


def test_autoscaling_tracks_invocations_through_the_service_linked_role(variants, synthesized_app):
    model = variants("flipped")["Model"]
    (endpoint_id,) = resources_of_type(model, "AWS::SageMaker::Endpoint")
    (target_id, target), policy = (
        *resources_of_type(model, "AWS::ApplicationAutoScaling::ScalableTarget").items(),
        *resources_of_type(model, "AWS::ApplicationAutoScaling::ScalingPolicy").values(),
    )
    target = target["Properties"]
    assert (target["ServiceNamespace"], target["ScalableDimension"]) == (
        "sagemaker",
        "sagemaker:variant:DesiredInstanceCount",
    )
    # The endpoint's name token orders the target after the endpoint.
    assert target["ResourceId"] == {
        "Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, "/variant/AllTraffic"]]
    }
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 3)
    assert json.dumps(target["RoleARN"]).endswith(f':role/{SERVICE_LINKED_ROLE}"]]}}')
    assert policy["Properties"]["ScalingTargetId"] == {"Ref": target_id}
    assert policy["Properties"]["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "TargetValue": 150,
    }
    assert the_endpoint_config(model)["ProductionVariants"][0]["InitialInstanceCount"] == 2
    # A deploy keeps the scaled count but takes weight and capture from the new config.
    (endpoint,) = resources_of_type(model, "AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["RetainAllVariantProperties"] is True
    assert endpoint["Properties"]["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredWeight"},
        {"VariantPropertyType": "DataCaptureConfig"},
    ]
    # No role of ours: as many roles as the fixed-size endpoint's stack.
    default_roles = resources_of_type(synthesized_app.template("Model"), "AWS::IAM::Role")
    assert len(resources_of_type(model, "AWS::IAM::Role")) == len(default_roles)


def test_transform_runs_its_instances_on_the_input_prefix_only(variants):
    workflow = variants("flipped")["Workflow"]
    definition = state_machine_definition(workflow, names.TRANSFORM_STATE_MACHINE_ARN_OUTPUT)
    assert definition["States"]["TransformImages"]["Parameters"]["TransformResources"] == {
        "InstanceType": "ml.g4dn.xlarge",
        "InstanceCount": 3,
    }
    *_, rule = definition["States"]["CheckPrefix"]["Choices"]
    assert rule == {"Variable": "$.prefix", "StringMatches": "incoming/*", "Next": "NameTransformJob"}
    (policy,) = [p for i, p in resources_of_type(workflow, "AWS::IAM::Policy").items() if "TransformJob" in i]
    reads = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:GetObject"]
    assert [s["Resource"]["Fn::Join"][1][-1] for s in reads] == ["/incoming/*"]


def test_alarm_options_reach_their_alarms_and_the_email_is_subscribed(variants):
    flipped = variants("flipped")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for unit in ("Model", "Monitoring")
        for a in resources_of_type(flipped[unit], "AWS::CloudWatch::Alarm").values()
    }

    def evaluation(name: str) -> tuple:
        alarm = alarms[f"Scones2-{name}"]
        return alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]

    assert evaluation("UnexpectedExecutionFailures") == (3, 1, 1)
    assert evaluation("Model-Endpoint5xxErrors") == (5, 1, 1)
    assert evaluation("Model-ModelLatencyP90") == (250_000, 3, 2)
    assert evaluation("BelowThresholdShare") == (0.2, 6, 6)
    assert evaluation("IdleEndpoint") == (1, 3, 3)
    assert alarms["Scones2-BelowThresholdShare"]["Namespace"] == "Scones2"
    # The one topic lives in the Model stack, so its subscription too.
    (subscription,) = resources_of_type(flipped["Model"], "AWS::SNS::Subscription").values()
    assert not resources_of_type(flipped["Monitoring"], "AWS::SNS::Subscription")
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == (
        "email",
        "ops@example.com",
    )


def test_serverless_endpoint_has_no_instances_capture_or_key(variants, synthesized_app):
    model = variants("serverless")["Model"]
    config = the_endpoint_config(model)
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 7}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    assert "DataCaptureConfig" not in config and "KmsKeyId" not in config
    assert not capture_keys(model)
    granted = policy_statements_of_role(model, "Serving/ExecutionRole")
    assert not [s for s in granted if {"s3:PutObject", "kms:Encrypt"} & set(as_list(s["Action"]))]
    # SageMaker refuses to update real-time to serverless: another logical id makes CloudFormation replace it.
    (serverless_id,) = resources_of_type(model, "AWS::SageMaker::Endpoint")
    assert serverless_id not in resources_of_type(
        synthesized_app.template("Model"), "AWS::SageMaker::Endpoint"
    )


@pytest.mark.parametrize("variant", ["serverless", "flipped"])
def test_the_serializers_payload_bound_follows_the_endpoint_mode(variants, variant):
    # lambda_src/serialize_image/app.py: ENDPOINT_MODE picks the request payload limit an image must fit.
    functions = resources_of_type(variants(variant)["Workflow"], "AWS::Lambda::Function").values()
    modes = [
        f["Properties"].get("Environment", {}).get("Variables", {}).get("ENDPOINT_MODE") for f in functions
    ]
    assert [mode for mode in modes if mode] == [VARIANTS[variant].get("endpoint_mode", "realtime")]


def test_a_brought_model_skips_training_and_is_the_only_object_read(variants):
    model = variants("serverless")["Model"]
    assert not resources_of_type(model, "Custom::SageMakerTrainingJob")
    assert not resources_of_type(model, "AWS::StepFunctions::StateMachine")
    (served,) = resources_of_type(model, "AWS::SageMaker::Model").values()
    assert served["Properties"]["PrimaryContainer"]["ModelDataUrl"] == BROUGHT_MODEL_URL
    (read,) = [
        s for s in policy_statements_of_role(model, "Serving/ExecutionRole") if s["Action"] == "s3:GetObject"
    ]
    assert read["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":s3:::someone-elses-models/classifiers/v3/model.tar.gz"],
        ]
    }


def test_realtime_without_capture_keeps_the_volume_key_but_writes_nothing(variants):
    model = variants("uncaptured")["Model"]
    config = the_endpoint_config(model)
    assert "DataCaptureConfig" not in config
    key = config["KmsKeyId"]["Fn::GetAtt"][0]
    assert model["Resources"][key]["Properties"]["Description"] == (
        "Encrypts the endpoint's ML storage volume (data capture is off)"
    )
    granted = policy_statements_of_role(model, "Serving/ExecutionRole")
    assert not [s for s in granted if "s3:PutObject" in as_list(s["Action"])]
    (kms,) = [s for s in granted if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert (kms["Action"], kms["Resource"]) == (
        ["kms:Encrypt", "kms:GenerateDataKey"],
        {"Fn::GetAtt": [key, "Arn"]},
    )


def test_an_empty_intake_prefix_turns_the_intake_off(variants, synthesized_app):
    uncaptured = variants("uncaptured")
    workflow = uncaptured["Workflow"]

    assert not resources_of_type(workflow, "AWS::Events::Rule")
    assert not resources_of_type(workflow, "AWS::SQS::Queue")
    project = [
        b
        for b in resources_of_type(uncaptured["Storage"], "AWS::S3::Bucket").values()
        if "BucketName" in b["Properties"]
    ]
    assert [b["Properties"].get("NotificationConfiguration") for b in project] == [None]
    serializer_reads = [
        s["Resource"]
        for s in policy_statements_of_role(workflow, "SerializeImage")
        if s["Action"] == "s3:GetObject"
    ]
    prefix = synthesized_app.config.workflow_input_prefix
    assert [read["Fn::Join"][1][-1] for read in serializer_reads] == [f"/{prefix}*"]


def test_model_version_serves_that_registered_package_without_training(variants):
    model = variants("uncaptured")["Model"]
    assert not resources_of_type(model, "Custom::SageMakerTrainingJob")
    (lookup,) = resources_of_type(model, "Custom::ModelVersion").values()
    assert lookup["Properties"]["Mode"] == "lookup"
    arn = json.dumps(lookup["Properties"]["ModelPackageArn"])
    assert arn.endswith(':model-package/sconesvision-vehicles/3"]]}'), arn
    (served,) = resources_of_type(model, "AWS::SageMaker::Model").values()
    assert served["Properties"]["PrimaryContainer"] == {
        "ModelPackageName": {
            "Fn::GetAtt": [next(iter(resources_of_type(model, "Custom::ModelVersion"))), "ModelPackageArn"]
        }
    }
    # The serving role reads the looked-up version's own artifact, nothing under model-artifacts/ at large.
    (read,) = [
        s for s in policy_statements_of_role(model, "Serving/ExecutionRole") if s["Action"] == "s3:GetObject"
    ]
    assert '"ModelDataKey"]' in json.dumps(read["Resource"]) and "*" not in json.dumps(read["Resource"])
