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
from stacks.names import NEEDS_REVIEW_EVENT, VEHICLE_CLASSIFIED_EVENT

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
ENDPOINT_ERRORS = ("EndpointError", "EndpointThrottled", "MalformedEndpointResponse", "ModelLookupFailed")
# ModelLookupFailed: mostly the Describe calls' throttling; the lookup runs before InvokeEndpoint, so a retry
# classifies (and captures) the image once.
TRANSIENT_ENDPOINT_ERRORS = ("EndpointThrottled", "ModelLookupFailed")
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

# Where the below-threshold path keeps the parsed verdict, beside the input and $.failure.
REVIEW_PATH = "$.review"

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
    """The three tasks with their retries and catches; Catch adds the error under $.failure, keeping the input.
    FAIL_EXECUTION publishes the outcome on the default bus with Source `event_source` before it ends."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: InferenceFunctions,
        end: ChainEnd,
        event_source: str | None = None,
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
            if not event_source:
                raise ValueError("the single-image chain publishes its outcome: give it an event_source")
            # The filter's JSON message (docs/CONTRACTS.md, "Errors") inside the Lambda error's JSON Cause.
            read_verdict = sfn.Pass(
                self,
                "ReadLambdaError",
                parameters={
                    "lambda_error": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at("$.failure.Cause"))
                },
                result_path=REVIEW_PATH,
            ).next(
                sfn.Pass(
                    self,
                    "ReadVerdict",
                    parameters={
                        "verdict": sfn.JsonPath.string_to_json(
                            sfn.JsonPath.string_at(f"{REVIEW_PATH}.lambda_error.errorMessage")
                        )
                    },
                    result_path=REVIEW_PATH,
                )
            )
            low_confidence: sfn.IChainable = read_verdict.next(
                self._publish(
                    "PublishNeedsReview", NEEDS_REVIEW_EVENT, event_source, f"{REVIEW_PATH}.verdict"
                )
            ).next(
                sfn.Fail(
                    self, "ConfidenceBelowThreshold", error=LOW_CONFIDENCE_ERROR, cause_path="$.failure.Cause"
                )
            )
            classified: sfn.IChainable = self._publish(
                "PublishClassified", VEHICLE_CLASSIFIED_EVENT, event_source, "$"
            ).next(sfn.Succeed(self, "VehicleClassified"))
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

    def _publish(
        self, state_id: str, detail_type: str, source: str, confidence_at: str
    ) -> tasks.EventBridgePutEvents:
        """One event on the default bus (docs/CONTRACTS.md, "Outcome events"); the state passes through unchanged.

        Retried on any failure (EventBridge.FailedEntry when PutEvents refused the entry:
        https://docs.aws.amazon.com/step-functions/latest/dg/connect-eventbridge.html), then not caught: an outcome
        dispatch never heard of fails the execution under that error instead of passing for a success."""
        detail = {
            "s3_bucket": sfn.JsonPath.string_at("$.s3_bucket"),
            "s3_key": sfn.JsonPath.string_at("$.s3_key"),
            "predicted_class": sfn.JsonPath.string_at("$.predicted_class"),
            "confidence": sfn.JsonPath.number_at(f"{confidence_at}.top_confidence"),
            "model_name": sfn.JsonPath.string_at("$.model_name"),
            "model_version": sfn.JsonPath.string_at("$.model_version"),
        }
        task = tasks.EventBridgePutEvents(
            self,
            state_id,
            entries=[
                tasks.EventBridgePutEventsEntry(
                    detail=sfn.TaskInput.from_object(detail), detail_type=detail_type, source=source
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
        )
        task.add_retry(
            errors=[sfn.Errors.TASKS_FAILED], interval=Duration.seconds(1), max_attempts=3, backoff_rate=2
        )
        return task

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
