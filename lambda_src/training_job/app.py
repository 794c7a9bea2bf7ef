"""Custom resource for a SageMaker training job (CloudFormation has none), behind the CDK provider framework.

The job name hashes what shapes the model, so an unchanged deploy keeps its job and a changed input trains anew;
SageMaker never frees a name, so a failed job's inputs get the next attempt name (`<name>-r2`, ...). Every property
arrives as a string (CloudFormation turns scalars into strings).
"""

import functools
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

CHANNEL_CONTENT_TYPE = "application/x-image"
# The four channels of the algorithm's "image/lst" input mode, in the order SageMaker lists them.
CHANNEL_NAMES = ("train", "validation", "train_lst", "validation_lst")
# Properties that shape the trained model; the role is left out, so replacing it does not retrain.
HASHED_PROPERTIES = (
    "TrainingImage",
    "DatasetContentHash",
    "Hyperparameters",
    "Channels",
    "OutputPath",
    "InstanceType",
    "InstanceCount",
    "VolumeSizeGb",
    "UseSpotTraining",
    "MaxRuntimeSeconds",
    "MaxWaitSeconds",
)
HASH_LENGTH = 16
MAX_ATTEMPTS = 9
RUNNING_STATUSES = ("InProgress", "Stopping")
# The algorithm's one metric (https://docs.aws.amazon.com/sagemaker/latest/dg/IC-tuning.html), read from
# DescribeTrainingJob's FinalMetricDataList (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html).
ACCURACY_METRIC = "validation:accuracy"


class ConfigurationError(Exception):
    """The function's environment lacks STOP_AFTER_SECONDS or holds an invalid one."""


class TrainingJobFailed(Exception):
    """The job ended as Failed or Stopped; the message carries SageMaker's FailureReason."""


class TrainingDeadlineExceeded(Exception):
    """The job ran past the time the deploy can wait; it was stopped so no instance keeps running."""


class DemoDatasetRefused(Exception):
    """The dataset is the generated demo data: training on it would only waste a GPU job."""


class MalformedProperties(Exception):
    """A resource property is missing or not of the expected form."""


class TooManyAttempts(Exception):
    """Every attempt name for these inputs is taken by a failed or stopped job."""


class ValidationAccuracyTooLow(Exception):
    """The job completed, but its validation accuracy is below min_validation_accuracy: it is not served."""


class ValidationAccuracyMissing(Exception):
    """The job completed without reporting validation:accuracy, so the gate cannot pass it."""


# JSON log format: ``extra`` fields become top-level keys; raised errors are logged by the runtime
# (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html).
_LOGGER = logging.getLogger("training_job")


def _log(message: str, **fields: Any) -> None:
    _LOGGER.info(message, extra=fields)


@functools.cache
def _sagemaker_client() -> Any:
    # One client per execution environment, created on first use so tests can stub it before it exists.
    return boto3.client("sagemaker")


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return respond_to_event(event, _sagemaker_client())


def is_complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    stop_after_seconds = load_stop_after_seconds(os.environ)
    return completion(
        event, _sagemaker_client(), now=datetime.now(UTC), stop_after_seconds=stop_after_seconds
    )


def load_stop_after_seconds(environ: Mapping[str, str]) -> int:
    text = environ.get("STOP_AFTER_SECONDS", "")
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ConfigurationError(f"STOP_AFTER_SECONDS must be a positive whole number, got {text!r}")
    return int(text)


def respond_to_event(event: dict[str, Any], sagemaker: Any) -> dict[str, Any]:
    """The provider framework's onEvent: start, keep or stop a job and return its name as the physical id."""
    request_type = event["RequestType"]
    properties = event["ResourceProperties"]
    if request_type == "Create":
        return {"PhysicalResourceId": start_or_adopt_job(sagemaker, properties)}
    if request_type == "Update":
        return {"PhysicalResourceId": update_job(sagemaker, properties, event["PhysicalResourceId"])}
    if request_type == "Delete":
        job_name = delete_target(properties, event["PhysicalResourceId"])
        job = describe_job(sagemaker, job_name)
        if job is not None and job["TrainingJobStatus"] == "InProgress":
            sagemaker.stop_training_job(TrainingJobName=job_name)
            _log("stopped training job", job=job_name)
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    raise MalformedProperties(f"unknown RequestType {request_type!r}")


