"""classify_image: the endpoint through botocore's Stubber on a real sagemaker-runtime client."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from tests.handlers.conftest import SERVED_MODEL_NAME
from tests.handlers.images import jpeg_bytes, noisy_jpeg_bytes, png_bytes
from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

app = load_handler_module("classify_image")

ENDPOINT_NAME = "scones-vision-endpoint"
CLASS_NAMES = ["bicycle", "motorcycle"]
SETTINGS = app.ClassifierSettings(endpoint_name=ENDPOINT_NAME, class_names=tuple(CLASS_NAMES))


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT_NAME)
    monkeypatch.setenv("CLASS_NAMES", json.dumps(CLASS_NAMES))


@pytest.fixture
def sagemaker_runtime(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real client behind a Stubber, installed as the handler's client; every queued answer must be used."""
    with stubbed_client("sagemaker-runtime") as (client, stubber):
        monkeypatch.setattr(app, "_sagemaker_runtime_client", lambda: client)
        yield client, stubber


def endpoint_answer(body: bytes) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"}


def expected_request(image: bytes, content_type: str) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT_NAME,
        "ContentType": content_type,
        "Accept": "application/json",
        "Body": image,
    }


def event_with(image: bytes) -> dict[str, Any]:
    return {
        "s3_bucket": "scones-vision-test-bucket",
        "s3_key": "dataset/validation/x.png",
        "image_data": base64.b64encode(image).decode("ascii"),
        "inferences": [],
    }


def test_handler_adds_inferences_and_predicted_class(
    sagemaker_runtime, environment, load_event, lambda_context, log_lines
):
    _, stubber = sagemaker_runtime
    event = load_event("classify_input")
    image = base64.b64decode(event["image_data"])
    stubber.add_response(
        "invoke_endpoint", endpoint_answer(b"[0.21, 0.79]"), expected_request(image, "image/png")
    )

    output = app.handler(event, lambda_context)

    served = {"model_name": SERVED_MODEL_NAME, "model_version": 3}  # tests/handlers/conftest.py's lookup
    assert output == {**event, "inferences": [0.21, 0.79], "predicted_class": "motorcycle", **served}
    [line] = log_lines()
    assert line["message"] == "image classified"
    assert line["endpoint_name"] == ENDPOINT_NAME
    assert line["s3_key"] == event["s3_key"]
    assert line["inferences"] == [0.21, 0.79]
    assert (line["predicted_class"], line["confidence"]) == ("motorcycle", 0.79)
    assert event["image_data"] not in json.dumps(line)


def test_jpeg_is_sent_as_image_jpeg(sagemaker_runtime):
    client, stubber = sagemaker_runtime
    image = jpeg_bytes()
    stubber.add_response("invoke_endpoint", endpoint_answer(b"[1, 0]"), expected_request(image, "image/jpeg"))

    output = app.classify_image(event_with(image), SETTINGS, client)

    assert output["inferences"] == [1.0, 0.0]
    assert all(isinstance(value, float) for value in output["inferences"])
    assert output["predicted_class"] == "bicycle"


def test_predicted_class_follows_class_index_order(sagemaker_runtime):
    client, stubber = sagemaker_runtime
    image = png_bytes()
    settings = app.ClassifierSettings(ENDPOINT_NAME, ("bicycle", "motorcycle", "tractor"))
    stubber.add_response(
        "invoke_endpoint", endpoint_answer(b"[0.1, 0.2, 0.7]"), expected_request(image, "image/png")
    )

    output = app.classify_image(event_with(image), settings, client)

    assert output["predicted_class"] == "tractor"


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("ModelError", 424, 'Received client error (400) from primary with message "bad image"'),
        ("ValidationError", 400, "Endpoint scones-vision-endpoint of account 123456789012 not found."),
        ("AccessDeniedException", 403, "not authorized to perform: sagemaker:InvokeEndpoint"),
    ],
    ids=["model-error", "unknown-endpoint", "access-denied"],
)
def test_rejected_requests_raise_endpoint_error(
    sagemaker_runtime, environment, lambda_context, log_lines, code, status, message
):
    _, stubber = sagemaker_runtime
    image = png_bytes()
    event = event_with(image)
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        expected_params=expected_request(image, "image/png"),
    )

    with pytest.raises(app.EndpointError) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "EndpointError"
    assert f"endpoint {ENDPOINT_NAME!r} answered {code} (HTTP {status}): {message}" in str(raised.value)
    # The Lambda runtime logs the raised error itself; the handler adds no second line.
    assert log_lines() == []


