"""Read CloudWatch Embedded Metric Format (EMF) lines out of a function's log, as CloudWatch Logs would.

No PyPI package reads EMF (aws-embedded-metrics only writes it), so this is a small reader of the
specification, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html:

- an EMF document is one JSON object on one line whose root has an `_aws` metadata object; a log line that is
  not a JSON object, or has no `_aws` member, is an ordinary log line (the handlers' JSON logs), not EMF;
- `_aws` MUST hold `Timestamp` (milliseconds since the epoch) and `CloudWatchMetrics`, an array of metric
  directives, each with `Namespace` (string), `Dimensions` (an array of dimension sets: arrays of at most 30
  dimension keys) and `Metrics` (at most 100 definitions: `Name`, optional `Unit`, optional
  `StorageResolution` 1 or 60);
- every dimension key MUST name a root member whose value is a string, and every metric name a root member
  whose value is a number or an array of at most 100 numbers.

A document that breaks any of these is refused with `EmfFormatError`, naming the line and what is wrong:
CloudWatch would drop it, so the local run must not count it either. Each valid document becomes one
datapoint per value, per metric, per dimension set (a metric is published once for every dimension set).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_DIMENSION_KEYS = 30
MAX_METRICS = 100
MAX_VALUES = 100
STORAGE_RESOLUTIONS = (1, 60)
# CloudWatch's units (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html).
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)


class EmfFormatError(ValueError):
    """A log line carries an `_aws` member but is not a valid EMF document; the message says where and why."""


Dimensions = tuple[tuple[str, str], ...]  # (name, value) pairs, sorted by name: a metric's identity


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    metric_name: str
    dimensions: Dimensions
    timestamp: datetime  # timezone-aware, UTC
    value: float


@dataclass(frozen=True)
class EmfDocument:
    """One valid EMF line: its metric values and string members (PredictedClass, ...) and its datapoints."""

    line_number: int
    timestamp: datetime
    values: Mapping[str, tuple[float, ...]]  # metric name -> values
    members: Mapping[str, str]  # the document's string members (dimension values among them)
    datapoints: tuple[Datapoint, ...]


def read_emf_log(lines: Iterable[str]) -> list[EmfDocument]:
    """Every EMF document in a log, in order; raises EmfFormatError at the first invalid one."""
    documents = []
    for line_number, line in enumerate(lines, start=1):
        document = parse_emf_line(line, line_number=line_number)
        if document is not None:
            documents.append(document)
    return documents


def parse_emf_line(line: str, *, line_number: int = 1) -> EmfDocument | None:
    """The EMF document on this line; None for a line that is not EMF; EmfFormatError for a broken one."""
    try:
        root = json.loads(line)
    except ValueError:
        return None
    if not isinstance(root, dict) or "_aws" not in root:
        return None
    where = f"EMF line {line_number}"
    metadata = _member(root, "_aws", dict, where)
    timestamp = _timestamp(_member(metadata, "Timestamp", (int, float), f"{where}: _aws"), where)
    directives = _member(metadata, "CloudWatchMetrics", list, f"{where}: _aws")
    if not directives:
        raise EmfFormatError(f"{where}: _aws.CloudWatchMetrics is empty")
    values: dict[str, tuple[float, ...]] = {}
    datapoints = []
    for index, directive in enumerate(directives):
        context = f"{where}: _aws.CloudWatchMetrics[{index}]"
        if not isinstance(directive, dict):
            raise EmfFormatError(f"{context} is not an object")
        namespace = _member(directive, "Namespace", str, context)
        if not namespace:
            raise EmfFormatError(f"{context}.Namespace is empty")
        dimension_sets = [
            _dimension_set(root, keys, f"{context}.Dimensions[{position}]")
            for position, keys in enumerate(_member(directive, "Dimensions", list, context))
        ]
        definitions = _member(directive, "Metrics", list, context)
        if not definitions or len(definitions) > MAX_METRICS:
            raise EmfFormatError(f"{context}.Metrics must hold 1 to {MAX_METRICS} metric definitions")
        for position, definition in enumerate(definitions):
            name = _metric_definition(definition, f"{context}.Metrics[{position}]")
            metric_values = _metric_values(root, name, f"{context}.Metrics[{position}]")
            values[name] = metric_values
            datapoints.extend(
                Datapoint(namespace, name, dimensions, timestamp, value)
                for dimensions in dimension_sets
                for value in metric_values
            )
    members = {key: value for key, value in root.items() if isinstance(value, str)}
    return EmfDocument(line_number, timestamp, values, members, tuple(datapoints))


def _member(node: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in node:
        raise EmfFormatError(f"{where} has no {name} member")
    value = node[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise EmfFormatError(f"{where}.{name} has the wrong type: {json.dumps(value)}")
    return value


def _timestamp(milliseconds: float, where: str) -> datetime:
    try:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise EmfFormatError(f"{where}: _aws.Timestamp {milliseconds} is not a time: {error}") from error


def _dimension_set(root: Mapping[str, Any], keys: Any, where: str) -> Dimensions:
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise EmfFormatError(f"{where} is not an array of dimension keys: {json.dumps(keys)}")
    if len(keys) > MAX_DIMENSION_KEYS:
        raise EmfFormatError(f"{where} has {len(keys)} dimension keys, more than {MAX_DIMENSION_KEYS}")
    dimensions = []
    for key in keys:
        value = root.get(key)
        if not isinstance(value, str):
            raise EmfFormatError(f"{where}: dimension {key!r} is not a string member of the root: {value!r}")
        dimensions.append((key, value))
    return tuple(sorted(dimensions))


def _metric_definition(definition: Any, where: str) -> str:
    if not isinstance(definition, dict):
        raise EmfFormatError(f"{where} is not an object")
    name = _member(definition, "Name", str, where)
    unit = definition.get("Unit")
    if unit is not None and unit not in UNITS:
        raise EmfFormatError(f"{where}.Unit {unit!r} is not a CloudWatch unit")
    resolution = definition.get("StorageResolution")
    if resolution is not None and resolution not in STORAGE_RESOLUTIONS:
        raise EmfFormatError(f"{where}.StorageResolution {resolution!r} is not 1 or 60")
    return name


def _metric_values(root: Mapping[str, Any], name: str, where: str) -> tuple[float, ...]:
    value = root.get(name)
    values = value if isinstance(value, list) else [value]
    if not 1 <= len(values) <= MAX_VALUES or not all(_is_number(item) for item in values):
        raise EmfFormatError(
            f"{where}: metric {name!r} needs a root member holding a number or 1 to {MAX_VALUES} numbers, "
            f"found {json.dumps(value)}"
        )
    return tuple(float(item) for item in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
