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
}


@pytest.fixture(scope="module")
def flipped(default_context, tmp_path_factory):
    from app import build_app

    app = build_app({**default_context, **FLIPPED}, outdir=str(tmp_path_factory.mktemp("flipped.out")))
    # build_app registers cdk-nag's AwsSolutions checks: synth raises on any unacknowledged finding.
    assembly = app.synth()
    return {stack.stack_name.rsplit("-", 1)[-1]: stack.template for stack in assembly.stacks}


def test_every_flipped_template_lints_clean(flipped):
    for name, template in flipped.items():
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
