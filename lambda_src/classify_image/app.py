"""Step Functions task: send the image (``image_data`` inline, or the S3 object of ``image_ref``) to the endpoint and
add its ``inferences`` and ``predicted_class``, and the ``model_name`` and ``model_version`` it serves
(served_model.py) (docs/CONTRACTS.md, "Workflow state").

Environment: ``ENDPOINT_NAME``, ``CLASS_NAMES`` (a JSON list in class-index order)."""

import base64
import binascii
import functools
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import served_model
from botocore.config import Config

# Worth a retry: the service or the model container is busy or not ready yet
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors).
_TRANSIENT_ERROR_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ServiceUnavailable", "InternalFailure", "InternalDependencyException",
     "ModelNotReadyException"}
)  # fmt: skip
# S3 is busy or failing for a moment; the same codes as the serializer's (a test holds them equal).
_TRANSIENT_S3_ERROR_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"}
)
# No such key or bucket; without s3:ListBucket a missing key is a 403
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
_NOT_FOUND_S3_ERROR_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "AccessDenied", "403", "404"})
_CONTENT_TYPE_BY_SIGNATURE = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
# How much of a bad endpoint answer to quote in an error message.
_BODY_PREVIEW_CHARS = 200


class ConfigurationError(Exception):
    """The function's environment lacks a setting or holds an invalid one."""


class MalformedEvent(Exception):
    """The event is not a dict with either ``image_data``, base64 text of a PNG or JPEG image, or an ``image_ref``."""


class ImageNotFound(Exception):
    """The object of ``image_ref`` no longer exists, or the function may not read it."""


class ImageUnreadable(Exception):
    """S3 refused the object of ``image_ref`` otherwise, e.g. it was replaced since the serializer checked it."""


class StorageUnavailable(Exception):
    """S3 throttled the read, failed with a 5xx, or could not be reached; worth a retry."""


class EndpointError(Exception):
    """The endpoint rejected the request (model error, validation error, unknown endpoint)."""


class EndpointThrottled(Exception):
    """sagemaker-runtime throttled the call, failed with a 5xx, or could not be reached; worth a retry."""


class MalformedEndpointResponse(Exception):
    """The endpoint's answer is not a JSON list of one probability per class."""


@dataclass(frozen=True)
class ClassifierSettings:
    endpoint_name: str
    class_names: tuple[str, ...]


# JSON log format: ``extra`` fields become top-level keys; raised errors are logged by the runtime
# (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html).
_LOGGER = logging.getLogger("classify_image")


# One attempt: the state machine retries EndpointThrottled; SDK retries would outlast the function's timeout and
# capture one image several times. A model has 60 s to answer, and AWS advises a 70 s socket timeout for that
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=70, retries={"total_max_attempts": 1})
# Reading a photo passed by reference, before that call: one attempt too (the state machine retries
# StorageUnavailable), and short, so both calls end within the function's timeout.
S3_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 1})
# The served model's Describe calls (served_model.py), one attempt each too: ModelLookupFailed is retried by the
# state machine.
LOOKUP_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 1})


@functools.cache
def _sagemaker_runtime_client() -> Any:
    # One per execution environment, created on first use so a test can stub it first.
    return boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)


@functools.cache
def _s3_client() -> Any:
    return boto3.client("s3", config=S3_CLIENT_CONFIG)


@functools.cache
def _sagemaker_client() -> Any:
    # The control plane, for served_model's Describe calls.
    return boto3.client("sagemaker", config=LOOKUP_CLIENT_CONFIG)


_SERVED_MODEL = served_model.ServedModelCache()


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = load_settings(os.environ)
    # Looked up before the endpoint is invoked: a failed lookup retried does not classify (and capture) twice.
    served = _SERVED_MODEL.get(_sagemaker_client(), settings.endpoint_name)
    classified = classify_image(event, settings, _sagemaker_runtime_client(), _s3_client())
    return {**classified, **served.fields()}


