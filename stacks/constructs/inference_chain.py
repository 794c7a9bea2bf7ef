"""serialize -> classify -> filter as Step Functions states: one builder for every workflow that classifies images.

The single-image state machine and the batch's child workflow both take their chain from `InferenceChain`, so
their tasks, retries and catches cannot drift apart. They differ only in how an outcome ends (`ChainEnd`):

- `FAIL_EXECUTION` (single image): each failure family ends in its own named Fail state, so the execution's
  error says what went wrong (ImageRejected, EndpointFailed, ConfidenceBelowThreshold).
- `RECORD_OUTCOME` (batch child): a low-confidence, rejected or endpoint-failed image is a *result*: the child
  succeeds with an outcome record, so the Distributed Map's ToleratedFailurePercentage counts only real failures
  (an uncaught error, a timeout). The record never carries the base64 image.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

if TYPE_CHECKING:
    from stacks.workflow_stack import InferenceFunctions, WorkflowFunction

# Error names raised by the handlers (docs/CONTRACTS.md); each task catches only names its own handler raises
# (tests/cdk/test_error_names.py holds both ways).
MALFORMED_EVENT_ERROR = "MalformedEvent"
INPUT_ERRORS = (MALFORMED_EVENT_ERROR, "ImageNotFound", "ImageUnreadable", "NotAnImage", "ImageTooLarge")
# Retried; when the retries run out the execution fails under this name (no Fail state pretends otherwise).
TRANSIENT_STORAGE_ERRORS = ("StorageUnavailable",)
ENDPOINT_ERRORS = ("EndpointError", "EndpointThrottled", "MalformedEndpointResponse")
TRANSIENT_ENDPOINT_ERRORS = ("EndpointThrottled",)
LOW_CONFIDENCE_ERROR = "ThresholdConfidenceNotMet"
# Raised by a handler and caught by no Catch, on purpose: the execution fails under the error's own name.
UNCAUGHT_ERRORS = {
    "StorageUnavailable": "serialize, after its retries: S3 was unavailable, nothing is wrong with the image, so "
    "no ImageRejected state may call it a rejection",
    "ConfigurationError": "classify, filter: a missing or invalid environment variable is a deployment defect, "
    "not a verdict on the image or the endpoint; it must stand out under its own name",
}
# Lambda's own throttling is not in LambdaInvoke's default service-exception retry.
TRANSIENT_LAMBDA_ERRORS = ("Lambda.TooManyRequestsException",)

# A batch child's outcome record (docs/CONTRACTS.md, "Batch classification").
OUTCOME_SUCCEEDED = "succeeded"
OUTCOME_BELOW_THRESHOLD = "below_threshold"
OUTCOME_FAILED = "failed"


class ChainEnd(enum.Enum):
    """How the chain's outcomes end an execution."""

    FAIL_EXECUTION = "fail_execution"
    RECORD_OUTCOME = "record_outcome"


class InferenceChain(Construct):
    """The three tasks with their retries and catches; `self.definition` is the chain to run.

    Catch keeps the state's input and adds the error under $.failure, so what follows can name it.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, functions: InferenceFunctions, end: ChainEnd
    ) -> None:
        super().__init__(scope, construct_id)
        serialize = self._invoke(
            "SerializeImage", functions.serialize, transient_errors=TRANSIENT_STORAGE_ERRORS
        )
        classify = self._invoke(
            "ClassifyImage", functions.classify, transient_errors=TRANSIENT_ENDPOINT_ERRORS
        )
        filter_inferences = self._invoke("FilterInferences", functions.filter)

        if end is ChainEnd.FAIL_EXECUTION:
            input_rejected: sfn.IChainable = sfn.Fail(
                self, "ImageRejected", error_path="$.failure.Error", cause_path="$.failure.Cause"
            )
            endpoint_failed: sfn.IChainable = sfn.Fail(
                self, "EndpointFailed", error_path="$.failure.Error", cause_path="$.failure.Cause"
            )
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
        for task in (classify, filter_inferences):
            task.add_catch(input_rejected, errors=[MALFORMED_EVENT_ERROR], result_path="$.failure")
        classify.add_catch(endpoint_failed, errors=list(ENDPOINT_ERRORS), result_path="$.failure")
        filter_inferences.add_catch(low_confidence, errors=[LOW_CONFIDENCE_ERROR], result_path="$.failure")

        self.definition: sfn.IChainable = serialize.next(classify).next(filter_inferences).next(classified)

    def _invoke(
        self, state_id: str, function: WorkflowFunction, *, transient_errors: tuple[str, ...] = ()
    ) -> tasks.LambdaInvoke:
        """A task returning the handler's payload, retrying Lambda's own hiccups and `transient_errors`."""
        task = tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=function.function,
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

    def _record(self, state_id: str, outcome: str, *, prediction: bool) -> sfn.Pass:
        """A Pass state that replaces the state (base64 image included) with the image's outcome record.

        `inferences` (one probability per class) stands in for a top confidence: ASL has no max() intrinsic,
        and a reader takes max(inferences) as the filter does.
        """
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
