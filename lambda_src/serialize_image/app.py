"""Step Functions task: read an image from S3 and add it to the state as base64 text.

Input ``{"s3_bucket": str, "s3_key": str, ...}``; output the same keys plus ``image_data`` (base64 of the
object's bytes) and ``inferences: []``. Every failure is an exception whose class name is the Step Functions
error name (docs/CONTRACTS.md).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from typing import Any

import boto3
import botocore.exceptions
import image_format

# Step Functions refuses a state (task output) larger than this, measured as UTF-8 JSON.
STEP_FUNCTIONS_STATE_LIMIT_BYTES = 262_144
# The states after this one carry the image on and add to it: classify the inferences (one number per class)
# and the predicted class, a Catch the error and its cause under $.failure. Keeping this much of the limit free
# means an image accepted here never fails later with States.DataLimitExceeded.
DOWNSTREAM_HEADROOM_BYTES = 16_384
STATE_OUTPUT_LIMIT_BYTES = STEP_FUNCTIONS_STATE_LIMIT_BYTES - DOWNSTREAM_HEADROOM_BYTES
_LIMIT_EXPLAINED = (
    f"{STATE_OUTPUT_LIMIT_BYTES:,} bytes (Step Functions' {STEP_FUNCTIONS_STATE_LIMIT_BYTES:,}-byte state limit, "
    f"less {DOWNSTREAM_HEADROOM_BYTES:,} kept for what the later states add)"
)

# S3 answers a missing bucket or key with these codes; without s3:ListBucket a missing key is a 403.
_NOT_FOUND_ERROR_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "AccessDenied", "403", "404"})
# S3 is busy or failing for a moment: worth the state machine's retry.
_TRANSIENT_ERROR_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"}
)


class MalformedEvent(Exception):
    """The event is not a dict with non-empty string ``s3_bucket`` and ``s3_key``."""


class ImageNotFound(Exception):
    """The bucket or key does not exist, or the function may not read it."""


class ImageTooLarge(Exception):
    """The state output carrying the image would exceed the Step Functions limit."""


class ImageUnreadable(Exception):
    """S3 refused the object for another reason, e.g. it is archived (InvalidObjectState)."""


class StorageUnavailable(Exception):
    """S3 throttled the read, failed with a 5xx, or could not be reached; worth a retry."""


# Lambda's JSON log format (set on the function by its stack) prints each record as one JSON object per line,
# the ``extra`` fields as top-level keys next to timestamp, level and requestId. An exception the handler
# raises needs no log call: the runtime logs it the same way, with errorType, errorMessage and stackTrace.
_LOGGER = logging.getLogger("serialize_image")


def _log(message: str, **fields: Any) -> None:
    _LOGGER.info(message, extra=fields)


@functools.cache
def _s3_client() -> Any:
    # One client per execution environment, created on first use so tests can start moto before it exists.
    return boto3.client("s3")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return serialize_image(event, _s3_client())


def serialize_image(event: Any, s3_client: Any) -> dict[str, Any]:
    """Return ``event`` plus ``image_data`` (base64 of the S3 object) and ``inferences: []``."""
    bucket, key = _bucket_and_key(event)
    location = f"s3://{bucket}/{key}"
    image_bytes = _read_image_object(s3_client, bucket, key, location)
    header = _image_header(image_bytes, location)

    output = {**event, "image_data": base64.b64encode(image_bytes).decode("ascii"), "inferences": []}
    output_size = len(json.dumps(output).encode("utf-8"))
    if output_size > STATE_OUTPUT_LIMIT_BYTES:
        raise ImageTooLarge(
            f"{location}: the state output would be {output_size:,} bytes (image {len(image_bytes):,} bytes, "
            f"{len(output['image_data']):,} as base64), over the limit of {_LIMIT_EXPLAINED}"
        )
    _log(
        "image serialized",
        s3_bucket=bucket,
        s3_key=key,
        content_type=header.content_type,
        width=header.width,
        height=header.height,
        image_bytes=len(image_bytes),
        output_bytes=output_size,
    )
    return output


def _bucket_and_key(event: Any) -> tuple[str, str]:
    if not isinstance(event, dict):
        raise MalformedEvent(f"the event must be a JSON object, got {type(event).__name__}")
    for name in ("s3_bucket", "s3_key"):
        value = event.get(name)
        if not isinstance(value, str) or not value:
            found = "missing" if name not in event else f"{type(value).__name__} {value!r}"
            raise MalformedEvent(f"the event's {name!r} must be a non-empty string, got {found}")
    return event["s3_bucket"], event["s3_key"]


def _read_image_object(s3_client: Any, bucket: str, key: str, location: str) -> bytes:
    try:
        response = s3_client.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ParamValidationError as error:
        # botocore checks bucket names before sending anything; only the event can have put a bad one there.
        raise MalformedEvent(f"{location}: {error}") from error
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_FOUND_ERROR_CODES:
            raise ImageNotFound(f"{location}: cannot read the object ({code}: {message})") from error
        if code in _TRANSIENT_ERROR_CODES or status >= 500:
            raise StorageUnavailable(f"{location}: S3 answered {code} (HTTP {status}): {message}") from error
        raise ImageUnreadable(f"{location}: S3 refused the object ({code}: {message})") from error
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
        raise StorageUnavailable(f"{location}: S3 could not be reached: {error}") from error

    body = response["Body"]
    content_length = response["ContentLength"]
    base64_length = 4 * -(-content_length // 3)
    if base64_length > STATE_OUTPUT_LIMIT_BYTES:
        # Fail before reading: the base64 text alone could not fit in the state output.
        body.close()
        raise ImageTooLarge(
            f"{location}: the object is {content_length:,} bytes, {base64_length:,} as base64, over the "
            f"limit of {_LIMIT_EXPLAINED} for the whole state output"
        )
    return body.read()


def _image_header(image_bytes: bytes, location: str) -> image_format.ImageHeader:
    try:
        return image_format.read_image_header(image_bytes)
    except image_format.NotAnImage as error:
        raise image_format.NotAnImage(f"{location}: {error}") from error
