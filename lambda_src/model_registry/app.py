"""Custom resources of the model registry (SageMaker Model Package Group), behind the CDK provider framework.

`Custom::ModelPackageGroup` creates or adopts the group and, when its stack is destroyed with removal_policy=destroy,
deletes its versions first. `Custom::ModelVersion` registers a trained job that passed the quality gate
(mode "register") or resolves an earlier version to serve (mode "lookup"); its Delete never deletes a version, so
a replaced resource keeps the history. Every property arrives as a string.
"""

import functools
import logging
import re
from typing import Any

import boto3
from botocore.exceptions import ClientError

# The built-in algorithm takes one encoded image per request and answers JSON probabilities
# (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html, inference); PNG and JPEG are what the
# classifier sends, application/x-image what Batch Transform sends.
CONTENT_TYPES = ["image/jpeg", "image/png", "application/x-image"]
RESPONSE_TYPES = ["application/json"]
# CustomerMetadataProperties: 1 to 50 entries, keys up to 128 and values up to 256 characters of letters, digits,
# spaces and _.:/=+-@ (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html).
MAX_METADATA_ENTRIES = 50
MAX_METADATA_VALUE = 256
METADATA_TEXT = re.compile(r"[\w .:/=+\-@]*")
HYPERPARAMETER_KEY = "hyperparameter:"
TRAINING_JOB_KEY = "training_job"
DATASET_HASH_KEY = "dataset_content_hash"
ACCURACY_KEY = "validation_accuracy"


class MalformedProperties(Exception):
    """A resource property is missing or not of the expected form."""


class ModelVersionNotFound(Exception):
    """model_version names a version the model package group does not hold."""


class ModelVersionNotApproved(Exception):
    """model_version names a version whose approval status is not Approved, so SageMaker will not deploy it."""


class LineageNotRecordable(Exception):
    """The lineage to record exceeds what CustomerMetadataProperties holds, or has characters it refuses."""


_LOGGER = logging.getLogger("model_registry")


def _log(message: str, **fields: Any) -> None:
    _LOGGER.info(message, extra=fields)


@functools.cache
def _sagemaker_client() -> Any:
    return boto3.client("sagemaker")


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return respond_to_event(event, _sagemaker_client())


def respond_to_event(event: dict[str, Any], sagemaker: Any) -> dict[str, Any]:
    resource_type, request_type = event["ResourceType"], event["RequestType"]
    properties = event["ResourceProperties"]
    if resource_type == "Custom::ModelPackageGroup":
        if request_type == "Delete":
            delete_group(sagemaker, event["PhysicalResourceId"])
            return {"PhysicalResourceId": event["PhysicalResourceId"]}
        return group_response(sagemaker, _required(properties, "GroupName"))
    if resource_type == "Custom::ModelVersion":
        if request_type == "Delete":
            # History outlives the resource: a retrain replaces it, and the old version must stay registered.
            return {"PhysicalResourceId": event["PhysicalResourceId"]}
        mode = properties.get("Mode")
        if mode == "lookup":
            return version_response(lookup_version(sagemaker, _required(properties, "ModelPackageArn")))
        if mode == "register":
            return version_response(register_version(sagemaker, properties))
        raise MalformedProperties(f"Mode must be 'register' or 'lookup', got {mode!r}")
    raise MalformedProperties(f"unknown ResourceType {resource_type!r}")


def group_response(sagemaker: Any, name: str) -> dict[str, Any]:
    """Creates the group, or adopts it: a group kept by removal_policy=retain is there again on the next deploy."""
    try:
        arn = sagemaker.describe_model_package_group(ModelPackageGroupName=name)["ModelPackageGroupArn"]
        _log("adopted model package group", group=name)
    except ClientError as error:
        if not _not_found(error):
            raise
        arn = sagemaker.create_model_package_group(
            ModelPackageGroupName=name,
            ModelPackageGroupDescription="Versions of the vehicle classifier that passed the quality gate",
        )["ModelPackageGroupArn"]
        _log("created model package group", group=name)
    return {"PhysicalResourceId": name, "Data": {"GroupName": name, "GroupArn": arn}}


def delete_group(sagemaker: Any, name: str) -> None:
    """Only reached with removal_policy=destroy (retain keeps the resource): the versions go first, then the group."""
    for version in list_versions(sagemaker, name):
        sagemaker.delete_model_package(ModelPackageName=version["ModelPackageArn"])
        _log("deleted model version", version=version["ModelPackageArn"])
    try:
        sagemaker.delete_model_package_group(ModelPackageGroupName=name)
    except ClientError as error:
        if not _not_found(error):
            raise
    _log("deleted model package group", group=name)


