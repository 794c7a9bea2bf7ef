"""Start one workflow execution per test image, wait for them, and report how each one ended."""

from __future__ import annotations

import json
import re
import textwrap
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from botocore.exceptions import ClientError
from tqdm import tqdm

from ops.capture import numbers
from ops.errors import OpsError

THRESHOLD_ERROR = "ThresholdConfidenceNotMet"
# Step Functions execution names: at most 80 letters, digits, '-' and '_'.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# Issue 16: output a person reads fits 100 columns.
TABLE_WIDTH = 100

# (predicted class, or None when the workflow named none; top confidence)
Prediction = tuple[str | None, float]


@dataclass(frozen=True)
class TestImage:
    __test__ = False  # not a pytest test class

    bucket: str
    key: str
    true_class: str | None = None


@dataclass(frozen=True)
class ExecutionOutcome:
    image: TestImage
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED | RUNNING (still running when we stopped waiting)
    error: str | None
    cause: str | None
    predicted_class: str | None
    confidence: float | None

    @property
    def as_designed(self) -> bool:
        return self.status == "SUCCEEDED" or (self.status == "FAILED" and self.error == THRESHOLD_ERROR)


def run_executions(
    sfn_client,
    state_machine_arn: str,
    images: Sequence[TestImage],
    *,
    timeout_s: float = 300,
    poll_s: float = 1.0,
    progress: bool = True,
    express_workers: int = 4,
) -> list[ExecutionOutcome]:
    """One execution per image, in the order of `images`; EXPRESS ones run through StartSyncExecution, as
    Step Functions answers neither DescribeExecution nor GetExecutionHistory for them."""
    try:
        machine_type = sfn_client.describe_state_machine(stateMachineArn=state_machine_arn)["type"]
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"StateMachineDoesNotExist", "InvalidArn"}:
            raise
        raise OpsError(
            f"no state machine {state_machine_arn!r}: {error.response['Error']['Message']}"
        ) from error
    run_id = uuid.uuid4().hex[:8]
    # Names unique per start (moto names unnamed executions all "None"), readable in the console.
    starts = [
        {
            "stateMachineArn": state_machine_arn,
            "name": f"ops-{run_id}-{index:04d}-{_NAME_UNSAFE.sub('-', image.key.rsplit('/', 1)[-1])}"[:80],
            "input": json.dumps({"s3_bucket": image.bucket, "s3_key": image.key}),
        }
        for index, image in enumerate(images)
    ]
    express = machine_type == "EXPRESS"
    with tqdm(total=len(images), desc="executions", unit="exec", disable=not progress) as bar:
        if express:
            with ThreadPoolExecutor(max_workers=express_workers) as pool:
                futures = [pool.submit(sfn_client.start_sync_execution, **start) for start in starts]
                for _ in as_completed(futures):
                    bar.update(1)
            ended = [future.result() for future in futures]
            arns = [response["executionArn"] for response in ended]
        else:
            arns = [sfn_client.start_execution(**start)["executionArn"] for start in starts]
            ended = _wait_standard(sfn_client, arns, bar, timeout_s=timeout_s, poll_s=poll_s)
    return [
        _outcome(sfn_client, image, arn, answer, express=express)
        for image, arn, answer in zip(images, arns, ended, strict=True)
    ]


def _wait_standard(sfn_client, arns: Sequence[str], bar: tqdm, *, timeout_s: float, poll_s: float):
    # None for an execution still running at the deadline.
    finished: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        for arn in arns:
            if arn not in finished:
                description = sfn_client.describe_execution(executionArn=arn)
                if description["status"] != "RUNNING":
                    finished[arn] = description
                    bar.update(1)
        remaining_s = deadline - time.monotonic()
        if len(finished) == len(arns) or remaining_s <= 0:
            return [finished.get(arn) for arn in arns]
        time.sleep(min(poll_s, remaining_s))


def _outcome(
    sfn_client, image: TestImage, arn: str, ended: dict | None, *, express: bool
) -> ExecutionOutcome:
    if ended is None:
        return ExecutionOutcome(image, arn, "RUNNING", None, None, None, None)
    status = ended["status"]
    prediction: Prediction | None = None
    if status == "SUCCEEDED":
        prediction = _prediction_from_state(_json_or_none(ended.get("output")))
    elif status == "FAILED" and ended.get("error") == THRESHOLD_ERROR:
        if express:
            prediction = _prediction_from_cause(ended.get("cause"))
        else:
            prediction = _prediction_from_history(sfn_client, arn)
    return ExecutionOutcome(
        image, arn, status, ended.get("error"), ended.get("cause"), *(prediction or (None, None))
    )


