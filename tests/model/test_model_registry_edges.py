"""The model registry's handler at its edges: events and answers as they arrive (parsed from JSON, so no string is
the handler's own literal), which errors mean "not found", the lineage's bounds from both sides. Each test fails on
a mutant that survived the handler's other tests (mutation/README.md)."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.lambda_handlers import load_handler_module
from tests.model.test_model_registry_handler import (
    CREATED,
    GROUP,
    GROUP_ARN,
    LIST_REQUEST,
    SERVED,
    event,
    package,
    register_properties,
    summary,
    version_arn,
)
from tests.stubs import stubbed_client

app = load_handler_module("model_registry")


@pytest.fixture
def stubber(monkeypatch):
    with stubbed_client("sagemaker") as (client, stubbed):
        monkeypatch.setattr(app, "_sagemaker_client", lambda: client)
        yield stubbed


def arrived(value):
    # The Lambda runtime and botocore parse JSON: their strings are new objects, never the handler's literals.
    return json.loads(json.dumps(value))


def on_event(*args):
    return app.on_event(arrived(event(*args)), None)


def add_error(stubber, operation, code, message="", **expected):
    # The code as botocore parses it from the answer's body.
    stubber.add_client_error(
        operation,
        service_error_code=arrived(code),
        service_message=message,
        http_status_code=400,
        expected_params=expected or None,
    )


GROUP_DESCRIBED = {
    "ModelPackageGroupName": GROUP,
    "ModelPackageGroupArn": GROUP_ARN,
    "CreationTime": CREATED,
    "CreatedBy": {},
    "ModelPackageGroupStatus": "Completed",
}
GROUP_DATA = {"PhysicalResourceId": GROUP, "Data": {"GroupName": GROUP, "GroupArn": GROUP_ARN}}


def test_the_sagemaker_client_is_made_once_per_container(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert app._sagemaker_client() is app._sagemaker_client()


def test_an_update_of_the_group_adopts_it_and_deletes_nothing(stubber):
    stubber.add_response("describe_model_package_group", GROUP_DESCRIBED, {"ModelPackageGroupName": GROUP})
    assert on_event("Custom::ModelPackageGroup", "Update", {"GroupName": GROUP}, GROUP) == GROUP_DATA


@pytest.mark.parametrize("resource_type", ["Custom::ModelGroup", "Custom::Other", "AWS::SageMaker::Model"])
def test_an_unknown_resource_type_is_refused_by_name(stubber, resource_type):
    with pytest.raises(app.MalformedProperties, match=f"unknown ResourceType '{resource_type}'"):
        on_event(resource_type, "Create", {"GroupName": GROUP})


@pytest.mark.parametrize("mode", ["Lookup", "registered", None])
def test_a_version_with_an_unknown_mode_is_refused_before_any_call(stubber, mode):
    properties = {**register_properties(), "Mode": mode}
    with pytest.raises(app.MalformedProperties, match=f"Mode must be 'register' or 'lookup', got {mode!r}"):
        on_event("Custom::ModelVersion", "Create", properties)


def test_a_parsed_lookup_event_is_a_lookup(stubber):
    stubber.add_response("describe_model_package", package(3), {"ModelPackageName": version_arn(3)})
    lookup = {"Mode": "lookup", "ModelPackageArn": version_arn(3)}
    assert on_event("Custom::ModelVersion", "Create", lookup)["Data"] == SERVED


def test_a_parsed_register_event_registers(stubber):
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [summary(3)]}, LIST_REQUEST)
    stubber.add_response("describe_model_package", package(3), {"ModelPackageName": version_arn(3)})
    assert on_event("Custom::ModelVersion", "Create", register_properties())["Data"] == SERVED


def test_a_parsed_delete_of_a_version_calls_nothing(stubber):
    deleted = on_event("Custom::ModelVersion", "Delete", register_properties(), version_arn(3))
    assert deleted == {"PhysicalResourceId": version_arn(3)}


def test_a_version_approved_as_sagemaker_answers_is_served(stubber):
    approved = {**package(3), "ModelApprovalStatus": arrived("Approved")}
    stubber.add_response("describe_model_package", approved, {"ModelPackageName": version_arn(3)})
    lookup = {"Mode": "lookup", "ModelPackageArn": version_arn(3)}
    assert on_event("Custom::ModelVersion", "Update", lookup, version_arn(2))["Data"] == SERVED


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ResourceNotFound", "ModelPackageGroup not there"),
        ("ValidationException", f"ModelPackageGroup {GROUP} does not exist."),
        ("ValidationException", "Model package group not found"),
    ],
)
def test_a_missing_group_is_created(stubber, code, message):
    add_error(stubber, "describe_model_package_group", code, message, ModelPackageGroupName=GROUP)
    stubber.add_response("create_model_package_group", {"ModelPackageGroupArn": GROUP_ARN})
    assert on_event("Custom::ModelPackageGroup", "Create", {"GroupName": GROUP}) == GROUP_DATA


# Errors that say nothing of the group being missing: raised, so CloudFormation fails the deploy and nothing is
# created twice. Codes before and after "ResourceNotFound", and codes other than ValidationException whose message
# reads "not found".
OTHER_ERRORS = [
    ("AccessDeniedException", "User is not authorized to perform: sagemaker:DescribeModelPackageGroup"),
    ("ThrottlingException", "Rate exceeded"),
    ("InternalFailure", "An internal dependency was not found"),
    ("ConflictException", f"{GROUP} does not exist in a usable state"),
    ("ValidationException", "1 validation error detected: ModelPackageGroupName"),
]


@pytest.mark.parametrize(("code", "message"), OTHER_ERRORS)
def test_another_error_describing_the_group_is_raised(stubber, code, message):
    add_error(stubber, "describe_model_package_group", code, message)
    with pytest.raises(ClientError, match=code):
        on_event("Custom::ModelPackageGroup", "Create", {"GroupName": GROUP})


def test_destroying_a_group_already_gone_succeeds(stubber):
    add_error(
        stubber, "list_model_packages", "ValidationException", f"ModelPackageGroup {GROUP} does not exist."
    )
    add_error(
        stubber,
        "delete_model_package_group",
        "ValidationException",
        f"ModelPackageGroup {GROUP} does not exist.",
    )
    assert on_event("Custom::ModelPackageGroup", "Delete", {"GroupName": GROUP}, GROUP) == {
        "PhysicalResourceId": GROUP
    }


@pytest.mark.parametrize(("code", "message"), OTHER_ERRORS)
def test_another_error_listing_the_versions_to_destroy_is_raised(stubber, code, message):
    add_error(stubber, "list_model_packages", code, message)
    with pytest.raises(ClientError, match=code):
        on_event("Custom::ModelPackageGroup", "Delete", {"GroupName": GROUP}, GROUP)


@pytest.mark.parametrize(("code", "message"), OTHER_ERRORS)
def test_another_error_deleting_the_group_is_raised(stubber, code, message):
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": []}, LIST_REQUEST)
    add_error(stubber, "delete_model_package_group", code, message)
    with pytest.raises(ClientError, match=code):
        on_event("Custom::ModelPackageGroup", "Delete", {"GroupName": GROUP}, GROUP)


def test_lineage_at_its_bounds_is_recorded():
    # 47 hyperparameters and the job, hash and accuracy: the 50 entries allowed, one of them 256 characters long.
    longest = "x" * 256
    hyperparameters = {"longest": longest, **{f"h{i}": "1" for i in range(46)}}
    metadata = app.lineage(register_properties(Hyperparameters=hyperparameters))
    assert len(metadata) == 50 and metadata["hyperparameter:longest"] == longest


def test_a_value_one_character_too_long_is_named():
    properties = register_properties(Hyperparameters={"longest": "x" * 257})
    with pytest.raises(
        app.LineageNotRecordable,
        match=r"4 entries \(at most 50\); values too long: \['hyperparameter:longest'\]; "
        r"values with characters the registry refuses: none$",
    ):
        app.lineage(properties)


@pytest.mark.parametrize("value", ["", 7, ["sconesvision-job"], None])
def test_a_required_property_that_is_not_a_non_empty_string_is_named(value):
    properties = register_properties(TrainingJobName=value)
    with pytest.raises(
        app.MalformedProperties, match=re.escape(f"TrainingJobName must be a non-empty string, got {value!r}")
    ):
        app.register_version(None, properties)
