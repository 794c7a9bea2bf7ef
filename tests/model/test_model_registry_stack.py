"""The model registry in the default app: the group, the version the gated training job registers, the model
serving that version, and the handler's scope. The rollback (`-c model_version=N`) and retain variants are in
tests/cdk/test_option_variants.py."""

from __future__ import annotations

import json

import pytest

from stacks import names
from tests.cdk.helpers import as_list, policy_statements_of_role, resources_of_type

GROUP = "sconesvision-vehicles"


@pytest.fixture(scope="module")
def model(synthesized_app) -> dict:
    return synthesized_app.template(names.MODEL)


def only(template: dict, resource_type: str) -> tuple[str, dict]:
    (found,) = resources_of_type(template, resource_type).items()
    return found


def test_the_group_is_named_after_the_project_and_goes_with_the_bucket(model):
    _, group = only(model, "Custom::ModelPackageGroup")
    assert group["Properties"]["GroupName"] == GROUP == names.model_package_group_name("SconesVision")
    # cdk.json's removal_policy is destroy: the buckets go, and so do the group and its versions.
    assert group["DeletionPolicy"] == "Delete"


def test_the_version_is_registered_from_the_gated_job(model):
    training_id, _ = only(model, "Custom::SageMakerTrainingJob")
    group_id, _ = only(model, "Custom::ModelPackageGroup")
    _, version = only(model, "Custom::ModelVersion")
    properties = version["Properties"]
    assert properties["Mode"] == "register"
    assert properties["GroupName"] == {"Fn::GetAtt": [group_id, "GroupName"]}
    # Only a job that passed the gate has these attributes: a refused job stops the deploy before registration.
    for name, attribute in (
        ("TrainingJobName", "TrainingJobName"),
        ("ModelDataUrl", "ModelArtifactUrl"),
        ("ValidationAccuracy", "ValidationAccuracy"),
    ):
        assert properties[name] == {"Fn::GetAtt": [training_id, attribute]}, name
    assert len(properties["DatasetContentHash"]) == 64
    assert properties["Hyperparameters"]["num_classes"] == "2"


def test_the_gate_bar_reaches_the_training_resource(model):
    _, training = only(model, "Custom::SageMakerTrainingJob")
    assert training["Properties"]["MinValidationAccuracy"] == "0.8"


def test_the_model_serves_the_registered_package(model):
    version_id, _ = only(model, "Custom::ModelVersion")
    _, served = only(model, "AWS::SageMaker::Model")
    assert served["Properties"]["PrimaryContainer"] == {
        "ModelPackageName": {"Fn::GetAtt": [version_id, "ModelPackageArn"]}
    }


def test_the_registry_handler_reaches_only_this_group_and_its_versions(model):
    statements = policy_statements_of_role(model, "Registry/HandlerRole")
    sagemaker = [s for s in statements if any(a.startswith("sagemaker:") for a in as_list(s["Action"]))]
    resources = [json.dumps(r) for s in sagemaker for r in as_list(s["Resource"])]
    allowed = (
        f':model-package-group/{GROUP}"]]}}',
        f':model-package/{GROUP}"]]}}',
        f':model-package/{GROUP}/*"]]}}',
    )
    assert resources and all(r.endswith(allowed) for r in resources), resources
    actions = {a for s in sagemaker for a in as_list(s["Action"])}
    assert actions == {
        f"sagemaker:{verb}"
        for verb in (
            "CreateModelPackageGroup",
            "DescribeModelPackageGroup",
            "DeleteModelPackageGroup",
            "CreateModelPackage",
            "DescribeModelPackage",
            "DeleteModelPackage",
            "ListModelPackages",
        )
    }
