"""Read the endpoint's data capture: SageMaker's JSON Lines records under data_capture/ in S3."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ops.errors import CaptureFormatError

CAPTURE_SUFFIX = ".jsonl"
# A record holds its image base64-encoded (several MB for a photo); botocore's default 1 KiB chunks would rejoin
# such a line quadratically (docs/CONTRACTS.md, "Data capture record").
READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CaptureRecord:
    event_id: str
    inference_time: datetime  # timezone-aware, UTC
    input_content_type: str | None  # None when the endpoint captured its output only
    input_data: bytes | None
    probabilities: tuple[float, ...]

    @property
    def confidence(self) -> float:
        return max(self.probabilities)

    @property
    def predicted_index(self) -> int:
        return self.probabilities.index(self.confidence)


@dataclass(frozen=True)
class CaptureProblem:
    key: str
    line_number: int
    reason: str

    def __str__(self) -> str:
        return f"{self.key} line {self.line_number}: {self.reason}"


def parse_capture_line(line: str, *, keep_input_data: bool = True) -> CaptureRecord:
    """One record; `keep_input_data=False` checks the captured input but keeps only its content type."""
    try:
        record = json.loads(line)
    except ValueError as error:
        raise CaptureFormatError(f"not JSON ({error})") from error
    output = _field(record, "captureData.endpointOutput", dict)
    output_encoding = _field(output, "encoding", str, "captureData.endpointOutput.")
    output_bytes = _decode(
        _field(output, "data", str, "captureData.endpointOutput."), output_encoding, "endpointOutput"
    )
    content_type = output.get("observedContentType") or ""
    is_csv = output_encoding == "CSV" or (output_encoding == "BASE64" and "csv" in content_type)
    probabilities = _probabilities(output_bytes, is_csv)

    input_content_type = input_data = None
    endpoint_input = _field(record, "captureData", dict).get("endpointInput")
    if endpoint_input is not None:
        where = "captureData.endpointInput."
        input_content_type = _field(endpoint_input, "observedContentType", str, where)
        input_data = _decode(
            _field(endpoint_input, "data", str, where),
            _field(endpoint_input, "encoding", str, where),
            "endpointInput",
        )
        if not keep_input_data:
            input_data = None
    return CaptureRecord(
        event_id=_field(record, "eventMetadata.eventId", str),
        inference_time=_timestamp(_field(record, "eventMetadata.inferenceTime", str)),
        input_content_type=input_content_type,
        input_data=input_data,
        probabilities=probabilities,
    )


def iter_capture_records(
    s3_client,
    bucket: str,
    prefix: str,
    *,
    problems: list[CaptureProblem] | None = None,
    page_size: int = 1000,
    keep_input_data: bool = True,
) -> Iterator[CaptureRecord]:
    """Every record of the *.jsonl objects under the prefix, in key (time) order; a malformed line raises
    CaptureFormatError naming its key and line, or is appended to `problems` when given. Without
    `keep_input_data`, records leave their images behind: a reader holding many photos' records needs only those."""
    pagination = {"PaginationConfig": {"PageSize": page_size}}
    for key in object_keys(s3_client, bucket, prefix, CAPTURE_SUFFIX, **pagination):
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
        for line_number, raw_line in enumerate(body.iter_lines(chunk_size=READ_CHUNK_BYTES), start=1):
            if not raw_line.strip():
                continue
            try:
                yield parse_capture_line(_utf8(raw_line), keep_input_data=keep_input_data)
            except CaptureFormatError as error:
                problem = CaptureProblem(f"s3://{bucket}/{key}", line_number, str(error))
                if problems is None:
                    raise CaptureFormatError(str(problem)) from error
                problems.append(problem)


def object_keys(
    s3_client, bucket: str, prefix: str, suffixes: str | tuple[str, ...], **pagination
) -> Iterator[str]:
    """The keys under the prefix, in key order, that end with one of `suffixes` (in any case)."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **pagination)
    for page in pages:
        yield from (
            item["Key"] for item in page.get("Contents", []) if item["Key"].lower().endswith(suffixes)
        )


def _utf8(raw_line: bytes) -> str:
    try:
        return raw_line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CaptureFormatError(f"not UTF-8 text ({error})") from error


def _field(container: object, path: str, kind: type, parent: str = ""):
    value = container
    walked = parent
    for name in path.split("."):
        if not isinstance(value, dict) or name not in value:
            raise CaptureFormatError(f"missing {walked}{name}")
        value = value[name]
        walked += name + "."
    if not isinstance(value, kind):
        raise CaptureFormatError(f"{walked[:-1]} is {type(value).__name__}, expected {kind.__name__}")
    return value


def _decode(data: str, encoding: str, side: str) -> bytes:
    if encoding == "BASE64":
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error as error:
            raise CaptureFormatError(f"{side} data is not valid base64 ({error})") from error
    if encoding in {"JSON", "CSV"}:
        return data.encode("utf-8")
    raise CaptureFormatError(f"{side} encoding {encoding!r} is not BASE64, JSON or CSV")


def _probabilities(output: bytes, is_csv: bool) -> tuple[float, ...]:
    try:
        text = output.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CaptureFormatError(f"endpointOutput data is not UTF-8 text ({error})") from error
    if is_csv:
        try:
            values = [float(cell) for cell in text.replace("\n", ",").split(",") if cell.strip()]
        except ValueError as error:
            raise CaptureFormatError(f"endpointOutput CSV is not numbers ({error})") from error
    else:
        try:
            values = numbers(json.loads(text))
        except ValueError as error:
            raise CaptureFormatError(f"endpointOutput data is not JSON ({error})") from error
        if values is None:
            raise CaptureFormatError("endpointOutput data is not a JSON list of numbers")
    if not values or not all(math.isfinite(value) for value in values):
        raise CaptureFormatError("endpointOutput has no probabilities, or one that is not finite")
    return tuple(values)


def numbers(values: object) -> list[float] | None:
    """A JSON list of numbers as floats (a bool is not a number); None for anything else."""
    if not isinstance(values, list) or not all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in values
    ):
        return None
    return [float(value) for value in values]


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise CaptureFormatError(f"eventMetadata.inferenceTime {text!r} is not an ISO 8601 time") from error
    # SageMaker writes UTC with a "Z"; a time without an offset is read as UTC too.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
