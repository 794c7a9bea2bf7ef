"""Start one workflow execution per test image, wait for them, and report how each one ended."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial

from botocore.exceptions import ClientError
from tqdm import tqdm

from ops.errors import StateMachineNotFound

THRESHOLD_ERROR = "ThresholdConfidenceNotMet"
# Step Functions execution names: at most 80 letters, digits, '-' and '_'.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

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
    state_machine_type = _state_machine_type(sfn_client, state_machine_arn)
    run_id = uuid.uuid4().hex[:8]
    names = [_execution_name(run_id, index, image) for index, image in enumerate(images)]
    if state_machine_type == "EXPRESS":
        return _run_express(
            sfn_client, state_machine_arn, images, names, workers=express_workers, progress=progress
        )
    return _run_standard(
        sfn_client, state_machine_arn, images, names, timeout_s=timeout_s, poll_s=poll_s, progress=progress
    )


def _run_standard(
    sfn_client,
    state_machine_arn: str,
    images: Sequence[TestImage],
    names: Sequence[str],
    *,
    timeout_s: float,
    poll_s: float,
    progress: bool,
) -> list[ExecutionOutcome]:
    arns = [
        sfn_client.start_execution(stateMachineArn=state_machine_arn, name=name, input=_input(image))[
            "executionArn"
        ]
        for image, name in zip(images, names, strict=True)
    ]
    finished: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    with tqdm(total=len(arns), desc="executions", unit="exec", disable=not progress) as bar:
        while True:
            for arn in arns:
                if arn in finished:
                    continue
                description = sfn_client.describe_execution(executionArn=arn)
                if description["status"] != "RUNNING":
                    finished[arn] = description
                    bar.update(1)
            remaining_s = deadline - time.monotonic()
            if len(finished) == len(arns) or remaining_s <= 0:
                break
            time.sleep(min(poll_s, remaining_s))
    return [
        _outcome(image, arn, finished.get(arn), partial(_prediction_from_history, sfn_client, arn))
        for image, arn in zip(images, arns, strict=True)
    ]


def _run_express(
    sfn_client,
    state_machine_arn: str,
    images: Sequence[TestImage],
    names: Sequence[str],
    *,
    workers: int,
    progress: bool,
) -> list[ExecutionOutcome]:
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(images), desc="executions", unit="exec", disable=not progress) as bar,
    ):
        futures = [
            pool.submit(
                sfn_client.start_sync_execution,
                stateMachineArn=state_machine_arn,
                name=name,
                input=_input(image),
            )
            for image, name in zip(images, names, strict=True)
        ]
        for _ in as_completed(futures):
            bar.update(1)
    responses = [future.result() for future in futures]
    return [
        _outcome(
            image, response["executionArn"], response, partial(_prediction_from_cause, response.get("cause"))
        )
        for image, response in zip(images, responses, strict=True)
    ]


def _state_machine_type(sfn_client, state_machine_arn: str) -> str:
    try:
        return sfn_client.describe_state_machine(stateMachineArn=state_machine_arn)["type"]
    except ClientError as error:
        if error.response["Error"]["Code"] in {"StateMachineDoesNotExist", "InvalidArn"}:
            raise StateMachineNotFound(
                f"no state machine {state_machine_arn!r}: {error.response['Error']['Message']}"
            ) from error
        raise


def _execution_name(run_id: str, index: int, image: TestImage) -> str:
    # Unique per start (moto names unnamed executions all "None"), readable in the console.
    return f"ops-{run_id}-{index:04d}-{_NAME_UNSAFE.sub('-', image.key.rsplit('/', 1)[-1])}"[:80]


def _input(image: TestImage) -> str:
    return json.dumps({"s3_bucket": image.bucket, "s3_key": image.key})


def _outcome(
    image: TestImage,
    arn: str,
    ended: dict | None,
    rejected_prediction: Callable[[], Prediction | None],
) -> ExecutionOutcome:
    # `ended`: DescribeExecution's or StartSyncExecution's answer (None: running); no rejection's prediction.
    if ended is None:
        return ExecutionOutcome(image, arn, "RUNNING", None, None, None, None)
    status = ended["status"]
    prediction: Prediction | None = None
    if status == "SUCCEEDED":
        prediction = _prediction_from_state(_json_or_none(ended.get("output")))
    elif status == "FAILED" and ended.get("error") == THRESHOLD_ERROR:
        prediction = rejected_prediction()
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
    if details is None:
        return None
    confidence = details.get("top_confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return None
    predicted_class = details.get("predicted_class")
    return (predicted_class if isinstance(predicted_class, str) else None), float(confidence)


def _rejection_details(cause: str | None) -> dict | None:
    lambda_error = _json_or_none(cause)
    message = lambda_error.get("errorMessage") if isinstance(lambda_error, dict) else None
    details = _json_or_none(message) if isinstance(message, str) else None
    return details if isinstance(details, dict) else None


def _prediction_from_state(state: object) -> Prediction | None:
    if not isinstance(state, dict):
        return None
    inferences = state.get("inferences")
    if not isinstance(inferences, list) or not inferences:
        return None
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in inferences):
        return None
    predicted_class = state.get("predicted_class")
    return (predicted_class if isinstance(predicted_class, str) else None), float(max(inferences))


def _json_or_none(text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # Step Functions truncates large history payloads; such an event simply carries no prediction.
        return None


def render_table(outcomes: Sequence[ExecutionOutcome], *, class_names: Sequence[str] | None = None) -> str:
    # Status last: it carries the error message, the one cell of unbounded width.
    header = ("image", "true class", "predicted", "confidence", "as designed", "status")
    rows = [
        (
            outcome.image.key,
            outcome.image.true_class or "-",
            outcome.predicted_class or "-",
            "-" if outcome.confidence is None else f"{outcome.confidence:.3f}",
            "yes" if outcome.as_designed else "NO",
            _status_text(outcome),
        )
        for outcome in outcomes
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    lines.append(_summary_line(outcomes))
    if class_names:
        lines.extend(_per_class_lines(outcomes, class_names))
    return "\n".join(lines)


def _status_text(outcome: ExecutionOutcome) -> str:
    if outcome.status == "SUCCEEDED" or outcome.error is None:
        return outcome.status
    return f"{outcome.status} {outcome.error}: {_short_cause(outcome.cause)}"


def _short_cause(cause: str | None, limit: int = 80) -> str:
    text = " ".join(_cause_message(cause).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cause_message(cause: str | None) -> str:
    # A Lambda error's cause is a JSON object; its errorMessage is the readable part, unless that is itself
    # structured (the filter's rejection details), whose own "message" is.
    details = _rejection_details(cause)
    if details is not None and isinstance(details.get("message"), str):
        return details["message"]
    parsed = _json_or_none(cause)
    text = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    return str(text or "")


def _summary_line(outcomes: Sequence[ExecutionOutcome]) -> str:
    succeeded = sum(outcome.status == "SUCCEEDED" for outcome in outcomes)
    rejected = sum(outcome.as_designed and outcome.status == "FAILED" for outcome in outcomes)
    unexpected = sum(not outcome.as_designed for outcome in outcomes)
    return (
        f"{len(outcomes)} executions: {succeeded} succeeded, {rejected} failed as designed "
        f"({THRESHOLD_ERROR}), {unexpected} unexpected"
    )


def _per_class_lines(outcomes: Sequence[ExecutionOutcome], class_names: Sequence[str]) -> list[str]:
    lines = []
    width = max(len(name) for name in class_names)
    for name in class_names:
        of_class = [outcome for outcome in outcomes if outcome.image.true_class == name]
        correct = sum(outcome.predicted_class == name for outcome in of_class)
        succeeded = sum(outcome.status == "SUCCEEDED" for outcome in of_class)
        lines.append(
            f"  {name.ljust(width)}  images {len(of_class)}, predicted correctly {correct}, succeeded {succeeded}"
        )
    return lines
