"""`python -m ops models`: the model registry's versions, and the one the live endpoint serves now.

The served version is read from the endpoint itself (DescribeEndpoint -> DescribeEndpointConfig -> DescribeModel ->
ModelPackageName), not from the stack, so an update that rolled back cannot pass for a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

# lambda_src/model_registry/app.py writes these keys; tests/ops/test_models.py reads versions that handler made.
TRAINING_JOB_KEY, DATASET_HASH_KEY, ACCURACY_KEY = (
    "training_job",
    "dataset_content_hash",
    "validation_accuracy",
)
# EndpointStatus values of an endpoint between two configs
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html).
CHANGING_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")
SHOWN_HASH = 12


@dataclass(frozen=True)
class Version:
    number: int
    arn: str
    status: str
    accuracy: str
    job: str
    dataset_hash: str
    created: datetime


@dataclass(frozen=True)
class Serving:
    """What the endpoint runs now: a package ARN, or None for a brought artifact (then `model_data_url`)."""

    endpoint: str
    status: str
    package_arn: str | None
    model_data_url: str | None
    pending_package_arn: str | None = None


def list_versions(sagemaker: Any, group: str) -> list[Version]:
    """Every version of the group, newest first; none if the group does not exist (nothing registered yet)."""
    try:
        pages = sagemaker.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
        )
        summaries = [summary for page in pages for summary in page["ModelPackageSummaryList"]]
    except ClientError as error:
        # SageMaker answers an unknown group with a ValidationException.
        message = error.response["Error"].get("Message", "").lower()
        if error.response["Error"]["Code"] == "ValidationException" and (
            "not found" in message or "does not exist" in message
        ):
            return []
        raise
    versions = []
    for summary in summaries:
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        metadata = package.get("CustomerMetadataProperties", {})
        versions.append(
            Version(
                number=package["ModelPackageVersion"],
                arn=package["ModelPackageArn"],
                status=package.get("ModelApprovalStatus", "-"),
                accuracy=metadata.get(ACCURACY_KEY, "-"),
                job=metadata.get(TRAINING_JOB_KEY, "-"),
                dataset_hash=metadata.get(DATASET_HASH_KEY, "-")[:SHOWN_HASH],
                created=package["CreationTime"],
            )
        )
    return versions


def served(sagemaker: Any, endpoint_name: str) -> Serving:
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    package_arn, model_data_url = _config_model(sagemaker, endpoint["EndpointConfigName"])
    pending = endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")
    return Serving(
        endpoint=endpoint_name,
        status=endpoint["EndpointStatus"],
        package_arn=package_arn,
        model_data_url=model_data_url,
        pending_package_arn=_config_model(sagemaker, pending)[0] if pending else None,
    )


def _config_model(sagemaker: Any, config_name: str) -> tuple[str | None, str | None]:
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    container = model.get("PrimaryContainer") or model["Containers"][0]
    return container.get("ModelPackageName"), container.get("ModelDataUrl")


def render(group: str, versions: list[Version], serving: Serving | None, endpoint_problem: str = "") -> str:
    served_arn = serving.package_arn if serving else None
    lines = [f"Model versions in {group} (* the endpoint serves it now):"]
    if versions:
        header = ("", "version", "status", "accuracy", "training job", "dataset", "created (UTC)")
        rows = [
            (
                "*" if _same(version.arn, served_arn) else "",
                str(version.number),
                version.status,
                version.accuracy,
                version.job,
                version.dataset_hash,
                version.created.strftime("%Y-%m-%d %H:%M"),
            )
            for version in versions
        ]
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)
        ]
    else:
        lines.append(
            "  none registered yet (a deploy registers each trained model that passes the quality gate)"
        )
    lines.append(_serving_line(versions, serving, endpoint_problem))
    return "\n".join(lines)


def _serving_line(versions: list[Version], serving: Serving | None, endpoint_problem: str) -> str:
    if serving is None:
        return f"Endpoint: unknown ({endpoint_problem})"
    numbers = {version.arn.lower(): version.number for version in versions}
    now = _described(serving.package_arn, serving.model_data_url, numbers)
    line = f"Endpoint {serving.endpoint} ({serving.status}) serves {now}."
    if serving.status in CHANGING_STATUSES:
        target = (
            _described(serving.pending_package_arn, None, numbers) if serving.pending_package_arn else None
        )
        going = f" to {target}" if target else ""
        line += f" It is mid-update{going}: run this again once it is InService."
    elif versions and not _same(versions[0].arn, serving.package_arn):
        line += (
            f" The newest, version {versions[0].number}, is not: -c model_version, or an update rolled back."
        )
    return line


def _described(package_arn: str | None, model_data_url: str | None, numbers: dict[str, int]) -> str:
    if package_arn is None:
        return f"a brought artifact, not a registered version ({model_data_url})"
    number = numbers.get(package_arn.lower())
    return f"version {number}" if number is not None else f"{package_arn}, not a version of this group"


def _same(arn: str | None, other: str | None) -> bool:
    # SageMaker writes names in ARNs in lower case.
    return arn is not None and other is not None and arn.lower() == other.lower()