def test_model_error_quotes_what_the_model_container_said(sagemaker_runtime):
    client, stubber = sagemaker_runtime
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="Received client error (415) from primary",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 415, "OriginalMessage": "unsupported content type image/png"},
    )

    with pytest.raises(app.EndpointError) as raised:
        app.classify_image(event_with(png_bytes()), SETTINGS, client)

    assert "the model container answered HTTP 415: unsupported content type image/png" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("ModelNotReadyException", 429),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("InternalDependencyException", 530),
        ("SomethingNew", 502),
    ],
)
def test_throttling_and_server_errors_raise_endpoint_throttled(sagemaker_runtime, code, status):
    client, stubber = sagemaker_runtime
    stubber.add_client_error(
        "invoke_endpoint", service_error_code=code, service_message="Rate exceeded", http_status_code=status
    )

    with pytest.raises(app.EndpointThrottled) as raised:
        app.classify_image(event_with(png_bytes()), SETTINGS, client)

    assert type(raised.value).__name__ == "EndpointThrottled"
    assert f"endpoint {ENDPOINT_NAME!r} answered {code} (HTTP {status}): Rate exceeded" in str(raised.value)


@pytest.mark.parametrize(
    "network_error",
    [
        botocore.exceptions.EndpointConnectionError(endpoint_url="https://runtime.sagemaker.test"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://runtime.sagemaker.test"),
        botocore.exceptions.ConnectionClosedError(endpoint_url="https://runtime.sagemaker.test"),
    ],
    ids=["refused", "read-timeout", "closed"],
)
def test_unreachable_service_raises_endpoint_throttled(aws_credentials, network_error):
    # The function's own client configuration: one attempt, so the error reaches the handler at once.
    client = boto3.client("sagemaker-runtime", region_name="us-east-1", config=app.CLIENT_CONFIG)
    attempts = []

    def fail_on_the_network(**_: Any) -> None:
        attempts.append(1)
        raise network_error

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", fail_on_the_network)

    with pytest.raises(app.EndpointThrottled) as raised:
        app.classify_image(event_with(png_bytes()), SETTINGS, client)

    assert type(raised.value).__name__ == "EndpointThrottled"
    assert f"endpoint {ENDPOINT_NAME!r} could not be reached" in str(raised.value)
    assert len(attempts) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "the answer is not JSON"),
        (b"\xff\xfe\x00garbage", "the answer is not JSON"),
        (b'{"predictions": [0.2, 0.8]}', "the answer is a JSON dict"),
        (b"[0.2, 0.3, 0.5]", "the list has 3 items"),
        (b"[0.9]", "the list has 1 items"),
        (b'["0.2", "0.8"]', "item 0 is '0.2', not a number"),
        (b"[0.2, null]", "item 1 is None, not a number"),
        (b"[true, false]", "item 0 is True, not a number"),
        (b"[1.5, -0.5]", "item 0 is 1.5, outside [0, 1]"),
        (b"[NaN, 0.5]", "item 0 is nan, outside [0, 1]"),
    ],
    ids=[
        "html",
        "not-utf8",
        "object",
        "too-long",
        "too-short",
        "strings",
        "null",
        "booleans",
        "out-of-range",
        "nan",
    ],
)
def test_malformed_endpoint_answers_raise_malformed_endpoint_response(sagemaker_runtime, body, reason):
    client, stubber = sagemaker_runtime
    stubber.add_response("invoke_endpoint", endpoint_answer(body))

    with pytest.raises(app.MalformedEndpointResponse) as raised:
        app.classify_image(event_with(png_bytes()), SETTINGS, client)

    assert type(raised.value).__name__ == "MalformedEndpointResponse"
    message = str(raised.value)
    assert f"endpoint {ENDPOINT_NAME!r} should answer a JSON list of 2 probabilities in [0, 1]" in message
    assert reason in message
    assert f"its {len(body):,}-byte answer starts with" in message


