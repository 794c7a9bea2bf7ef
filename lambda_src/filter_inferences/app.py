"""Step Functions task: let a classified event through only when the model is confident enough.

Input: the classify task's output (``inferences``, ``predicted_class``). Output: the event unchanged when
``max(inferences) >= THRESHOLD``; otherwise ThresholdConfidenceNotMet fails the execution. Every failure is
an exception whose class name is the Step Functions error name (docs/CONTRACTS.md).

Environment: ``THRESHOLD``, a number in (0, 1] as text.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

# Decimals of the confidence in the rejection's sentence; more only when needed to stay below the threshold.
MESSAGE_DECIMALS = 3


class ConfigurationError(Exception):
    """The function's environment lacks THRESHOLD or holds an invalid one."""


class MalformedEvent(Exception):
    """The event is not a dict with a non-empty list of numeric ``inferences``."""


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


def handler(event: Any, context: Any) -> dict[str, Any]:
    return filter_inferences(event, load_threshold(os.environ))


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
    predicted_class = _predicted_class(event)
    fields = {
        "s3_key": event.get("s3_key"),
        "predicted_class": predicted_class,
        "predicted_index": best_index,
        "confidence": confidence,
        "threshold": threshold,
    }
    if confidence < threshold:
        _log("confidence below threshold", **fields)
        raise ThresholdConfidenceNotMet(
            top_confidence=confidence,
            predicted_class=predicted_class,
            predicted_index=best_index,
            threshold=threshold,
        )
    _log("confidence meets threshold", **fields)
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


def _predicted_class(event: dict[str, Any]) -> str | None:
    """Classify's ``predicted_class``; None when the event has none."""
    predicted_class = event.get("predicted_class")
    if predicted_class is not None and not isinstance(predicted_class, str):
        raise MalformedEvent(f"the event's 'predicted_class' must be a string, got {predicted_class!r}")
    return predicted_class


def _shown_below(confidence: float, threshold: float) -> str:
    """The confidence to MESSAGE_DECIMALS places, or as many more as it takes not to round up to the threshold."""
    for decimals in range(MESSAGE_DECIMALS, 18):
        text = f"{confidence:.{decimals}f}"
        if float(text) < threshold:
            return text
    return repr(confidence)