def list_versions(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    """The group's version summaries, newest first; none if the group does not exist."""
    try:
        pages = sagemaker.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
        )
        return [summary for page in pages for summary in page["ModelPackageSummaryList"]]
    except ClientError as error:
        if _not_found(error):
            return []
        raise


def description(job: str, accuracy: str) -> str:
    # The summaries ListModelPackages returns carry the description: it names the job, so finding one costs no
    # DescribeModelPackage per version.
    return f"training job {job}, validation accuracy {accuracy}"


def register_version(sagemaker: Any, properties: dict[str, Any]) -> dict[str, Any]:
    """Registers the gated job as the group's next version, Approved (the gate is the approval). A version that
    already records this job is adopted: a retried request, a rollback's Update with the old job, or inputs set
    back to an earlier job's register nothing twice."""
    group, job = _required(properties, "GroupName"), _required(properties, "TrainingJobName")
    metadata = lineage(properties)
    for summary in list_versions(sagemaker, group):
        if summary.get("ModelPackageDescription", "").startswith(f"training job {job},"):
            _log("adopted model version", version=summary["ModelPackageArn"], job=job)
            return sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=description(job, metadata[ACCURACY_KEY]),
        InferenceSpecification={
            "Containers": [
                {
                    "Image": _required(properties, "Image"),
                    "ModelDataUrl": _required(properties, "ModelDataUrl"),
                }
            ],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": RESPONSE_TYPES,
        },
        # "For versioned models, the value of this parameter must be set to Approved to deploy the model."
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties=metadata,
    )["ModelPackageArn"]
    _log("registered model version", version=arn, job=job)
    return sagemaker.describe_model_package(ModelPackageName=arn)


def lookup_version(sagemaker: Any, arn: str) -> dict[str, Any]:
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if _not_found(error):
            raise ModelVersionNotFound(
                f"{arn} is not registered: run `make models` for the versions there are, then deploy with "
                "-c model_version=<one of them>"
            ) from None
        raise
    status = package.get("ModelApprovalStatus", "no approval status")
    if status != "Approved":
        raise ModelVersionNotApproved(
            f"{arn} is {status}; SageMaker deploys only Approved versions: pick another with `make models`"
        )
    return package


def version_response(package: dict[str, Any]) -> dict[str, Any]:
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    return {
        "PhysicalResourceId": package["ModelPackageArn"],
        "Data": {
            "ModelPackageArn": package["ModelPackageArn"],
            "Version": str(package["ModelPackageVersion"]),
            "ModelDataUrl": url,
            # The key lets the serving role be granted exactly this artifact.
            "ModelDataKey": url.removeprefix("s3://").split("/", 1)[1],
        },
    }


def lineage(properties: dict[str, Any]) -> dict[str, str]:
    """The version's CustomerMetadataProperties: job, dataset hash, accuracy and every hyperparameter."""
    hyperparameters = properties.get("Hyperparameters")
    if not isinstance(hyperparameters, dict):
        raise MalformedProperties("Hyperparameters must map names to strings")
    metadata = {
        TRAINING_JOB_KEY: _required(properties, "TrainingJobName"),
        DATASET_HASH_KEY: _required(properties, "DatasetContentHash"),
        ACCURACY_KEY: _required(properties, "ValidationAccuracy"),
        # The map refuses ',' (image_shape is "3,224,224"): recorded as spaces; the job itself keeps the original.
        **{
            f"{HYPERPARAMETER_KEY}{name}": str(value).replace(",", " ")
            for name, value in hyperparameters.items()
        },
    }
    too_long = [key for key, value in metadata.items() if len(value) > MAX_METADATA_VALUE]
    refused = [key for key, value in metadata.items() if not METADATA_TEXT.fullmatch(value)]
    if len(metadata) > MAX_METADATA_ENTRIES or too_long or refused:
        raise LineageNotRecordable(
            f"the lineage has {len(metadata)} entries (at most {MAX_METADATA_ENTRIES}); values too long: "
            f"{too_long or 'none'}; values with characters the registry refuses: {refused or 'none'}"
        )
    return metadata


def _required(properties: dict[str, Any], name: str) -> str:
    value = properties.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedProperties(f"{name} must be a non-empty string, got {value!r}")
    return value


def _not_found(error: ClientError) -> bool:
    # SageMaker answers an unknown group or package with a ValidationException, not ResourceNotFound.
    code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "").lower()
    return code == "ResourceNotFound" or (
        code == "ValidationException" and ("not found" in message or "does not exist" in message)
    )