def completion(
    event: dict[str, Any], sagemaker: Any, *, now: datetime, stop_after_seconds: int
) -> dict[str, Any]:
    """The provider framework's isComplete: whether the job of this request has ended, and how."""
    if event["RequestType"] == "Delete":
        # Wait until the job has really stopped: a job still uploading would refill the bucket while the
        # storage stack empties and deletes it.
        job = describe_job(sagemaker, delete_target(event["ResourceProperties"], event["PhysicalResourceId"]))
        return {"IsComplete": job is None or job["TrainingJobStatus"] not in RUNNING_STATUSES}
    job_name = event["PhysicalResourceId"]
    job = describe_job(sagemaker, job_name)
    if job is None:
        raise TrainingJobFailed(f"training job {job_name} does not exist")
    status = job["TrainingJobStatus"]
    _log("training job status", job=job_name, status=status, secondary_status=job.get("SecondaryStatus"))
    if status == "Completed":
        accuracy = gated_accuracy(job, event["ResourceProperties"])
        artifact_url = job["ModelArtifacts"]["S3ModelArtifacts"]
        return {
            "IsComplete": True,
            "Data": {
                "ModelArtifactUrl": artifact_url,
                # The key alone lets the serving role be granted exactly this object.
                "ModelArtifactKey": artifact_url.removeprefix("s3://").split("/", 1)[1],
                "TrainingJobName": job_name,
                "ValidationAccuracy": str(accuracy),
            },
        }
    if status in ("Failed", "Stopped"):
        raise TrainingJobFailed(
            f"training job {job_name} {status.lower()} ({job.get('SecondaryStatus', 'no secondary status')}): "
            f"{job.get('FailureReason', 'SageMaker gave no FailureReason')}"
        )
    elapsed_seconds = (now - job["CreationTime"]).total_seconds()
    if status == "InProgress" and elapsed_seconds > stop_after_seconds:
        sagemaker.stop_training_job(TrainingJobName=job_name)
        raise TrainingDeadlineExceeded(
            f"training job {job_name} still running after {int(elapsed_seconds) // 60} minutes, longer than a "
            "deploy can wait; it was stopped. Lower training_max_runtime_minutes or epochs, or train outside "
            "the deploy and pass -c model_data_url=s3://.../model.tar.gz"
        )
    return {"IsComplete": False}


def gated_accuracy(job: dict[str, Any], properties: dict[str, Any]) -> float:
    """The job's validation accuracy if it reaches the bar; a failed gate fails the deploy before serving changes."""
    bar = _as_float(properties, "MinValidationAccuracy")
    name = job["TrainingJobName"]
    values = [m for m in job.get("FinalMetricDataList", []) if m.get("MetricName") == ACCURACY_METRIC]
    if not values:
        raise ValidationAccuracyMissing(
            f"training job {name} reported no {ACCURACY_METRIC}, so min_validation_accuracy {_shown(bar)} cannot be "
            "checked; read its CloudWatch log (/aws/sagemaker/TrainingJobs) for the validation channel's errors"
        )
    # The latest value is the one the job ended with, i.e. the saved model's; earlier ones are earlier epochs.
    accuracy = float(max(values, key=lambda metric: metric["Timestamp"])["Value"])
    _log("validation accuracy", job=name, accuracy=accuracy, min_validation_accuracy=bar)
    if accuracy < bar:
        raise ValidationAccuracyTooLow(
            f"validation accuracy {_shown(accuracy)} is below min_validation_accuracy {_shown(bar)} (job {name}); "
            "it is not served. Train better (more data, epochs, other hyperparameter_overrides), or lower "
            "the bar with -c min_validation_accuracy=..., or serve a registered version with -c model_version=N"
        )
    return accuracy


def job_base_name(properties: dict[str, Any]) -> str:
    """`<prefix>-<16 hex of sha256 over the hashed properties>`: at most 41 + 1 + 16 = 58 characters."""
    missing = [name for name in (*HASHED_PROPERTIES, "JobNamePrefix") if name not in properties]
    if missing:
        raise MalformedProperties(f"missing resource properties: {', '.join(missing)}")
    canonical = json.dumps({name: properties[name] for name in HASHED_PROPERTIES}, sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]
    return f"{properties['JobNamePrefix']}-{digest}"


