"""The app with every option flipped from its default still synthesizes clean and does what each option says."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from tests.cdk.helpers import resources_of_type
from tests.cdk.test_cfn_lint import findings_of

FLIPPED = {
    "workflow_type": "EXPRESS",
    "removal_policy": "retain",
    "use_spot_training": "true",
    "capture_sampling_percentage": "20",
    "confidence_threshold": "0.8",
    "autoscaling_enabled": "true",
    "autoscaling_max_instances": "3",
    "endpoint_instance_count": "2",
    "autoscaling_target_invocations": "150",
}
# Serverless excludes autoscaling (it scales itself) and needs capture off (which would leave the sampling above
# untested): its own app, built once per module. tests/model checks capture off on a real-time endpoint.
SERVERLESS = {"endpoint_mode": "serverless", "data_capture_enabled": "false", "serverless_memory_mb": "1024"}


def synthesized_templates(context: dict, outdir: str) -> dict:
    from app import build_app

    app = build_app(context, outdir=outdir)
    # build_app registers cdk-nag's AwsSolutions checks: synth raises on any unacknowledged finding.
    assembly = app.synth()
    return {stack.stack_name.rsplit("-", 1)[-1]: stack.template for stack in assembly.stacks}


@pytest.fixture(scope="module")
def flipped(default_context, tmp_path_factory):
    return synthesized_templates({**default_context, **FLIPPED}, str(tmp_path_factory.mktemp("flipped.out")))


@pytest.fixture(scope="module")
def serverless(default_context, tmp_path_factory):
    return synthesized_templates(
        {**default_context, **SERVERLESS}, str(tmp_path_factory.mktemp("serverless.out"))
    )


@pytest.mark.parametrize("variant", ["flipped", "serverless"])
def test_every_flipped_template_lints_clean(variant, request):
    for name, template in request.getfixturevalue(variant).items():
        findings = findings_of(template)
        assert findings == [], f"{name}: " + "\n".join(f"{m.rule.id} {m.path}: {m.message}" for m in findings)


def test_express_workflow_keeps_full_logging(flipped):
    Template.from_json(flipped["Workflow"]).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"StateMachineType": "EXPRESS", "LoggingConfiguration": Match.object_like({"Level": "ALL"})},
    )


def test_retain_keeps_buckets_their_objects_and_the_capture_key(flipped):
    for bucket in resources_of_type(flipped["Storage"], "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    assert not resources_of_type(flipped["Storage"], "Custom::S3AutoDeleteObjects")
    for key in resources_of_type(flipped["Model"], "AWS::KMS::Key").values():
        assert key["DeletionPolicy"] == "Retain"


def test_spot_training_and_sampling_and_threshold_reach_their_resources(flipped):
    (job,) = resources_of_type(flipped["Model"], "Custom::SageMakerTrainingJob").values()
    assert job["Properties"]["UseSpotTraining"] == "true"
    (config,) = resources_of_type(flipped["Model"], "AWS::SageMaker::EndpointConfig").values()
    assert config["Properties"]["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert flipped["Workflow"]["Outputs"]["ConfidenceThreshold"]["Value"] == "0.8"


def test_autoscaling_reaches_the_endpoint(flipped):
    (target,) = resources_of_type(flipped["Model"], "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 3)
    (policy,) = resources_of_type(flipped["Model"], "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    assert policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 150
    (config,) = resources_of_type(flipped["Model"], "AWS::SageMaker::EndpointConfig").values()
    assert config["Properties"]["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_serverless_endpoint_has_no_instances_capture_or_key(serverless):
    (config,) = resources_of_type(serverless["Model"], "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    assert "DataCaptureConfig" not in config["Properties"] and "KmsKeyId" not in config["Properties"]
    assert not resources_of_type(serverless["Model"], "AWS::KMS::Key")
