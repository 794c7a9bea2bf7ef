"""Step Functions task: let a classified event through only when the model is confident enough.

Input: the classify task's output (``inferences``, ``predicted_class``). Output: the event unchanged when
``max(inferences) >= THRESHOLD``; otherwise ThresholdConfidenceNotMet fails the execution. Every failure is
an exception whose class name is the Step Functions error name (docs/CONTRACTS.md).

Every evaluation also prints one CloudWatch Embedded Metric Format document to stdout (``TopConfidence``,
``BelowThreshold``, per ``Workflow`` and per ``PredictedClass`` too), which CloudWatch Logs turns into metrics: no
PutMetricData call, no permission, no latency (docs/CONTRACTS.md, "Metrics"). The batch map marks each of its
images with ``"workflow": "batch"``; an event without the key is the single-image workflow's.

Environment: ``THRESHOLD``, a number in (0, 1] as text; ``METRICS_NAMESPACE``, the metrics' namespace.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Decimals of the confidence in the rejection's sentence; more only when needed to stay below the threshold.
MESSAGE_DECIMALS = 3

# The metrics (docs/CONTRACTS.md, "Metrics"). CloudWatch units:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
TOP_CONFIDENCE_METRIC = "TopConfidence"
BELOW_THRESHOLD_METRIC = "BelowThreshold"
PREDICTED_CLASS_DIMENSION = "PredictedClass"
WORKFLOW_DIMENSION = "Workflow"
# The input key naming the workflow an image runs in, and its values: the batch map's ItemSelector sets
# "batch"; the single-image workflow's input has no such key (docs/CONTRACTS.md, "Workflow state").
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


class ThresholdConfidenceNotMet(Exception):
    """The highest inference is below the confidence threshold.

    Its message (Lambda's errorMessage, inside the Fail state's Cause) is a JSON object, so readers need no
    sentence parsing: ``message``, ``top_confidence``, ``predicted_class`` (null when classify named none),
    ``predicted_index`` and ``threshold`` (docs/CONTRACTS.md).
    """

    def __init__(
        self, *, top_confidence: float, predicted_class: str | None, predicted_index: int, threshold: float
    ) -> None:
        label = f"class index {predicted_index}" if predicted_class is None else repr(predicted_class)
        self.details = {
            "message": (
                f"top confidence {_shown_below(top_confidence, threshold)} for {label} "
                f"is below the threshold {threshold!r}"
            ),
            "top_confidence": top_confidence,
            "predicted_class": predicted_class,
            "predicted_index": predicted_index,
            "threshold": threshold,
        }
        super().__init__(json.dumps(self.details))


# Lambda's JSON log format (set on the function by its stack) prints each record as one JSON object per line,
# the ``extra`` fields as top-level keys next to timestamp, level and requestId. An exception the handler
# raises needs no log call: the runtime logs it the same way, with errorType, errorMessage and stackTrace.
_LOGGER = logging.getLogger("filter_inferences")


def _log(message: str, **fields: Any) -> None:
    _LOGGER.info(message, extra=fields)


@dataclass(frozen=True)
class Evaluation:
    """What the filter found: the top inference, its class and whether it falls below the threshold, and the
    workflow the image runs in."""

    top_confidence: float
    predicted_class: str | None
    predicted_index: int
    threshold: float
    workflow: str = SINGLE_IMAGE_WORKFLOW

    @property
    def below_threshold(self) -> bool:
        return self.top_confidence < self.threshold


def handler(event: Any, context: Any) -> dict[str, Any]:
    threshold = load_threshold(os.environ)
    namespace = load_metrics_namespace(os.environ)
    evaluation = evaluate(event, threshold)
    # One line, printed rather than logged: Lambda sends a print to CloudWatch Logs as it is, without the JSON
    # log format's wrapper (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html), and a log event
    # that is one EMF object becomes metrics; CloudWatch Logs needs no agent for a Lambda's stdout
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Libraries.html).
    print(json.dumps(metrics_document(evaluation, namespace=namespace, timestamp_ms=_now_ms())), flush=True)
    return verdict(event, evaluation)


def load_threshold(environ: Mapping[str, str]) -> float:
    """Read THRESHOLD, a number in (0, 1]; raise ConfigurationError saying what is wrong with it."""
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
    """Read METRICS_NAMESPACE; raise ConfigurationError when it is missing or no CloudWatch namespace."""
    namespace = environ.get("METRICS_NAMESPACE")
    if namespace is None:
        raise ConfigurationError("environment variable METRICS_NAMESPACE is missing")
    if not 0 < len(namespace) <= MAX_NAMESPACE_LENGTH or namespace.startswith(":") or not namespace.strip():
        raise ConfigurationError(
            f"METRICS_NAMESPACE must be 1 to {MAX_NAMESPACE_LENGTH} characters, not blank and not starting "
            "with ':', "
            f"got {namespace!r}"
        )
    return namespace


def filter_inferences(event: Any, threshold: float) -> dict[str, Any]:
    """Return ``event`` unchanged when its top inference reaches ``threshold``; raise otherwise."""
    return verdict(event, evaluate(event, threshold))


def evaluate(event: Any, threshold: float) -> Evaluation:
    """The event's top inference against ``threshold``; MalformedEvent when the event has no usable inferences
    or an unknown ``workflow``."""
    inferences = _inferences(event)
    best_index = max(range(len(inferences)), key=inferences.__getitem__)
    return Evaluation(
        top_confidence=inferences[best_index],
        predicted_class=_predicted_class(event),
        predicted_index=best_index,
        threshold=threshold,
        workflow=_workflow(event),
    )


def verdict(event: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    """``event`` unchanged when the evaluation reaches the threshold; ThresholdConfidenceNotMet otherwise."""
    fields = {
        "s3_key": event.get("s3_key"),
        "predicted_class": evaluation.predicted_class,
        "predicted_index": evaluation.predicted_index,
        "confidence": evaluation.top_confidence,
        "threshold": evaluation.threshold,
        "workflow": evaluation.workflow,
    }
    if evaluation.below_threshold:
        _log("confidence below threshold", **fields)
        raise ThresholdConfidenceNotMet(
            top_confidence=evaluation.top_confidence,
            predicted_class=evaluation.predicted_class,
            predicted_index=evaluation.predicted_index,
            threshold=evaluation.threshold,
        )
    _log("confidence meets threshold", **fields)
    return event


def metrics_document(evaluation: Evaluation, *, namespace: str, timestamp_ms: int) -> dict[str, Any]:
    """One CloudWatch Embedded Metric Format document for this evaluation.

    The specification
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
    ``_aws`` holds ``Timestamp`` (milliseconds since the epoch) and ``CloudWatchMetrics``, each directive a
    ``Namespace``, ``Dimensions`` (an array of dimension sets) and ``Metrics`` (``Name``, ``Unit``); every
    name a directive references is a member of the root whose value is a number (metric) or a string
    (dimension). A dimension set MAY be empty: the empty set gives the all-classes series of every workflow,
    the ``Workflow`` set one series per workflow (``single`` or ``batch``: the unexpected-failures alarm
    subtracts the single-image workflow's below-threshold evaluations only), the ``PredictedClass`` set one
    series per class (bounded: the class names). A predicted class that is no valid dimension value (or none at
    all) is counted in the other series only, so it never invalidates the document.
    """
    dimension_sets: list[list[str]] = [[], [WORKFLOW_DIMENSION]]
    document: dict[str, Any] = {
        TOP_CONFIDENCE_METRIC: evaluation.top_confidence,
        BELOW_THRESHOLD_METRIC: int(evaluation.below_threshold),
        WORKFLOW_DIMENSION: evaluation.workflow,
    }
    if _is_dimension_value(evaluation.predicted_class):
        dimension_sets.append([PREDICTED_CLASS_DIMENSION])
        document[PREDICTED_CLASS_DIMENSION] = evaluation.predicted_class
    directive = {
        "Namespace": namespace,
        "Dimensions": dimension_sets,
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRIC_UNITS.items()],
    }
    return {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}, **document}


def _is_dimension_value(value: str | None) -> bool:
    return (
        value is not None
        and 0 < len(value) <= MAX_DIMENSION_VALUE_LENGTH
        and value.isascii()
        and value.isprintable()
        and bool(value.strip())
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


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


def _predicted_class(event: dict[str, Any]) -> str | None:
    """Classify's ``predicted_class``; None when the event has none."""
    predicted_class = event.get("predicted_class")
    if predicted_class is not None and not isinstance(predicted_class, str):
        raise MalformedEvent(f"the event's 'predicted_class' must be a string, got {predicted_class!r}")
    return predicted_class


def _workflow(event: dict[str, Any]) -> str:
    """The workflow the image runs in: the event's ``workflow``, ``single`` when it has none.

    Any other value is refused rather than counted as one of them: as ``single`` it would offset that
    workflow's failures in the unexpected-failures alarm, and as a new value it would add custom metrics.
    """
    workflow = event.get(WORKFLOW_KEY, SINGLE_IMAGE_WORKFLOW)
    if workflow not in WORKFLOWS:
        raise MalformedEvent(
            f"the event's {WORKFLOW_KEY!r} must be one of {list(WORKFLOWS)} or absent, got {workflow!r}"
        )
    return workflow


def _shown_below(confidence: float, threshold: float) -> str:
    """The confidence to MESSAGE_DECIMALS places, or as many more as it takes not to round up to the threshold."""
    for decimals in range(MESSAGE_DECIMALS, 18):
        text = f"{confidence:.{decimals}f}"
        if float(text) < threshold:
            return text
    return repr(confidence)
