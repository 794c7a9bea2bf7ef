"""serialize -> classify -> filter as Step Functions states, one builder for the single-image and the batch workflows
(docs/CONTRACTS.md, "Workflow state" and "Batch classification")."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.workflow_functions import InferenceFunctions, WorkflowFunction

# Error names raised by the handlers (docs/CONTRACTS.md); each task catches only names its own handler raises
# (tests/cdk/test_error_names.py holds both ways).
MALFORMED_EVENT_ERROR = "MalformedEvent"
# The classifier reads an image passed by reference itself: the object may be gone or replaced by then.
REFERENCED_IMAGE_ERRORS = ("ImageNotFound", "ImageUnreadable")
INPUT_ERRORS = (
    MALFORMED_EVENT_ERROR,
    *REFERENCED_IMAGE_ERRORS,
    "NotAnImage",
    "UnsupportedImageFormat",
    "ImageTooLarge",
)
# Retried; when the retries run out the execution fails under this name (no Fail state pretends otherwise).
TRANSIENT_STORAGE_ERRORS = ("StorageUnavailable",)
ENDPOINT_ERRORS = ("EndpointError", "EndpointThrottled", "MalformedEndpointResponse")
TRANSIENT_ENDPOINT_ERRORS = ("EndpointThrottled",)
LOW_CONFIDENCE_ERROR = "ThresholdConfidenceNotMet"
# Raised by a handler and caught by no Catch, on purpose: the execution fails under the error's own name.
UNCAUGHT_ERRORS = {
    "StorageUnavailable": "serialize, classify, after their retries: S3 was unavailable, nothing is wrong with the "
    "image, so no ImageRejected state may call it a rejection",
    "ConfigurationError": "serialize, classify, filter: a missing or invalid environment variable is a deployment "
    "defect, not a verdict on the image or the endpoint; it must stand out under its own name",
}
# Lambda's own throttling is not in LambdaInvoke's default service-exception retry.
TRANSIENT_LAMBDA_ERRORS = ("Lambda.TooManyRequestsException",)

# A batch child's outcome record (docs/CONTRACTS.md, "Batch classification").
OUTCOME_SUCCEEDED = "succeeded"
OUTCOME_BELOW_THRESHOLD = "below_threshold"
OUTCOME_FAILED = "failed"


class ChainEnd(enum.Enum):
    """Single image: each failure family ends in its named Fail state. Batch child: every designed outcome is a
    record, so the map's ToleratedFailurePercentage counts only real failures."""

    FAIL_EXECUTION = "fail_execution"
    RECORD_OUTCOME = "record_outcome"


class InferenceChain(Construct):
    """The three tasks with their retries and catches; Catch adds the error under $.failure, keeping the input."""

    def __init__(
        self, scope: Construct, construct_id: str, *, functions: InferenceFunctions, end: ChainEnd
    ) -> None:
        super().__init__(scope, construct_id)
        serialize = lambda_task(self, "SerializeImage", functions.serialize, TRANSIENT_STORAGE_ERRORS)
        classify = lambda_task(
            self, "ClassifyImage", functions.classify, TRANSIENT_ENDPOINT_ERRORS + TRANSIENT_STORAGE_ERRORS
        )
        filter_inferences = lambda_task(self, "FilterInferences", functions.filter)

        if end is ChainEnd.FAIL_EXECUTION:
            named = {"error_path": "$.failure.Error", "cause_path": "$.failure.Cause"}
            input_rejected: sfn.IChainable = sfn.Fail(self, "ImageRejected", **named)
            endpoint_failed: sfn.IChainable = sfn.Fail(self, "EndpointFailed", **named)
            low_confidence: sfn.IChainable = sfn.Fail(
                self, "ConfidenceBelowThreshold", error=LOW_CONFIDENCE_ERROR, cause_path="$.failure.Cause"
            )
            classified: sfn.IChainable = sfn.Succeed(self, "VehicleClassified")
        else:
            # Both failure families make the same record; the error name tells them apart.
            input_rejected = endpoint_failed = self._record("RecordFailed", OUTCOME_FAILED, prediction=False)
            low_confidence = self._record("RecordBelowThreshold", OUTCOME_BELOW_THRESHOLD, prediction=True)
            classified = self._record("RecordSucceeded", OUTCOME_SUCCEEDED, prediction=True)

        serialize.add_catch(input_rejected, errors=list(INPUT_ERRORS), result_path="$.failure")
        classify.add_catch(
            input_rejected, errors=[MALFORMED_EVENT_ERROR, *REFERENCED_IMAGE_ERRORS], result_path="$.failure"
        )
        filter_inferences.add_catch(input_rejected, errors=[MALFORMED_EVENT_ERROR], result_path="$.failure")
        classify.add_catch(endpoint_failed, errors=list(ENDPOINT_ERRORS), result_path="$.failure")
        filter_inferences.add_catch(low_confidence, errors=[LOW_CONFIDENCE_ERROR], result_path="$.failure")

        self.definition: sfn.IChainable = serialize.next(classify).next(filter_inferences).next(classified)

    def _record(self, state_id: str, outcome: str, *, prediction: bool) -> sfn.Pass:
        """The image's outcome record in place of the state (and its base64 image); `inferences` stands in for the
        top confidence, as ASL has no max() intrinsic."""
        failed = outcome != OUTCOME_SUCCEEDED
        parameters = {
            "s3_key": sfn.JsonPath.string_at("$.s3_key"),
            "outcome": outcome,
            "error": sfn.JsonPath.string_at("$.failure.Error") if failed else None,
            "cause": sfn.JsonPath.string_at("$.failure.Cause") if failed else None,
            # A rejected image may have no prediction yet: a path to a missing field is a runtime error.
            "predicted_class": sfn.JsonPath.string_at("$.predicted_class") if prediction else None,
            "inferences": sfn.JsonPath.list_at("$.inferences") if prediction else None,
        }
        return sfn.Pass(self, state_id, parameters=parameters)


def lambda_task(
    scope: Construct,
    state_id: str,
    function: WorkflowFunction,
    transient_errors: tuple[str, ...] = (),
    payload: Mapping[str, Any] | None = None,
) -> tasks.LambdaInvoke:
    """A task returning the handler's payload, retrying Lambda's own hiccups and `transient_errors`."""
    task = tasks.LambdaInvoke(
        scope,
        state_id,
        lambda_function=function.function,
        payload=sfn.TaskInput.from_object(dict(payload)) if payload else None,
        payload_response_only=True,
        retry_on_service_exceptions=True,
    )
    task.add_retry(
        errors=list(TRANSIENT_LAMBDA_ERRORS), interval=Duration.seconds(2), max_attempts=4, backoff_rate=2
    )
    if transient_errors:
        task.add_retry(
            errors=list(transient_errors), interval=Duration.seconds(1), max_attempts=3, backoff_rate=2
        )
    return task
