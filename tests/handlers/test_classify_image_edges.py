"""classify_image at its edges: retry or not where only the HTTP status decides, every transient code, strict base64
and the probability bounds from both sides. Each test fails on a mutant that survived the handler's other tests
(mutation/README.md)."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from botocore.response import StreamingBody

from tests.handlers.images import png_bytes
from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

app = load_handler_module("classify_image")

SETTINGS = app.ClassifierSettings(
    endpoint_name="scones-vision-endpoint", class_names=("bicycle", "motorcycle")
)
# InvokeEndpoint's retryable errors (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors)
# and the throttling codes boto3's standard mode retries (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html).
DOCUMENTED_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalDependencyException",
    "ModelNotReadyException",
}
# S3's, as the serializer's (tests/handlers/test_serialize_image_edges.py says where each is documented).
DOCUMENTED_S3_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"}
DOCUMENTED_S3_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "403", "404"}
REFERENCE_EVENT = {"image_ref": {"s3_bucket": "scones-vision-test-bucket", "s3_key": "a.jpg", "etag": '"e1"'}}


@pytest.fixture
def stubbed() -> Any:
    with stubbed_client("sagemaker-runtime") as pair:
        yield pair


def event_with(image_data: str) -> dict[str, Any]:
    return {"s3_key": "dataset/validation/x.png", "image_data": image_data}


def png_event() -> dict[str, Any]:
    return event_with(base64.b64encode(png_bytes()).decode("ascii"))


def classify_answering_error(stubbed, code: str, status: int) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "invoke_endpoint", service_error_code=code, service_message="m", http_status_code=status
    )
    app.classify_image(png_event(), SETTINGS, client)


def classify_answering(stubbed, body: bytes) -> dict[str, Any]:
    client, stubber = stubbed
    stubber.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(body), len(body))})
    return app.classify_image(png_event(), SETTINGS, client)


def test_the_transient_codes_are_the_documented_set():
    assert app._TRANSIENT_ERROR_CODES == DOCUMENTED_TRANSIENT_CODES
    assert app._TRANSIENT_S3_ERROR_CODES == DOCUMENTED_S3_TRANSIENT_CODES
    assert app._NOT_FOUND_S3_ERROR_CODES == DOCUMENTED_S3_NOT_FOUND_CODES


@pytest.mark.parametrize("code", sorted(DOCUMENTED_TRANSIENT_CODES))
def test_each_transient_code_is_retried_whatever_its_status(stubbed, code):
    # A 400 says nothing transient: only the code can make this one EndpointThrottled.
    with pytest.raises(app.EndpointThrottled, match=f"answered {code} \\(HTTP 400\\)"):
        classify_answering_error(stubbed, code, 400)


@pytest.mark.parametrize("status", [429, 500, 501, 599])
def test_a_throttled_or_server_status_is_retried_without_a_transient_code(stubbed, status):
    with pytest.raises(app.EndpointThrottled, match=f"answered SomethingNew \\(HTTP {status}\\)"):
        classify_answering_error(stubbed, "SomethingNew", status)


@pytest.mark.parametrize("status", [400, 428, 430, 499])
def test_a_client_status_next_to_those_is_permanent(stubbed, status):
    with pytest.raises(app.EndpointError, match=f"answered SomethingNew \\(HTTP {status}\\)"):
        classify_answering_error(stubbed, "SomethingNew", status)


@pytest.mark.parametrize("position", [0, 8, -4])
def test_base64_with_a_character_outside_the_alphabet_is_refused(position):
    # A lenient decoder drops the stray character and decodes the image anyway.
    text = png_event()["image_data"]
    tampered = text[:position] + "*" + text[position:]

    with pytest.raises(app.MalformedEvent, match="'image_data' is not valid base64"):
        app.classify_image(event_with(tampered), SETTINGS, None)


@pytest.mark.parametrize("body", [b"[-0.5, 1.0]", b"[-1e-9, 1.0]", b"[1.0000001, 0.0]"])
def test_a_probability_just_outside_0_to_1_is_refused(stubbed, body):
    with pytest.raises(app.MalformedEndpointResponse, match="outside \\[0, 1\\]"):
        classify_answering(stubbed, body)


def test_the_bounds_0_and_1_are_probabilities(stubbed):
    assert classify_answering(stubbed, b"[0.0, 1.0]")["inferences"] == [0.0, 1.0]


def test_a_bad_base64_message_quotes_the_first_16_characters():
    text = "not base64 at all, and longer than sixteen characters"

    with pytest.raises(app.MalformedEvent) as raised:
        app.classify_image(event_with(text), SETTINGS, None)

    assert f"its {len(text):,} characters start with {text[:16]!r}" in str(raised.value)


def test_a_message_about_bytes_of_another_format_quotes_the_first_12_bytes():
    image = b"GIF89a" + bytes(range(1, 20))

    with pytest.raises(app.MalformedEvent) as raised:
        app.classify_image(event_with(base64.b64encode(image).decode("ascii")), SETTINGS, None)

    assert str(raised.value).endswith(f"they start with {image[:12]!r}")


def test_a_malformed_answer_is_quoted_up_to_200_characters(stubbed):
    body = b"<" + b"x" * 300

    with pytest.raises(app.MalformedEndpointResponse) as raised:
        classify_answering(stubbed, body)

    assert f"its 301-byte answer starts with {body[:200].decode()!r}" in str(raised.value)


def test_the_client_waits_as_long_as_aws_advises_for_a_model_that_takes_its_60_seconds():
    # Containers answer "within 60 seconds"; for a model that takes 50-60 s, "the SDK socket timeout should be set
    # to be 70 seconds" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
    assert app.CLIENT_CONFIG.read_timeout == 70


@pytest.mark.parametrize("config", ["CLIENT_CONFIG", "S3_CLIENT_CONFIG", "LOOKUP_CLIENT_CONFIG"])
def test_every_client_makes_one_attempt_so_the_state_machine_owns_the_retries(config):
    # SDK retries on top of the state machine's would outlast the function's timeout (and capture an image twice).
    # botocore adds its retry mode to the dict once a client is made from it.
    assert getattr(app, config).retries["total_max_attempts"] == 1


@pytest.mark.parametrize(
    ("make_client", "config"),
    [
        (app._sagemaker_runtime_client, app.CLIENT_CONFIG),
        (app._s3_client, app.S3_CLIENT_CONFIG),
        (app._sagemaker_client, None),
    ],
    ids=["sagemaker-runtime", "s3", "sagemaker"],
)
def test_one_client_serves_every_invocation_of_an_execution_environment(aws_credentials, make_client, config):
    make_client.cache_clear()
    try:
        client = make_client()

        assert make_client() is client
        assert config is None or client.meta.config.read_timeout == config.read_timeout
    finally:
        make_client.cache_clear()


@pytest.fixture
def stubbed_s3() -> Any:
    with stubbed_client("s3") as pair:
        yield pair


def classify_reading_error(stubbed_s3, code: str, status: int) -> None:
    client, stubber = stubbed_s3
    stubber.add_client_error(
        "get_object", service_error_code=code, service_message="m", http_status_code=status
    )
    app.classify_image(REFERENCE_EVENT, SETTINGS, None, client)


@pytest.mark.parametrize("code", sorted(DOCUMENTED_S3_TRANSIENT_CODES))
def test_each_transient_s3_code_reading_a_reference_is_retried_whatever_its_status(stubbed_s3, code):
    with pytest.raises(app.StorageUnavailable, match=f"S3 answered {code} \\(HTTP 400\\)"):
        classify_reading_error(stubbed_s3, code, 400)


@pytest.mark.parametrize("code", sorted(DOCUMENTED_S3_NOT_FOUND_CODES))
def test_each_not_found_s3_code_reading_a_reference_is_image_not_found(stubbed_s3, code):
    with pytest.raises(app.ImageNotFound, match=f"cannot read the object \\({code}: m\\)"):
        classify_reading_error(stubbed_s3, code, 400)


@pytest.mark.parametrize("status", [500, 501, 599])
def test_an_s3_server_status_reading_a_reference_is_retried_without_a_transient_code(stubbed_s3, status):
    with pytest.raises(app.StorageUnavailable, match=f"S3 answered Odd \\(HTTP {status}\\)"):
        classify_reading_error(stubbed_s3, "Odd", status)


@pytest.mark.parametrize("status", [400, 499])
@pytest.mark.parametrize("code", ["Odd", "Weird"], ids=["sorting-before-PreconditionFailed", "sorting-after"])
def test_an_s3_client_status_reading_a_reference_without_a_known_code_is_permanent(stubbed_s3, code, status):
    with pytest.raises(app.ImageUnreadable, match=f"S3 refused the object \\({code}: m\\)"):
        classify_reading_error(stubbed_s3, code, status)