def load_settings(environ: Mapping[str, str]) -> ClassifierSettings:
    endpoint_name = environ.get("ENDPOINT_NAME", "")
    if not endpoint_name:
        raise ConfigurationError("environment variable ENDPOINT_NAME is missing or empty")

    class_names_text = environ.get("CLASS_NAMES")
    if class_names_text is None:
        raise ConfigurationError("environment variable CLASS_NAMES is missing")
    try:
        class_names = json.loads(class_names_text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"CLASS_NAMES is not JSON ({error}): {class_names_text!r}") from error
    if (
        not isinstance(class_names, list)
        or not class_names
        or not all(isinstance(name, str) and name for name in class_names)
    ):
        raise ConfigurationError(
            f"CLASS_NAMES must be a non-empty JSON list of non-empty strings, got {class_names_text!r}"
        )
    if len(set(class_names)) != len(class_names):
        raise ConfigurationError(f"CLASS_NAMES has duplicate names: {class_names_text!r}")
    return ClassifierSettings(endpoint_name=endpoint_name, class_names=tuple(class_names))


def classify_image(
    event: Any, settings: ClassifierSettings, sagemaker_runtime: Any, s3_client: Any = None
) -> dict[str, Any]:
    """`s3_client` reads an ``image_ref``; None: the function's own client."""
    image_bytes, content_type = _image(event, s3_client)
    response_body = _invoke_endpoint(sagemaker_runtime, settings.endpoint_name, content_type, image_bytes)
    inferences = _parse_inferences(response_body, settings)

    best_index = max(range(len(inferences)), key=inferences.__getitem__)
    predicted_class = settings.class_names[best_index]
    _LOGGER.info(
        "image classified",
        extra=dict(
            s3_key=event.get("s3_key"),
            endpoint_name=settings.endpoint_name,
            content_type=content_type,
            image_bytes=len(image_bytes),
            passed="inline" if "image_data" in event else "by_reference",
            inferences=inferences,
            predicted_class=predicted_class,
            confidence=inferences[best_index],
        ),
    )
    return {**event, "inferences": inferences, "predicted_class": predicted_class}


def _image(event: Any, s3_client: Any) -> tuple[bytes, str]:
    if not isinstance(event, dict):
        raise MalformedEvent(f"the event must be a JSON object, got {type(event).__name__}")
    if "image_data" in event and "image_ref" in event:
        raise MalformedEvent("the event carries both 'image_data' and 'image_ref'; the serializer passes one")
    if "image_data" not in event and "image_ref" not in event:
        raise MalformedEvent(
            "the event's 'image_data' must be non-empty base64 text, got missing, and it has no 'image_ref' (the "
            "S3 object of an image passed by reference) either"
        )
    if "image_data" in event:
        image_bytes, source = _decoded_image(event["image_data"]), "the event's 'image_data' decodes to"
    else:
        image_bytes, location = _referenced_image(event["image_ref"], s3_client or _s3_client())
        source = f"{location} holds"
    for signature, content_type in _CONTENT_TYPE_BY_SIGNATURE.items():
        if image_bytes.startswith(signature):
            return image_bytes, content_type
    raise MalformedEvent(
        f"{source} {len(image_bytes):,} bytes that are neither PNG nor JPEG; they start with {image_bytes[:12]!r}"
    )


def _decoded_image(image_data: Any) -> bytes:
    if not isinstance(image_data, str) or not image_data:
        raise MalformedEvent(
            f"the event's 'image_data' must be non-empty base64 text, got {type(image_data).__name__}"
        )
    try:
        return base64.b64decode(image_data, validate=True)
    except binascii.Error as error:
        raise MalformedEvent(
            f"the event's 'image_data' is not valid base64 ({error}); its {len(image_data):,} characters "
            f"start with {image_data[:16]!r}"
        ) from error