@pytest.mark.parametrize(
    ("event", "found"),
    [
        ([], "the event must be a JSON object, got list"),
        (
            {"s3_key": "a.png"},
            "'image_data' must be non-empty base64 text, got missing, and it has no 'image_ref'",
        ),
        (
            {"image_data": "iVBORw0KGgo=", "image_ref": {}},
            "the event carries both 'image_data' and 'image_ref'; the serializer passes one",
        ),
        ({"image_ref": "s3://bucket/key"}, "'image_ref' must be an object of non-empty strings"),
        (
            {"image_ref": {"s3_bucket": "b", "s3_key": "k"}},
            "['s3_bucket', 's3_key', 'etag'], got {'s3_bucket': 'b', 's3_key': 'k'}",
        ),
        (
            {"image_ref": {"s3_bucket": "not a bucket!", "s3_key": "k", "etag": '"e"'}},
            'Invalid bucket name "not a bucket!"',
        ),
        ({"image_data": ""}, "'image_data' must be non-empty base64 text, got str"),
        ({"image_data": b"iVBORw0KGgo="}, "'image_data' must be non-empty base64 text, got bytes"),
        ({"image_data": "not base64!"}, "'image_data' is not valid base64"),
        (
            {"image_data": base64.b64encode(b"GIF89a....").decode()},
            "neither PNG nor JPEG; they start with b'GIF89a",
        ),
    ],
    ids=[
        "list",
        "missing",
        "both",
        "reference-not-object",
        "reference-without-etag",
        "reference-bad-bucket",
        "empty",
        "bytes",
        "invalid-base64",
        "gif",
    ],
)
def test_malformed_events_raise_malformed_event(sagemaker_runtime, environment, lambda_context, event, found):
    with pytest.raises(app.MalformedEvent) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "MalformedEvent"
    assert found in str(raised.value)


@pytest.mark.parametrize(
    ("variables", "found"),
    [
        ({"CLASS_NAMES": '["bicycle"]'}, "ENDPOINT_NAME is missing or empty"),
        ({"ENDPOINT_NAME": "", "CLASS_NAMES": '["bicycle"]'}, "ENDPOINT_NAME is missing or empty"),
        ({"ENDPOINT_NAME": ENDPOINT_NAME}, "CLASS_NAMES is missing"),
        ({"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": "bicycle,motorcycle"}, "CLASS_NAMES is not JSON"),
        (
            {"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": '{"0": "bicycle"}'},
            "must be a non-empty JSON list",
        ),
        ({"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": "[]"}, "must be a non-empty JSON list"),
        ({"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": '["bicycle", 1]'}, "must be a non-empty JSON list"),
        ({"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": '["a", "a"]'}, "CLASS_NAMES has duplicate names"),
    ],
    ids=[
        "no-endpoint",
        "empty-endpoint",
        "no-classes",
        "not-json",
        "object",
        "empty",
        "non-string",
        "duplicates",
    ],
)
def test_bad_configuration_raises_configuration_error(
    sagemaker_runtime, monkeypatch, load_event, lambda_context, variables, found
):
    monkeypatch.delenv("ENDPOINT_NAME", raising=False)
    monkeypatch.delenv("CLASS_NAMES", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(app.ConfigurationError) as raised:
        app.handler(load_event("classify_input"), lambda_context)

    assert type(raised.value).__name__ == "ConfigurationError"
    assert found in str(raised.value)


def test_settings_are_read_at_each_call(
    sagemaker_runtime, environment, monkeypatch, load_event, lambda_context
):
    _, stubber = sagemaker_runtime
    event = load_event("classify_input")
    image = base64.b64decode(event["image_data"])
    stubber.add_response(
        "invoke_endpoint", endpoint_answer(b"[0.6, 0.4]"), expected_request(image, "image/png")
    )
    app.handler(event, lambda_context)

    monkeypatch.setenv("ENDPOINT_NAME", "replacement-endpoint")
    stubber.add_response(
        "invoke_endpoint",
        endpoint_answer(b"[0.6, 0.4]"),
        {**expected_request(image, "image/png"), "EndpointName": "replacement-endpoint"},
    )

    assert app.handler(event, lambda_context)["predicted_class"] == "bicycle"


BUCKET = "scones-vision-test-bucket"


@pytest.fixture
def s3(moto_s3: Any) -> Any:
    moto_s3.create_bucket(Bucket=BUCKET)
    return moto_s3


def referenced(s3: Any, image: bytes, key: str = "dataset/validation/photo.jpg") -> dict[str, Any]:
    """The serializer's output for an image passed by reference."""
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=image)["ETag"]
    return {
        "s3_bucket": BUCKET,
        "s3_key": key,
        "image_ref": {"s3_bucket": BUCKET, "s3_key": key, "etag": etag},
        "inferences": [],
    }