def _prediction_from_history(sfn_client, arn: str) -> Prediction | None:
    """The prediction in the last state input that carries inferences (the filter's)."""
    pages = sfn_client.get_paginator("get_execution_history").paginate(executionArn=arn, reverseOrder=True)
    for page in pages:
        for event in page["events"]:
            state_input = event.get("stateEnteredEventDetails", {}).get("input")
            prediction = _prediction_from_state(_json_or_none(state_input))
            if prediction is not None:
                return prediction
    return None


def _prediction_from_cause(cause: str | None) -> Prediction | None:
    """The prediction in the filter's rejection: a Lambda error whose errorMessage is JSON (docs/CONTRACTS.md)."""
    details = _rejection_details(cause)
    confidence = numbers([details.get("top_confidence")]) if details else None
    if not confidence:
        return None
    predicted_class = details.get("predicted_class")
    return (predicted_class if isinstance(predicted_class, str) else None), confidence[0]


def _rejection_details(cause: str | None) -> dict | None:
    lambda_error = _json_or_none(cause)
    details = _json_or_none(lambda_error.get("errorMessage")) if isinstance(lambda_error, dict) else None
    return details if isinstance(details, dict) else None


def _prediction_from_state(state: object) -> Prediction | None:
    inferences = numbers(state.get("inferences")) if isinstance(state, dict) else None
    if not inferences:
        return None
    predicted_class = state.get("predicted_class")
    return (predicted_class if isinstance(predicted_class, str) else None), max(inferences)


def _json_or_none(text: object) -> object:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        # Not text, or not JSON: Step Functions truncates large history payloads; such an event carries no
        # prediction.
        return None


def render_table(outcomes: Sequence[ExecutionOutcome], *, class_names: Sequence[str] | None = None) -> str:
    header = ("image", "true class", "predicted", "confidence", "as designed", "status")
    rows = [
        (
            outcome.image.key,
            outcome.image.true_class or "-",
            outcome.predicted_class or "-",
            "-" if outcome.confidence is None else f"{outcome.confidence:.3f}",
            "yes" if outcome.as_designed else "NO",
            outcome.status,
        )
        for outcome in outcomes
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    # The image column gives way so that a row fits TABLE_WIDTH: a long key keeps its end, the file name.
    widths[0] = max(len(header[0]), min(widths[0], TABLE_WIDTH - sum(widths[1:]) - 2 * (len(header) - 1)))

    def line(row: Sequence[str]) -> str:
        image = row[0] if len(row[0]) <= widths[0] else "..." + row[0][3 - widths[0] :]
        cells = (image, *row[1:])
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    lines = [line(header), "  ".join("-" * width for width in widths)]
    for row, outcome in zip(rows, outcomes, strict=True):
        lines.append(line(row))
        if outcome.error is not None:
            # The error and its cause under the row, the cause wrapped and cut short at two lines.
            cause = cause_message(outcome.cause)
            message = f"{outcome.error}: {cause}" if cause else outcome.error
            lines.append(
                textwrap.fill(
                    message, TABLE_WIDTH, initial_indent="    ", subsequent_indent="    ", max_lines=2
                )
            )
    succeeded, as_designed, unexpected = outcome_counts(outcomes)
    lines += [
        "",
        f"{len(outcomes)} executions: {succeeded} succeeded, {as_designed} failed as designed ({THRESHOLD_ERROR}), "
        f"{unexpected} unexpected",
    ]
    width = max((len(name) for name in class_names or ()), default=0)
    for name in class_names or ():
        of_class = [outcome for outcome in outcomes if outcome.image.true_class == name]
        correct = sum(outcome.predicted_class == name for outcome in of_class)
        succeeded = sum(outcome.status == "SUCCEEDED" for outcome in of_class)
        lines.append(
            f"  {name.ljust(width)}  images {len(of_class)}, predicted correctly {correct}, succeeded {succeeded}"
        )
    return "\n".join(lines)


def cause_message(cause: str | None) -> str:
    """The readable part of an execution's cause, on one line. A Lambda error's cause is a JSON object whose
    errorMessage is that part, unless it is itself structured (the filter's rejection details, whose "message" is)."""
    details = _rejection_details(cause)
    if details is not None and isinstance(details.get("message"), str):
        return " ".join(details["message"].split())
    parsed = _json_or_none(cause)
    text = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    return " ".join(str(text or "").split())


def outcome_counts(outcomes: Sequence[ExecutionOutcome]) -> tuple[int, int, int]:
    """(succeeded, failed as designed, unexpected) of the outcomes."""
    succeeded = sum(outcome.status == "SUCCEEDED" for outcome in outcomes)
    unexpected = sum(not outcome.as_designed for outcome in outcomes)
    return succeeded, len(outcomes) - succeeded - unexpected, unexpected