def _referenced_image(reference: Any, s3_client: Any) -> tuple[bytes, str]:
    """The bytes of the object the serializer checked: If-Match on its ETag refuses one replaced since."""
    fields = ("s3_bucket", "s3_key", "etag")
    if not isinstance(reference, dict) or not all(
        isinstance(reference.get(name), str) and reference[name] for name in fields
    ):
        raise MalformedEvent(
            f"the event's 'image_ref' must be an object of non-empty strings {list(fields)}, got {reference!r}"
        )
    bucket, key, etag = (reference[name] for name in fields)
    location = f"s3://{bucket}/{key}"
    try:
        response = s3_client.get_object(Bucket=bucket, Key=key, IfMatch=etag)
    except botocore.exceptions.ParamValidationError as error:
        raise MalformedEvent(f"{location}: {error}") from error
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_FOUND_S3_ERROR_CODES:
            raise ImageNotFound(f"{location}: cannot read the object ({code}: {message})") from error
        if code in _TRANSIENT_S3_ERROR_CODES or status >= 500:
            raise StorageUnavailable(f"{location}: S3 answered {code} (HTTP {status}): {message}") from error
        if code == "PreconditionFailed":
            raise ImageUnreadable(
                f"{location}: the object was replaced since the serializer checked it (ETag {etag} no longer "
                f"matches): start a new execution for the new object"
            ) from error
        raise ImageUnreadable(f"{location}: S3 refused the object ({code}: {message})") from error
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
        raise StorageUnavailable(f"{location}: S3 could not be reached: {error}") from error
    return response["Body"].read(), location


def _invoke_endpoint(sagemaker_runtime: Any, endpoint_name: str, content_type: str, body: bytes) -> bytes:
    try:
        response = sagemaker_runtime.invoke_endpoint(
            EndpointName=endpoint_name, ContentType=content_type, Accept="application/json", Body=body
        )
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        description = f"endpoint {endpoint_name!r} answered {code} (HTTP {status}): {message}"
        # A ModelError carries what the model container itself answered.
        if "OriginalStatusCode" in error.response:
            description += (
                f"; the model container answered HTTP {error.response['OriginalStatusCode']}: "
                f"{error.response.get('OriginalMessage', '')}"
            )
        if code in _TRANSIENT_ERROR_CODES or status == 429 or status >= 500:
            raise EndpointThrottled(description) from error
        raise EndpointError(description) from error
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
        # Connection failures, read timeouts and dropped connections are as transient as a 5xx: let the state
        # machine retry. (ReadTimeoutError and ConnectionClosedError are HTTPClientErrors, not ConnectionErrors.)
        raise EndpointThrottled(f"endpoint {endpoint_name!r} could not be reached: {error}") from error
    return response["Body"].read()


def _parse_inferences(response_body: bytes, settings: ClassifierSettings) -> list[float]:
    expected = f"a JSON list of {len(settings.class_names)} probabilities in [0, 1]"

    def malformed(reason: str) -> MalformedEndpointResponse:
        preview = response_body[:_BODY_PREVIEW_CHARS].decode("utf-8", errors="replace")
        return MalformedEndpointResponse(
            f"endpoint {settings.endpoint_name!r} should answer {expected}, but {reason}; "
            f"its {len(response_body):,}-byte answer starts with {preview!r}"
        )

    try:
        answer = json.loads(response_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise malformed(f"the answer is not JSON ({error})") from error
    if not isinstance(answer, list):
        raise malformed(f"the answer is a JSON {type(answer).__name__}")
    if len(answer) != len(settings.class_names):
        raise malformed(f"the list has {len(answer)} items")
    for index, value in enumerate(answer):
        # bool is an int subclass in Python, but true/false is no probability.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise malformed(f"item {index} is {value!r}, not a number")
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise malformed(f"item {index} is {value!r}, outside [0, 1]")
    return [float(value) for value in answer]
