"""Step Functions task: add the S3 image of ``s3_bucket``/``s3_key`` as base64 ``image_data`` (docs/CONTRACTS.md)."""

from __future__ import annotations

import base64
import functools
import json
import logging
from typing import Any

import boto3
import botocore.exceptions
import image_format

# The largest state (task output) Step Functions accepts, as UTF-8 JSON
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
STEP_FUNCTIONS_STATE_LIMIT_BYTES = 262_144
# Kept free for what later states add (inferences, a Catch's $.failure), so none fails with States.DataLimitExceeded.
DOWNSTREAM_HEADROOM_BYTES = 16_384
STATE_OUTPUT_LIMIT_BYTES = STEP_FUNCTIONS_STATE_LIMIT_BYTES - DOWNSTREAM_HEADROOM_BYTES
_LIMIT_EXPLAINED = (
    f"{STATE_OUTPUT_LIMIT_BYTES:,} bytes (Step Functions' {STEP_FUNCTIONS_STATE_LIMIT_BYTES:,}-byte state limit, "
    f"less {DOWNSTREAM_HEADROOM_BYTES:,} kept for what the later states add)"
)

# A missing bucket or key; without s3:ListBucket a missing key is a 403
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
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


# JSON log format: ``extra`` fields become top-level keys; raised errors are logged by the runtime
# (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html).
_LOGGER = logging.getLogger("serialize_image")


@functools.cache
def _s3_client() -> Any:
    # One per execution environment, created on first use so a test can start moto first.
    return boto3.client("s3")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return serialize_image(event, _s3_client())


def serialize_image(event: Any, s3_client: Any) -> dict[str, Any]:
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
    _LOGGER.info(
        "image serialized",
        extra=dict(
            s3_bucket=bucket,
            s3_key=key,
            content_type=header.content_type,
            width=header.width,
            height=header.height,
            image_bytes=len(image_bytes),
            output_bytes=output_size,
        ),
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
