"""Step Functions task: let a classified event through only when the model is confident enough.

Input: the classify task's output (``inferences``, ``predicted_class``). Output: the event unchanged when
``max(inferences) >= THRESHOLD``; otherwise ThresholdConfidenceNotMet fails the execution. Every failure is
an exception whose class name is the Step Functions error name (docs/CONTRACTS.md).

Environment: ``THRESHOLD``, a number in (0, 1] as text.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any


class ConfigurationError(Exception):
    """The function's environment lacks THRESHOLD or holds an invalid one."""


class MalformedEvent(Exception):
    """The event is not a dict with a non-empty list of numeric ``inferences``."""


class ThresholdConfidenceNotMet(Exception):
    """The highest inference is below the confidence threshold."""


# Lambda's JSON log format (set on the function by the workflow stack) prints each record as one JSON
# object per line, with the ``extra`` fields as top-level keys next to timestamp, level and requestId; the
# runtime's root handler does the printing and applies the function's log level.
_LOGGER = logging.getLogger("filter_inferences")


def _log(level: int, message: str, **fields: Any) -> None:
    _LOGGER.log(level, message, extra=fields)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        return filter_inferences(event, load_threshold(os.environ))
    except Exception as error:
        _log(
            logging.ERROR,
            "filter_inferences failed",
            s3_key=event.get("s3_key") if isinstance(event, dict) else None,
            error_type=type(error).__name__,
            error=str(error),
        )
        raise


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


def filter_inferences(event: Any, threshold: float) -> dict[str, Any]:
    """Return ``event`` unchanged when its top inference reaches ``threshold``; raise otherwise."""
    inferences = _inferences(event)
    best_index = max(range(len(inferences)), key=inferences.__getitem__)
    confidence = inferences[best_index]
    predicted_label = _predicted_class_label(event, best_index)
    fields = {
        "s3_key": event.get("s3_key"),
        "predicted_class": event.get("predicted_class"),
        "predicted_index": best_index,
        "confidence": confidence,
        "threshold": threshold,
    }
    if confidence < threshold:
        _log(logging.INFO, "confidence below threshold", **fields)
        raise ThresholdConfidenceNotMet(
            f"top confidence {confidence!r} for {predicted_label} is below the threshold {threshold!r}"
        )
    _log(logging.INFO, "confidence meets threshold", **fields)
    return event


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


def _predicted_class_label(event: dict[str, Any], best_index: int) -> str:
    """Name the winning class for messages: classify's ``predicted_class``, else its index."""
    if "predicted_class" not in event:
        return f"class index {best_index}"
    predicted_class = event["predicted_class"]
    if not isinstance(predicted_class, str):
        raise MalformedEvent(f"the event's 'predicted_class' must be a string, got {predicted_class!r}")
    return repr(predicted_class)
