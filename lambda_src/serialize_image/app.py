"""Step Functions task: check the S3 image of ``s3_bucket``/``s3_key`` and add it as base64 ``image_data`` when it
fits the state, else as the ``image_ref`` the classifier reads it by (docs/CONTRACTS.md, "Workflow state").

Environment: ``ENDPOINT_MODE`` (``realtime`` or ``serverless``: the request payload limit that bounds the image)."""

import base64
import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
# The largest request body an endpoint takes, by endpoint_mode: InvokeEndpoint's Body is at most 6 MB, 6,291,456
# bytes (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html; botocore's
# service model), a serverless endpoint's request at most 4 MB
# (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html).
MAX_REQUEST_BYTES = {"realtime": 6_291_456, "serverless": 4_194_304}

# A missing bucket or key; without s3:ListBucket a missing key is a 403
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
_NOT_FOUND_ERROR_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "AccessDenied", "403", "404"})
# S3 is busy or failing for a moment: worth the state machine's retry.
_TRANSIENT_ERROR_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"}
)


class ConfigurationError(Exception):
    """The function's environment lacks a setting or holds an invalid one."""


class MalformedEvent(Exception):
    """The event is not a dict with non-empty string ``s3_bucket`` and ``s3_key``."""


class ImageNotFound(Exception):
    """The bucket or key does not exist, or the function may not read it."""


class ImageTooLarge(Exception):
    """The object is larger than the endpoint's request payload limit."""


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


@dataclass(frozen=True)
class SerializerSettings:
    endpoint_mode: str

    @property
    def max_image_bytes(self) -> int:
        return MAX_REQUEST_BYTES[self.endpoint_mode]


REALTIME = SerializerSettings("realtime")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return serialize_image(event, _s3_client(), load_settings(os.environ))


def load_settings(environ: Mapping[str, str]) -> SerializerSettings:
    mode = environ.get("ENDPOINT_MODE")
    if mode not in MAX_REQUEST_BYTES:
        found = "missing" if mode is None else repr(mode)
        raise ConfigurationError(
            f"environment variable ENDPOINT_MODE must be one of {sorted(MAX_REQUEST_BYTES)}, got {found}"
        )
    return SerializerSettings(endpoint_mode=mode)


def serialize_image(event: Any, s3_client: Any, settings: SerializerSettings = REALTIME) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise MalformedEvent(f"the event must be a JSON object, got {type(event).__name__}")
    for name in ("s3_bucket", "s3_key"):
        value = event.get(name)
        if not isinstance(value, str) or not value:
            found = "missing" if name not in event else f"{type(value).__name__} {value!r}"
            raise MalformedEvent(f"the event's {name!r} must be a non-empty string, got {found}")
    bucket, key = event["s3_bucket"], event["s3_key"]
    location = f"s3://{bucket}/{key}"
    response = _get_image_object(s3_client, bucket, key, location)
    image_bytes = _read_body(response, settings, location)
    try:
        header = image_format.read_image_header(image_bytes)
    except (image_format.NotAnImage, image_format.UnsupportedImageFormat) as error:
        raise type(error)(f"{location}: {error}") from error

    # The output carries one of the two keys; an image_data or image_ref the input held must not contradict it.
    passed_on = {name: value for name, value in event.items() if name not in ("image_data", "image_ref")}
    base64_length = 4 * -(-len(image_bytes) // 3)
    if (
        _json_size({**passed_on, "image_data": "", "inferences": []}) + base64_length
        <= STATE_OUTPUT_LIMIT_BYTES
    ):
        output = {**passed_on, "image_data": base64.b64encode(image_bytes).decode("ascii"), "inferences": []}
    else:
        # The classifier reads these very bytes: If-Match on the ETag refuses an object replaced since this check.
        reference = {"s3_bucket": bucket, "s3_key": key, "etag": response["ETag"]}
        output = {**passed_on, "image_ref": reference, "inferences": []}
    _LOGGER.info(
        "image serialized",
        extra=dict(
            s3_bucket=bucket,
            s3_key=key,
            content_type=header.content_type,
            width=header.width,
            height=header.height,
            image_bytes=len(image_bytes),
            passed="inline" if "image_data" in output else "by_reference",
            output_bytes=_json_size(output),
        ),
    )
    return output


def _json_size(state: dict[str, Any]) -> int:
    return len(json.dumps(state).encode("utf-8"))


def _get_image_object(s3_client: Any, bucket: str, key: str, location: str) -> dict[str, Any]:
    try:
        return s3_client.get_object(Bucket=bucket, Key=key)
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


def _read_body(response: dict[str, Any], settings: SerializerSettings, location: str) -> bytes:
    body, content_length, limit = response["Body"], response["ContentLength"], settings.max_image_bytes
    if content_length > limit:
        # Fail before reading: no endpoint of this mode would take it.
        body.close()
        raise ImageTooLarge(
            f"{location}: the object is {content_length:,} bytes, over the {limit:,}-byte request payload limit "
            f"of a {settings.endpoint_mode} SageMaker endpoint (ENDPOINT_MODE={settings.endpoint_mode}); send a "
            "smaller JPEG (fewer pixels or a lower quality)"
        )
    return body.read()