def large_jpeg() -> bytes:
    image = noisy_jpeg_bytes((640, 480))
    assert len(image) > 245_760  # more than the state carries inline
    return image


def test_an_image_passed_by_reference_is_read_from_s3_and_sent_to_the_endpoint(
    sagemaker_runtime, s3, environment, monkeypatch, lambda_context, log_lines
):
    _, stubber = sagemaker_runtime
    monkeypatch.setattr(app, "_s3_client", lambda: s3)
    image = large_jpeg()
    event = referenced(s3, image)
    stubber.add_response(
        "invoke_endpoint", endpoint_answer(b"[0.1, 0.9]"), expected_request(image, "image/jpeg")
    )

    output = app.handler(event, lambda_context)

    served = {"model_name": SERVED_MODEL_NAME, "model_version": 3}  # tests/handlers/conftest.py's lookup
    assert output == {**event, "inferences": [0.1, 0.9], "predicted_class": "motorcycle", **served}
    [line] = log_lines()
    assert (line["passed"], line["image_bytes"], line["content_type"]) == (
        "by_reference",
        len(image),
        "image/jpeg",
    )


def test_a_referenced_object_that_is_gone_raises_image_not_found(sagemaker_runtime, s3):
    client, _ = sagemaker_runtime
    event = referenced(s3, large_jpeg())
    s3.delete_object(Bucket=BUCKET, Key=event["s3_key"])

    with pytest.raises(app.ImageNotFound) as raised:
        app.classify_image(event, SETTINGS, client, s3)

    assert type(raised.value).__name__ == "ImageNotFound"
    assert str(raised.value).startswith(f"s3://{BUCKET}/{event['s3_key']}: cannot read the object (NoSuchKey")


def test_a_referenced_object_replaced_since_the_serializer_checked_it_raises_image_unreadable(
    sagemaker_runtime, s3
):
    client, _ = sagemaker_runtime
    event = referenced(s3, large_jpeg())
    s3.put_object(Bucket=BUCKET, Key=event["s3_key"], Body=b"GIF89a, uploaded later")

    with pytest.raises(app.ImageUnreadable) as raised:
        app.classify_image(event, SETTINGS, client, s3)

    assert type(raised.value).__name__ == "ImageUnreadable"
    assert "the object was replaced since the serializer checked it" in str(raised.value)
    assert event["image_ref"]["etag"] in str(raised.value)


