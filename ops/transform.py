"""`ops transform`: a Batch Transform job over a prefix, through the transform state machine; its results counted."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ops.batch import ended_badly, start_execution, wait_for_execution
from ops.capture import numbers, object_keys
from ops.errors import OpsError, RunFailed

# The state machine's rule (stacks/constructs/transform_workflow.py, TRANSFORM_JOB_NAME):
# "transform-" + the MD5 of the execution ARN in hex; tests/cdk/test_transform_workflow.py holds both together.
# The state machine's Fail state for a prefix outside the model's input area.
INVALID_INPUT_ERROR = "InvalidTransformInput"
RESULT_SUFFIX = ".out"


class TransformResultsMissing(RunFailed):
    pass


@dataclass(frozen=True)
class TransformRun:
    execution_arn: str
    job_name: str
    output_uri: str


@dataclass
class ResultSummary:
    threshold: float
    per_class: Counter[str] = field(default_factory=Counter)
    below_threshold: Counter[str] = field(default_factory=Counter)
    unreadable: list[str] = field(default_factory=list)


def transform_job_name(execution_arn: str) -> str:
    return "transform-" + hashlib.md5(execution_arn.encode()).hexdigest()


def require_images(s3_client, bucket: str, prefix: str) -> None:
    listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    if not listing.get("KeyCount"):
        raise OpsError(f"no object under s3://{bucket}/{prefix}: nothing to transform")


def run_transform(
    sfn_client,
    sagemaker_client,
    state_machine_arn: str,
    prefix: str,
    *,
    timeout_s: float,
    poll_s: float,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> TransformRun:
    """Start the transform, report each change of the job's status, and return where its results are."""
    execution_arn = start_execution(sfn_client, state_machine_arn, "transform", {"prefix": prefix})
    job_name = transform_job_name(execution_arn)
    report(f"started {execution_arn}; transform job {job_name}")
    job: dict[str, Any] | None = None
    status = ""

    def report_job_status() -> None:
        nonlocal job, status
        try:
            job = sagemaker_client.describe_transform_job(TransformJobName=job_name)
        except ClientError as error:
            # ValidationException: the state machine has not created the job yet.
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            job = None
        latest = job["TransformJobStatus"] if job else "waiting for the job to be created"
        if latest != status:
            status = latest
            report(f"job {job_name}: {status}")

    # The job is described once more after the execution has ended, so its final status and reason are known.
    description = wait_for_execution(
        sfn_client, execution_arn, timeout_s=timeout_s, poll_s=poll_s, on_poll=report_job_status
    )
    if description["status"] == "SUCCEEDED":
        output = json.loads(description.get("output") or "{}")
        if not output.get("output_uri"):
            raise TransformResultsMissing(
                f"execution {execution_arn} succeeded without an output_uri in its output: {output!r}"
            )
        return TransformRun(execution_arn, output.get("job_name", job_name), output["output_uri"])
    if description.get("error") == INVALID_INPUT_ERROR:
        raise OpsError(f"the transform state machine refused the input: {description.get('cause')}")
    if job and job.get("FailureReason"):
        raise RunFailed(
            f"transform job {job_name} {job['TransformJobStatus']}: {job['FailureReason']} "
            f"(execution {execution_arn} {description['status']})"
        )
    job_state = (
        f"transform job {job_name} is {job['TransformJobStatus']}" if job else "no transform job was created"
    )
    raise ended_badly(description, f" ({job_state})")


def summarize_results(
    s3_client, output_uri: str, *, threshold: float, class_names: Sequence[str] | None
) -> ResultSummary:
    summary = ResultSummary(threshold=threshold)
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    for key in object_keys(s3_client, bucket, prefix, RESULT_SUFFIX):
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        probabilities = _probabilities(body, class_names)
        if probabilities is None:
            summary.unreadable.append(key)
            continue
        top = max(range(len(probabilities)), key=probabilities.__getitem__)
        name = class_names[top] if class_names else f"class {top}"
        summary.per_class[name] += 1
        if probabilities[top] < threshold:
            summary.below_threshold[name] += 1
    if not summary.per_class and not summary.unreadable:
        raise TransformResultsMissing(f"no result file (*{RESULT_SUFFIX}) under {output_uri}")
    return summary


def _probabilities(body: bytes, class_names: Sequence[str] | None) -> list[float] | None:
    """The JSON list of probabilities the classifier answers; None when the file is anything else."""
    try:
        values = numbers(json.loads(body))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not values or (class_names is not None and len(values) != len(class_names)):
        return None
    return values


def render_results(run: TransformRun, summary: ResultSummary) -> str:
    lines = [
        f"transform job {run.job_name}: {summary.per_class.total()} images scored",
        f"{'class':<16}{'images':>8}  below {summary.threshold:g}",
    ]
    lines += [
        f"{name:<16}{count:>8}  {summary.below_threshold[name]}"
        for name, count in sorted(summary.per_class.items())
    ]
    if summary.unreadable:
        lines.append(
            f"{len(summary.unreadable)} result files were not a list of probabilities, e.g. {summary.unreadable[0]}"
        )
    lines.append(f"results: {run.output_uri}")
    return "\n".join(lines)
