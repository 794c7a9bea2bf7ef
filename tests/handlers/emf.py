"""The CloudWatch Embedded Metric Format, as its specification states it, for checking the handlers' EMF lines.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

`EMF_SCHEMA` follows the JSON schema the specification publishes for validating documents, with the current
limits in place of the archived ones: a MetricDirective holds at most 100 MetricDefinitions and a DimensionSet
at most 30 dimension keys (it MAY be empty). What a JSON schema cannot say, `emf_problems` checks: every
referenced target member is on the root node, a metric target is a number or an array of at most 100 numbers,
a dimension target is a string.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_VALUES_PER_METRIC = 100
# CloudWatch's units (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html).
UNITS = (
    "Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|"
    "Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|"
    "Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|"
    "Count/Second|None"
)
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}

EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": _NAME,
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "array",
                                    "minItems": 0,
                                    "maxItems": MAX_DIMENSIONS_PER_SET,
                                    "items": _NAME,
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": MAX_METRICS_PER_DIRECTIVE,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": _NAME,
                                        "Unit": {"type": "string", "pattern": f"^({UNITS})$"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def emf_problems(line: str) -> list[str]:
    """Everything that keeps `line` (one log event's message) from being a valid EMF document; [] when valid."""
    try:
        document = json.loads(line)
    except json.JSONDecodeError as error:
        return [f"not one JSON object with nothing before or after it: {error}"]
    validator = jsonschema.Draft202012Validator(EMF_SCHEMA)
    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    if problems:
        return problems
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                if not isinstance(document.get(key), str):
                    problems.append(f"dimension {key!r} has no string target member on the root node")
        for metric in directive["Metrics"]:
            target = document.get(metric["Name"])
            values = target if isinstance(target, list) else [target]
            if len(values) > MAX_VALUES_PER_METRIC or not all(_is_number(value) for value in values):
                problems.append(f"metric {metric['Name']!r} has no numeric target member on the root node")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
