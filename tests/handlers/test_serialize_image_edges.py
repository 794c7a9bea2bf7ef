"""serialize_image at its edges: retry or not where only the HTTP status decides, every transient and not-found code.
Each test fails on a mutant that survived the handler's other tests (mutation/README.md)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.response import StreamingBody

from tests.handlers.images import png_bytes_of_length
from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

app = load_handler_module("serialize_image")

BUCKET = "scones-vision-test-bucket"
# S3's error codes (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html): RequestTimeout is a 400,
# SlowDown and ServiceUnavailable 503s, InternalError a 500; an error without a body carries only its status.
DOCUMENTED_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"}
ETAG = '"9b2cf535f27731c974343645a3985328"'
# A missing key is a 403 AccessDenied without s3:ListBucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
DOCUMENTED_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "403", "404"}


@pytest.fixture
def stubbed() -> Any:
    with stubbed_client("s3") as pair:
        yield pair


def serialize_answering_error(stubbed, code: str, status: int) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "get_object", service_error_code=code, service_message="m", http_status_code=status
    )
    app.serialize_image({"s3_bucket": BUCKET, "s3_key": "a.png"}, client)


def serialize_object(stubbed, image: bytes, settings: Any = None, **event: Any) -> dict[str, Any]:
    client, stubber = stubbed
    body = StreamingBody(io.BytesIO(image), len(image))
    stubber.add_response("get_object", {"Body": body, "ContentLength": len(image), "ETag": ETAG})
    return app.serialize_image(
        {"s3_bucket": BUCKET, "s3_key": "a.png", **event}, client, settings or app.REALTIME
    )


def test_the_transient_and_not_found_codes_are_the_documented_sets():
    assert app._TRANSIENT_ERROR_CODES == DOCUMENTED_TRANSIENT_CODES
    assert app._NOT_FOUND_ERROR_CODES == DOCUMENTED_NOT_FOUND_CODES


def test_s3s_request_timeout_arrives_as_a_400_and_is_retried(stubbed):
    with pytest.raises(app.StorageUnavailable, match=r"S3 answered RequestTimeout \(HTTP 400\)"):
        serialize_answering_error(stubbed, "RequestTimeout", 400)


@pytest.mark.parametrize("code", sorted(DOCUMENTED_TRANSIENT_CODES))
def test_each_transient_code_is_retried_whatever_its_status(stubbed, code):
    with pytest.raises(app.StorageUnavailable, match=f"S3 answered {code} \\(HTTP 400\\)"):
        serialize_answering_error(stubbed, code, 400)


@pytest.mark.parametrize("code", sorted(DOCUMENTED_NOT_FOUND_CODES))
def test_each_not_found_code_is_image_not_found_whatever_its_status(stubbed, code):
    with pytest.raises(app.ImageNotFound, match=f"cannot read the object \\({code}: m\\)"):
        serialize_answering_error(stubbed, code, 400)


@pytest.mark.parametrize("status", [500, 501, 599])
def test_a_server_status_is_retried_without_a_transient_code(stubbed, status):
    with pytest.raises(app.StorageUnavailable, match=f"S3 answered Odd \\(HTTP {status}\\)"):
        serialize_answering_error(stubbed, "Odd", status)


@pytest.mark.parametrize("status", [400, 499])
def test_a_client_status_below_500_without_a_known_code_is_permanent(stubbed, status):
    with pytest.raises(app.ImageUnreadable, match=r"S3 refused the object \(Odd: m\)"):
        serialize_answering_error(stubbed, "Odd", status)


def test_a_state_output_of_exactly_the_limit_carries_the_image_inline_and_one_byte_more_by_reference(stubbed):
    # 3n image bytes are 4n base64 characters; the padding key takes up the last 0 to 3 bytes.
    envelope = len(
        json.dumps({"s3_bucket": BUCKET, "s3_key": "a.png", "pad": "", "image_data": "", "inferences": []})
    )
    image_length = 3 * ((app.STATE_OUTPUT_LIMIT_BYTES - envelope) // 4)
    pad = "p" * (app.STATE_OUTPUT_LIMIT_BYTES - envelope - 4 * image_length // 3)
    image = png_bytes_of_length(image_length)

    inline = serialize_object(stubbed, image, pad=pad)
    by_reference = serialize_object(stubbed, image, pad=pad + "p")

    assert len(json.dumps(inline).encode("utf-8")) == app.STATE_OUTPUT_LIMIT_BYTES
    assert "image_ref" not in inline
    assert "image_data" not in by_reference
    assert by_reference["image_ref"] == {"s3_bucket": BUCKET, "s3_key": "a.png", "etag": ETAG}


@pytest.mark.parametrize("mode", ["realtime", "serverless"])
def test_an_object_of_exactly_the_endpoints_payload_limit_is_read_and_one_byte_more_is_refused(stubbed, mode):
    settings = app.load_settings({"ENDPOINT_MODE": mode})
    limit = {"realtime": 6_291_456, "serverless": 4_194_304}[mode]
    image = png_bytes_of_length(limit)

    assert serialize_object(stubbed, image, settings=settings)["image_ref"]["etag"] == ETAG
    with pytest.raises(
        app.ImageTooLarge, match=f"the object is {limit + 1:,} bytes, over the {limit:,}-byte"
    ):
        serialize_object(stubbed, image + b"\x00", settings=settings)


def test_an_image_length_off_a_multiple_of_3_counts_its_base64_padding(stubbed):
    # 3n + 1 bytes are 4n + 4 base64 characters, "==" included: one byte over the limit goes by reference.
    envelope = len(
        json.dumps({"s3_bucket": BUCKET, "s3_key": "a.png", "pad": "", "image_data": "", "inferences": []})
    )
    image_length = 3 * ((app.STATE_OUTPUT_LIMIT_BYTES - envelope) // 4 - 1) + 1
    fitting_pad = "p" * (app.STATE_OUTPUT_LIMIT_BYTES - envelope - 4 * (image_length + 2) // 3)
    image = png_bytes_of_length(image_length)

    assert "image_data" in serialize_object(stubbed, image, pad=fitting_pad)
    assert "image_ref" in serialize_object(stubbed, image, pad=fitting_pad + "p")


def test_the_state_limit_is_step_functions_quota():
    # 256 KiB of UTF-8 for a state's input or output (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
    assert app.STEP_FUNCTIONS_STATE_LIMIT_BYTES == 256 * 1024
