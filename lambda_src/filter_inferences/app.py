"""Step Functions task: pass the event with its ``top_confidence`` when ``max(inferences) >= THRESHOLD``, else
ThresholdConfidenceNotMet.

Each evaluation prints one EMF document, metrics without a PutMetricData call (docs/CONTRACTS.md, "Metrics").
Environment: ``THRESHOLD``, a number in (0, 1]; ``METRICS_NAMESPACE``."""

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

# Decimals of the confidence in the rejection's sentence; more only when needed to stay below the threshold.
MESSAGE_DECIMALS = 3

# The metrics, as in stacks/names.py. Units: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
TOP_CONFIDENCE_METRIC = "TopConfidence"
BELOW_THRESHOLD_METRIC = "BelowThreshold"
PREDICTED_CLASS_DIMENSION = "PredictedClass"
WORKFLOW_DIMENSION = "Workflow"
# The batch map's ItemSelector sets "workflow": "batch"; the single-image workflow's input has no such key.
WORKFLOW_KEY = "workflow"
SINGLE_IMAGE_WORKFLOW = "single"
BATCH_WORKFLOW = "batch"
WORKFLOWS = (SINGLE_IMAGE_WORKFLOW, BATCH_WORKFLOW)
METRIC_UNITS = {TOP_CONFIDENCE_METRIC: "None", BELOW_THRESHOLD_METRIC: "Count"}
# A dimension value is 1 to 1024 ASCII characters, not all whitespace, no control characters
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html).
MAX_DIMENSION_VALUE_LENGTH = 1024
# CloudWatch namespaces: 1 to 255 characters, not starting with ':'
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Metric.html).
MAX_NAMESPACE_LENGTH = 255


class ConfigurationError(Exception):
    """The function's environment lacks THRESHOLD or METRICS_NAMESPACE, or holds an invalid one."""


class MalformedEvent(Exception):
    """The event is not a dict with a non-empty list of numeric ``inferences``, or names no known workflow."""


@dataclasses.dataclass(frozen=True)
class Evaluation:
    top_confidence: float
    predicted_class: str | None
    predicted_index: int
    threshold: float
    workflow: str = SINGLE_IMAGE_WORKFLOW

    @property
    def below_threshold(self) -> bool:
        return self.top_confidence < self.threshold


class ThresholdConfidenceNotMet(Exception):
    """The top inference is below the threshold; the message (the Fail state's Cause) is JSON (docs/CONTRACTS.md)."""

    def __init__(self, evaluation: Evaluation) -> None:
        found = dataclasses.asdict(evaluation)
        del found["workflow"]
        predicted = evaluation.predicted_class
        label = repr(predicted) if predicted is not None else f"class index {evaluation.predicted_index}"
        shown = _shown_below(evaluation.top_confidence, evaluation.threshold)
        message = f"top confidence {shown} for {label} is below the threshold {evaluation.threshold!r}"
        self.details = {"message": message, **found}
        super().__init__(json.dumps(self.details))


# JSON log format: ``extra`` fields become top-level keys; raised errors are logged by the runtime
# (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html).
_LOGGER = logging.getLogger("filter_inferences")