def start_or_adopt_job(sagemaker: Any, properties: dict[str, Any]) -> str:
    if _as_flag(properties, "DatasetSynthetic"):
        raise DemoDatasetRefused(
            "refusing to train on the generated demo dataset (synthetic images): run `make data` to prepare "
            "the real dataset, then deploy again"
        )
    base_name = job_base_name(properties)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = base_name if attempt == 1 else f"{base_name}-r{attempt}"
        job = describe_job(sagemaker, name)
        if job is None:
            sagemaker.create_training_job(**training_job_request(name, properties))
            _log("created training job", job=name)
            return name
        if job["TrainingJobStatus"] in ("Completed", "InProgress"):
            _log("adopted existing training job", job=name, status=job["TrainingJobStatus"])
            return name
        _log("attempt name taken by an unsuccessful job", job=name, status=job["TrainingJobStatus"])
    raise TooManyAttempts(
        f"{MAX_ATTEMPTS} training jobs for these inputs ({base_name}...) failed or were stopped; "
        "change a hyperparameter or the dataset after reading their FailureReason"
    )


def update_job(sagemaker: Any, properties: dict[str, Any], old_job_name: str) -> str:
    # Unchanged model-shaping inputs (e.g. only the role changed) keep the current job.
    base_name = job_base_name(properties)
    if old_job_name == base_name or re.fullmatch(re.escape(base_name) + r"-r[2-9]", old_job_name):
        _log("inputs unchanged, keeping training job", job=old_job_name)
        return old_job_name
    # A new name makes CloudFormation send a Delete for the old one once the update has succeeded.
    return start_or_adopt_job(sagemaker, properties)


def delete_target(properties: dict[str, Any], physical_id: str) -> str:
    """The job a Delete is about; when CloudFormation gave up waiting on a Create it invents a physical id
    that names no job, but the job name can still be derived from the properties."""
    prefix = properties.get("JobNamePrefix", "")
    if prefix and physical_id.startswith(f"{prefix}-"):
        return physical_id
    return job_base_name(properties)


def describe_job(sagemaker: Any, job_name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_training_job(TrainingJobName=job_name)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        message = error.response["Error"].get("Message", "")
        # SageMaker answers an unknown training job with a ValidationException, not ResourceNotFound.
        if code == "ResourceNotFound" or (code == "ValidationException" and "not found" in message.lower()):
            return None
        raise


def _as_int(properties: dict[str, Any], name: str) -> int:
    try:
        return int(properties[name])
    except (KeyError, TypeError, ValueError):
        raise MalformedProperties(f"{name} must be an integer, got {properties.get(name)!r}") from None


def _as_flag(properties: dict[str, Any], name: str) -> bool:
    # The stack renders a boolean as "true" or "false"; anything else is refused, not read as false.
    value = properties.get(name)
    if value not in ("true", "false"):
        raise MalformedProperties(f'{name} must be "true" or "false", got {value!r}')
    return value == "true"


def _shown(share: float) -> str:
    """Two decimals unless that would hide the difference (0.795 is not shown as 0.80)."""
    return f"{share:.2f}" if round(share, 2) == share else f"{share:.4f}"


def _as_float(properties: dict[str, Any], name: str) -> float:
    try:
        return float(properties[name])
    except (KeyError, TypeError, ValueError):
        raise MalformedProperties(f"{name} must be a number, got {properties.get(name)!r}") from None


def training_job_request(job_name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The CreateTrainingJob request: the built-in algorithm in File mode on the four .lst channels."""
    channels = properties["Channels"]
    if not isinstance(channels, dict) or set(channels) != set(CHANNEL_NAMES):
        raise MalformedProperties(f"Channels must map exactly {', '.join(CHANNEL_NAMES)} to S3 URIs")
    hyperparameters = properties["Hyperparameters"]
    if not isinstance(hyperparameters, dict) or not all(isinstance(v, str) for v in hyperparameters.values()):
        raise MalformedProperties("Hyperparameters must map names to strings")
    use_spot = _as_flag(properties, "UseSpotTraining")
    stopping_condition = {"MaxRuntimeInSeconds": _as_int(properties, "MaxRuntimeSeconds")}
    if use_spot:
        stopping_condition["MaxWaitTimeInSeconds"] = _as_int(properties, "MaxWaitSeconds")
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": properties["TrainingImage"], "TrainingInputMode": "File"},
        "RoleArn": properties["RoleArn"],
        "HyperParameters": dict(hyperparameters),
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": channels[name],
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": CHANNEL_CONTENT_TYPE,
                "CompressionType": "None",
            }
            for name in CHANNEL_NAMES
        ],
        "OutputDataConfig": {"S3OutputPath": properties["OutputPath"]},
        "ResourceConfig": {
            "InstanceType": properties["InstanceType"],
            "InstanceCount": _as_int(properties, "InstanceCount"),
            "VolumeSizeInGB": _as_int(properties, "VolumeSizeGb"),
        },
        "StoppingCondition": stopping_condition,
        "EnableManagedSpotTraining": use_spot,
    }