def test_the_endpoint_refusing_a_referenced_image_raises_endpoint_error(sagemaker_runtime, s3):
    client, stubber = sagemaker_runtime
    image = large_jpeg()
    # What SageMaker answers a body over its limit (aws/sagemaker-python-sdk#171): HTTP 413, no error code.
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="413",
        service_message="HTTP content length exceeded 6291456 bytes.",
        http_status_code=413,
        expected_params=expected_request(image, "image/jpeg"),
    )

    with pytest.raises(app.EndpointError) as raised:
        app.classify_image(referenced(s3, image), SETTINGS, client, s3)

    assert str(raised.value) == (
        f"endpoint {ENDPOINT_NAME!r} answered 413 (HTTP 413): HTTP content length exceeded 6291456 bytes."
    )


def test_a_referenced_object_that_is_no_png_or_jpeg_raises_malformed_event(sagemaker_runtime, s3):
    client, _ = sagemaker_runtime

    with pytest.raises(
        app.MalformedEvent, match=f"s3://{BUCKET}/x.gif holds 13 bytes that are neither PNG nor JPEG"
    ):
        app.classify_image(referenced(s3, b"GIF89a, a gif", key="x.gif"), SETTINGS, client, s3)


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        ("AccessDenied", 403, "ImageNotFound", "cannot read the object (AccessDenied: S3 says no)"),
        ("SlowDown", 503, "StorageUnavailable", "S3 answered SlowDown (HTTP 503): S3 says no"),
        ("RequestTimeout", 400, "StorageUnavailable", "S3 answered RequestTimeout (HTTP 400): S3 says no"),
        ("Odd", 502, "StorageUnavailable", "S3 answered Odd (HTTP 502): S3 says no"),
        (
            "InvalidObjectState",
            403,
            "ImageUnreadable",
            "S3 refused the object (InvalidObjectState: S3 says no)",
        ),
    ],
)
def test_s3_errors_reading_a_referenced_image_become_named_errors(
    sagemaker_runtime, code, status, error, message
):
    client, _ = sagemaker_runtime
    s3 = boto3.client("s3", region_name="us-east-1")
    event = {"image_ref": {"s3_bucket": BUCKET, "s3_key": "a.jpg", "etag": '"e1"'}}
    with Stubber(s3) as s3_stubber:
        s3_stubber.add_client_error(
            "get_object",
            service_error_code=code,
            service_message="S3 says no",
            http_status_code=status,
            expected_params={"Bucket": BUCKET, "Key": "a.jpg", "IfMatch": '"e1"'},
        )

        with pytest.raises(getattr(app, error)) as raised:
            app.classify_image(event, SETTINGS, client, s3)

    assert type(raised.value).__name__ == error
    assert str(raised.value) == f"s3://{BUCKET}/a.jpg: {message}"


def test_the_classifier_and_the_serializer_agree_on_which_s3_errors_are_transient_or_not_found():
    serializer = load_handler_module("serialize_image")

    assert app._TRANSIENT_S3_ERROR_CODES == serializer._TRANSIENT_ERROR_CODES
    assert app._NOT_FOUND_S3_ERROR_CODES == serializer._NOT_FOUND_ERROR_CODES


def test_unreachable_s3_for_a_referenced_image_raises_storage_unavailable(sagemaker_runtime):
    client, _ = sagemaker_runtime
    # The function's own S3 configuration: one attempt, so the error reaches the handler at once.
    s3 = boto3.client("s3", region_name="us-east-1", config=app.S3_CLIENT_CONFIG)
    attempts = []

    def drop_connection(**_: Any) -> None:
        attempts.append(1)
        raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://s3.test")

    s3.meta.events.register("before-send.s3.GetObject", drop_connection)
    event = {"image_ref": {"s3_bucket": BUCKET, "s3_key": "a.jpg", "etag": '"e1"'}}

    with pytest.raises(app.StorageUnavailable, match=f"s3://{BUCKET}/a.jpg: S3 could not be reached"):
        app.classify_image(event, SETTINGS, client, s3)
    assert len(attempts) == 1