def handler(event: Any, context: Any) -> dict[str, Any]:
    threshold = load_threshold(os.environ)
    namespace = load_metrics_namespace(os.environ)
    evaluation = evaluate(event, threshold)
    # Printed, not logged: a print reaches CloudWatch Logs without the JSON log wrapper, as EMF must
    # (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html,
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Libraries.html).
    document = metrics_document(evaluation, namespace=namespace, timestamp_ms=time.time_ns() // 1_000_000)
    print(json.dumps(document), flush=True)
    return verdict(event, evaluation)


def load_threshold(environ: Mapping[str, str]) -> float:
    threshold_text = environ.get("THRESHOLD")
    if threshold_text is None:
        raise ConfigurationError("environment variable THRESHOLD is missing")
    try:
        threshold = float(threshold_text)
    except ValueError as error:
        raise ConfigurationError(f"THRESHOLD is not a number: {threshold_text!r}") from error
    # The comparison is false for NaN, so NaN is refused here too.
    if not 0.0 < threshold <= 1.0:
        raise ConfigurationError(f"THRESHOLD must be in (0, 1], got {threshold_text!r}")
    return threshold


def load_metrics_namespace(environ: Mapping[str, str]) -> str:
    namespace = environ.get("METRICS_NAMESPACE")
    if namespace is None:
        raise ConfigurationError("environment variable METRICS_NAMESPACE is missing")
    if len(namespace) > MAX_NAMESPACE_LENGTH or namespace.startswith(":") or not namespace.strip():
        raise ConfigurationError(
            f"METRICS_NAMESPACE must be 1 to {MAX_NAMESPACE_LENGTH} characters, not blank and not starting with ':', "
            f"got {namespace!r}"
        )
    return namespace


def evaluate(event: Any, threshold: float) -> Evaluation:
    inferences = _inferences(event)
    predicted_class = event.get("predicted_class")
    if predicted_class is not None and not isinstance(predicted_class, str):
        raise MalformedEvent(f"the event's 'predicted_class' must be a string, got {predicted_class!r}")
    # Absent means the single-image workflow; any other value would skew the alarms or add metrics.
    workflow = event.get(WORKFLOW_KEY, SINGLE_IMAGE_WORKFLOW)
    if workflow not in WORKFLOWS:
        raise MalformedEvent(
            f"the event's {WORKFLOW_KEY!r} must be one of {list(WORKFLOWS)} or absent, got {workflow!r}"
        )
    best_index = max(range(len(inferences)), key=inferences.__getitem__)
    return Evaluation(
        top_confidence=inferences[best_index],
        predicted_class=predicted_class,
        predicted_index=best_index,
        threshold=threshold,
        workflow=workflow,
    )


def verdict(event: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    fields = {"s3_key": event.get("s3_key"), **dataclasses.asdict(evaluation)}
    if evaluation.below_threshold:
        _LOGGER.info("confidence below threshold", extra=fields)
        raise ThresholdConfidenceNotMet(evaluation)
    _LOGGER.info("confidence meets threshold", extra=fields)
    # The outcome event's confidence: ASL has no max() to compute it from `inferences`.
    return {**event, "top_confidence": evaluation.top_confidence}


def metrics_document(evaluation: Evaluation, *, namespace: str, timestamp_ms: int) -> dict[str, Any]:
    """The EMF document of one evaluation: series for all, per workflow and per predicted class (when it is a valid
    dimension value) (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)."""
    dimension_sets: list[list[str]] = [[], [WORKFLOW_DIMENSION]]
    document: dict[str, Any] = {
        TOP_CONFIDENCE_METRIC: evaluation.top_confidence,
        BELOW_THRESHOLD_METRIC: int(evaluation.below_threshold),
        WORKFLOW_DIMENSION: evaluation.workflow,
    }
    predicted_class = evaluation.predicted_class
    if (
        predicted_class is not None
        and len(predicted_class) <= MAX_DIMENSION_VALUE_LENGTH
        and predicted_class.isascii()
        and predicted_class.isprintable()
        and predicted_class.strip()
    ):
        dimension_sets.append([PREDICTED_CLASS_DIMENSION])
        document[PREDICTED_CLASS_DIMENSION] = predicted_class
    directive = {
        "Namespace": namespace,
        "Dimensions": dimension_sets,
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRIC_UNITS.items()],
    }
    return {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}, **document}


def _inferences(event: Any) -> list[float]:
    if not isinstance(event, dict):
        raise MalformedEvent(f"the event must be a JSON object, got {type(event).__name__}")
    if "inferences" not in event:
        raise MalformedEvent("the event has no 'inferences'")
    inferences = event["inferences"]
    if not isinstance(inferences, list) or not inferences:
        raise MalformedEvent(f"the event's 'inferences' must be a non-empty list, got {inferences!r}")
    for index, value in enumerate(inferences):
        # bool is an int subclass in Python, but true/false is no probability.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise MalformedEvent(f"the event's 'inferences' item {index} is {value!r}, not a finite number")
    return inferences


def _shown_below(confidence: float, threshold: float) -> str:
    """The confidence to MESSAGE_DECIMALS places, or as many more as it takes not to round up to the threshold."""
    for decimals in range(MESSAGE_DECIMALS, 18):
        text = f"{confidence:.{decimals}f}"
        if float(text) < threshold:
            return text
    return repr(confidence)
