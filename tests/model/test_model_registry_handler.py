"""The model registry's custom-resource handler against a stubbed SageMaker client (exact requests asserted)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

GROUP = "sconesvision-vehicles"
GROUP_ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model-package-group/{GROUP}"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
JOB = "sconesvision-0123456789abcdef"
URL = f"s3://project-bucket/model-artifacts/{JOB}/output/model.tar.gz"
CREATED = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def version_arn(number):
    return f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/{number}"


@pytest.fixture(scope="module")
def handler():
    return load_handler_module("model_registry")


@pytest.fixture
def sagemaker(handler, monkeypatch):
    with stubbed_client("sagemaker") as (client, stubber):
        monkeypatch.setattr(handler, "_sagemaker_client", lambda: client)
        yield stubber


def register_properties(**changes):
    base = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
        "Mode": "register",
        "GroupName": GROUP,
        "TrainingJobName": JOB,
        "ModelDataUrl": URL,
        "ValidationAccuracy": "0.86",
        "DatasetContentHash": "ab" * 32,
        "Hyperparameters": {"epochs": "30", "image_shape": "3,224,224", "num_classes": "2"},
        "Image": IMAGE,
    }
    return {**base, **changes}


def event(resource_type, request_type, properties, physical_id=None):
    body = {"ResourceType": resource_type, "RequestType": request_type, "ResourceProperties": properties}
    if physical_id is not None:
        body["PhysicalResourceId"] = physical_id
    return body


def package(number, *, job=JOB, status="Approved"):
    return {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": number,
        "ModelPackageArn": version_arn(number),
        "ModelPackageDescription": f"training job {job}, validation accuracy 0.86",
        "CreationTime": CREATED,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": URL}],
            "SupportedContentTypes": ["image/jpeg"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "CustomerMetadataProperties": {"training_job": job},
    }


def summary(number, *, job=JOB):
    described = package(number, job=job)
    keys = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn")
    return {
        **{key: described[key] for key in keys},
        "ModelPackageDescription": described["ModelPackageDescription"],
        "CreationTime": CREATED,
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
    }


LIST_REQUEST = {"ModelPackageGroupName": GROUP, "SortBy": "CreationTime", "SortOrder": "Descending"}
SERVED = {
    "ModelPackageArn": version_arn(3),
    "Version": "3",
    "ModelDataUrl": URL,
    "ModelDataKey": f"model-artifacts/{JOB}/output/model.tar.gz",
}


def test_register_creates_an_approved_version_with_the_lineage(handler, sagemaker):
    sagemaker.add_response(
        "list_model_packages", {"ModelPackageSummaryList": [summary(2, job="older-job")]}, LIST_REQUEST
    )
    expected = {
        "ModelPackageGroupName": GROUP,
        "ModelPackageDescription": f"training job {JOB}, validation accuracy 0.86",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": URL}],
            "SupportedContentTypes": ["image/jpeg", "image/png", "application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "ModelApprovalStatus": "Approved",
        "CustomerMetadataProperties": {
            "training_job": JOB,
            "dataset_content_hash": "ab" * 32,
            "validation_accuracy": "0.86",
            "hyperparameter:epochs": "30",
            # The map refuses commas; the job keeps the original value.
            "hyperparameter:image_shape": "3 224 224",
            "hyperparameter:num_classes": "2",
        },
    }
    sagemaker.add_response("create_model_package", {"ModelPackageArn": version_arn(3)}, expected)
    sagemaker.add_response("describe_model_package", package(3), {"ModelPackageName": version_arn(3)})
    result = handler.on_event(event("Custom::ModelVersion", "Create", register_properties()), None)
    assert result == {"PhysicalResourceId": version_arn(3), "Data": SERVED}


def test_register_adopts_a_version_that_records_the_job(handler, sagemaker):
    # A rollback's Update sends the old job again: its version is reused, not registered twice.
    listed = [summary(4, job="newer-job"), summary(3)]
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": listed}, LIST_REQUEST)
    sagemaker.add_response("describe_model_package", package(3), {"ModelPackageName": version_arn(3)})
    result = handler.on_event(
        event("Custom::ModelVersion", "Update", register_properties(), version_arn(4)), None
    )
    assert result["PhysicalResourceId"] == version_arn(3)


def test_an_attempt_name_is_not_taken_for_its_first_attempt(handler, sagemaker):
    listed = [summary(2, job=f"{JOB}-r2")]
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": listed}, LIST_REQUEST)
    sagemaker.add_response("create_model_package", {"ModelPackageArn": version_arn(3)})
    sagemaker.add_response("describe_model_package", package(3), {"ModelPackageName": version_arn(3)})
    assert (
        handler.on_event(event("Custom::ModelVersion", "Create", register_properties()), None)["Data"]
        == SERVED
    )


def test_deleting_a_version_resource_keeps_the_version(handler, sagemaker):
    # No SageMaker call is queued: any call would fail the Stubber.
    result = handler.on_event(
        event("Custom::ModelVersion", "Delete", register_properties(), version_arn(3)), None
    )
    assert result == {"PhysicalResourceId": version_arn(3)}


def test_lookup_returns_the_versions_artifact(handler, sagemaker):
    sagemaker.add_response("describe_model_package", package(3), {"ModelPackageName": version_arn(3)})
    lookup = {"Mode": "lookup", "ModelPackageArn": version_arn(3)}
    result = handler.on_event(event("Custom::ModelVersion", "Create", lookup), None)
    assert result == {"PhysicalResourceId": version_arn(3), "Data": SERVED}


def test_lookup_of_a_missing_version_names_it_and_the_way_out(handler, sagemaker):
    sagemaker.add_client_error(
        "describe_model_package",
        service_error_code="ValidationException",
        service_message=f"ModelPackage {version_arn(9)} does not exist.",
        http_status_code=400,
    )
    lookup = {"Mode": "lookup", "ModelPackageArn": version_arn(9)}
    with pytest.raises(
        handler.ModelVersionNotFound, match=f"{version_arn(9)} is not registered: run `make models`"
    ):
        handler.on_event(event("Custom::ModelVersion", "Create", lookup), None)


def test_lookup_refuses_a_version_that_is_not_approved(handler, sagemaker):
    sagemaker.add_response("describe_model_package", package(2, status="Rejected"))
    lookup = {"Mode": "lookup", "ModelPackageArn": version_arn(2)}
    with pytest.raises(handler.ModelVersionNotApproved, match="is Rejected; SageMaker deploys only Approved"):
        handler.on_event(event("Custom::ModelVersion", "Update", lookup, version_arn(3)), None)


def test_too_much_lineage_is_refused_before_anything_is_registered(handler, sagemaker):
    many = {f"h{i}": "1" for i in range(48)}
    with pytest.raises(handler.LineageNotRecordable, match="51 entries \\(at most 50\\)"):
        handler.on_event(
            event("Custom::ModelVersion", "Create", register_properties(Hyperparameters=many)), None
        )


def test_lineage_with_characters_the_registry_refuses_is_named(handler, sagemaker):
    odd = register_properties(Hyperparameters={"augmentation_type": "crop;color"})
    with pytest.raises(
        handler.LineageNotRecordable, match="refuses: \\['hyperparameter:augmentation_type'\\]"
    ):
        handler.on_event(event("Custom::ModelVersion", "Create", odd), None)


def test_group_is_created_once_and_adopted_after_a_retained_destroy(handler, sagemaker):
    sagemaker.add_client_error(
        "describe_model_package_group",
        service_error_code="ValidationException",
        service_message=f"ModelPackageGroup {GROUP} does not exist.",
        http_status_code=400,
        expected_params={"ModelPackageGroupName": GROUP},
    )
    sagemaker.add_response("create_model_package_group", {"ModelPackageGroupArn": GROUP_ARN})
    created = handler.on_event(event("Custom::ModelPackageGroup", "Create", {"GroupName": GROUP}), None)
    described = {
        "ModelPackageGroupName": GROUP,
        "ModelPackageGroupArn": GROUP_ARN,
        "CreationTime": CREATED,
        "CreatedBy": {},
        "ModelPackageGroupStatus": "Completed",
    }
    sagemaker.add_response("describe_model_package_group", described, {"ModelPackageGroupName": GROUP})
    adopted = handler.on_event(event("Custom::ModelPackageGroup", "Create", {"GroupName": GROUP}), None)
    expected = {"PhysicalResourceId": GROUP, "Data": {"GroupName": GROUP, "GroupArn": GROUP_ARN}}
    assert created == adopted == expected


def test_destroying_the_group_deletes_its_versions_first(handler, sagemaker):
    listed = {"ModelPackageSummaryList": [summary(2), summary(1)]}
    sagemaker.add_response("list_model_packages", listed, LIST_REQUEST)
    for number in (2, 1):
        sagemaker.add_response("delete_model_package", {}, {"ModelPackageName": version_arn(number)})
    sagemaker.add_response("delete_model_package_group", {}, {"ModelPackageGroupName": GROUP})
    handler.on_event(event("Custom::ModelPackageGroup", "Delete", {"GroupName": GROUP}, GROUP), None)


def test_every_hyperparameter_the_algorithm_takes_fits_the_lineage(handler):
    # stacks/algorithm.py refuses any other name, so a gated job can always be registered.
    from stacks import algorithm

    samples = {name: spec.default or "10,20" for name, spec in algorithm.HYPERPARAMETERS.items()}
    every = register_properties(Hyperparameters={**samples, **dict.fromkeys(algorithm.DERIVED, "1000")})
    assert len(handler.lineage(every)) <= handler.MAX_METADATA_ENTRIES
