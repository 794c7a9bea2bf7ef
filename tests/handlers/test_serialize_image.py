"""serialize_image: S3 through moto (and Stubber for errors moto cannot produce), images made with Pillow."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

from tests.handlers.images import (
    gif_bytes,
    jpeg_bytes,
    png_bytes,
    png_bytes_of_length,
    png_claiming_size,
    png_with_garbage_image_data,
)
from tests.lambda_handlers import load_handler_module

app = load_handler_module("serialize_image")

BUCKET = "scones-vision-test-bucket"


@pytest.fixture
def s3(moto_s3: Any) -> Any:
    """The test bucket; the handler's cached client is created inside the mock."""
    app._s3_client.cache_clear()
    moto_s3.create_bucket(Bucket=BUCKET)
    yield moto_s3
    app._s3_client.cache_clear()


@pytest.fixture
def stubbed_s3(aws_credentials: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def event_for(key: str, **extra: Any) -> dict[str, Any]:
    return {"s3_bucket": BUCKET, "s3_key": key, **extra}


def serialized_size(output: dict[str, Any]) -> int:
    return len(json.dumps(output).encode("utf-8"))


def test_handler_adds_base64_image_and_empty_inferences(s3, load_event, lambda_context, log_lines):
    event = load_event("serialize_input")
    image = png_bytes()
    s3.put_object(Bucket=event["s3_bucket"], Key=event["s3_key"], Body=image)

    output = app.handler(event, lambda_context)

    assert output == {**event, "image_data": base64.b64encode(image).decode("ascii"), "inferences": []}
    assert isinstance(output["image_data"], str)
    [line] = log_lines()
    assert line["message"] == "image serialized"
    assert line["s3_key"] == event["s3_key"]
    assert line["content_type"] == "image/png"
    assert (line["width"], line["height"]) == (32, 32)
    assert line["image_bytes"] == len(image)
    assert line["output_bytes"] == serialized_size(output)
    assert output["image_data"] not in json.dumps(line)


@pytest.mark.parametrize(
    ("make_image", "key", "content_type"),
    [
        (jpeg_bytes, "dataset/validation/jpeg_named.png", "image/jpeg"),
        (png_bytes, "dataset/validation/png_named.jpg", "image/png"),
        (png_bytes, "dataset/validation/no_extension", "image/png"),
    ],
    ids=["jpeg-named-png", "png-named-jpg", "no-extension"],
)
def test_image_type_comes_from_bytes_not_extension(s3, log_lines, make_image, key, content_type):
    image = make_image((48, 20))
    s3.put_object(Bucket=BUCKET, Key=key, Body=image)

    output = app.serialize_image(event_for(key), s3)

    assert base64.b64decode(output["image_data"]) == image
    [line] = log_lines()
    assert line["content_type"] == content_type
    assert (line["width"], line["height"]) == (48, 20)


def test_extra_event_keys_pass_through(s3):
    s3.put_object(Bucket=BUCKET, Key="a.png", Body=png_bytes())
    event = event_for("a.png", run_id="demo-7", labels={"expected": "bicycle"})

    output = app.serialize_image(event, s3)

    assert output["run_id"] == "demo-7"
    assert output["labels"] == {"expected": "bicycle"}


def _truncated_png_cut_inside_ihdr() -> bytes:
    return png_bytes()[:20]


def _truncated_png_without_iend() -> bytes:
    return png_bytes()[:-12]


def _truncated_png_cut_inside_idat() -> bytes:
    image = png_bytes()
    return image[: image.index(b"IDAT") + 10]


def _png_with_corrupt_idat() -> bytes:
    image = bytearray(png_bytes())
    image[image.index(b"IDAT") + 6] ^= 0xFF
    return bytes(image)


def _truncated_jpeg() -> bytes:
    return jpeg_bytes()[:-40]


def _jpeg_signature_only() -> bytes:
    return b"\xff\xd8\xff\xe0" + b"\x00" * 16


@pytest.mark.parametrize(
    ("make_body", "found"),
    [
        (lambda: b"bicycle,motorcycle\n1,0\n", "start with b'bicycle,moto"),
        (gif_bytes, "start with b'GIF8"),
        (lambda: b"", "empty (0 bytes)"),
        (_truncated_png_cut_inside_ihdr, "chunk b'IHDR' at byte 8 declares 13 data bytes"),
        (_truncated_png_without_iend, "before the IEND chunk"),
        (_truncated_png_cut_inside_idat, "chunk b'IDAT'"),
        (_png_with_corrupt_idat, "chunk b'IDAT' at byte 33 fails its CRC check"),
        (_truncated_jpeg, "no end-of-image marker"),
        (_jpeg_signature_only, "declares 0 bytes"),
        (lambda: png_claiming_size(20_000, 20_000), "declares a 20000x20000 image (400,000,000 pixels)"),
    ],
    ids=[
        "text-named-png",
        "gif",
        "empty",
        "png-cut-in-ihdr",
        "png-without-iend",
        "png-cut-in-idat",
        "png-corrupt-idat",
        "jpeg-without-eoi",
        "jpeg-signature-only",
        "png-decompression-bomb",
    ],
)
def test_bytes_that_are_not_png_or_jpeg_raise_not_an_image(s3, make_body, found):
    key = "dataset/validation/suspicious.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=make_body())

    with pytest.raises(app.image_format.NotAnImage) as raised:
        app.serialize_image(event_for(key), s3)

    assert type(raised.value).__name__ == "NotAnImage"
    assert f"s3://{BUCKET}/{key}" in str(raised.value)
    assert found in str(raised.value)


def test_sound_structure_is_all_the_serializer_checks(s3):
    # Decoding pixels is the model's job: bytes with a sound PNG structure go on, and a model that cannot
    # decode them answers with an error of its own (tests/local: EndpointError).
    image = png_with_garbage_image_data()
    s3.put_object(Bucket=BUCKET, Key="garbage.png", Body=image)

    output = app.serialize_image(event_for("garbage.png"), s3)

    assert base64.b64decode(output["image_data"]) == image


def test_missing_object_raises_image_not_found(s3, lambda_context, log_lines):
    event = event_for("dataset/validation/missing.png")

    with pytest.raises(app.ImageNotFound) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "ImageNotFound"
    assert f"s3://{BUCKET}/dataset/validation/missing.png" in str(raised.value)
    assert "NoSuchKey" in str(raised.value)
    # The Lambda runtime logs the raised error itself; the handler adds no second line.
    assert log_lines() == []


def test_missing_bucket_raises_image_not_found(s3):
    with pytest.raises(app.ImageNotFound) as raised:
        app.serialize_image({"s3_bucket": "no-such-bucket", "s3_key": "a.png"}, s3)

    assert type(raised.value).__name__ == "ImageNotFound"
    assert "s3://no-such-bucket/a.png" in str(raised.value)
    assert "NoSuchBucket" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        # Without s3:ListBucket a missing key is AccessDenied; an error without a body has only its status.
        ("AccessDenied", 403, "ImageNotFound", "cannot read the object (AccessDenied: S3 says no)"),
        ("403", 403, "ImageNotFound", "cannot read the object (403: S3 says no)"),
        ("404", 404, "ImageNotFound", "cannot read the object (404: S3 says no)"),
        ("SlowDown", 503, "StorageUnavailable", "S3 answered SlowDown (HTTP 503): S3 says no"),
        ("InternalError", 500, "StorageUnavailable", "S3 answered InternalError (HTTP 500): S3 says no"),
        (
            "ServiceUnavailable",
            503,
            "StorageUnavailable",
            "S3 answered ServiceUnavailable (HTTP 503): S3 says no",
        ),
        ("Odd", 502, "StorageUnavailable", "S3 answered Odd (HTTP 502): S3 says no"),
        # An archived object (Glacier storage class).
        (
            "InvalidObjectState",
            403,
            "ImageUnreadable",
            "S3 refused the object (InvalidObjectState: S3 says no)",
        ),
    ],
)
def test_s3_errors_become_named_errors(stubbed_s3, code, status, error, message):
    client, stubber = stubbed_s3
    stubber.add_client_error(
        "get_object",
        service_error_code=code,
        service_message="S3 says no",
        http_status_code=status,
        expected_params={"Bucket": BUCKET, "Key": "a.png"},
    )

    with pytest.raises(getattr(app, error)) as raised:
        app.serialize_image(event_for("a.png"), client)

    assert type(raised.value).__name__ == error
    assert str(raised.value) == f"s3://{BUCKET}/a.png: {message}"


def test_unreachable_s3_raises_storage_unavailable(aws_credentials):
    client = boto3.client("s3", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))

    def drop_connection(**_: Any) -> None:
        raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://s3.test")

    client.meta.events.register("before-send.s3.GetObject", drop_connection)

    with pytest.raises(app.StorageUnavailable, match="S3 could not be reached"):
        app.serialize_image(event_for("a.png"), client)


@pytest.mark.parametrize(
    ("event", "found"),
    [
        (["s3_bucket", "s3_key"], "got list"),
        ("s3://bucket/key", "got str"),
        (None, "got NoneType"),
        ({"s3_key": "a.png"}, "'s3_bucket' must be a non-empty string, got missing"),
        ({"s3_bucket": BUCKET}, "'s3_key' must be a non-empty string, got missing"),
        ({"s3_bucket": BUCKET, "s3_key": ""}, "'s3_key' must be a non-empty string, got str ''"),
        ({"s3_bucket": BUCKET, "s3_key": 42}, "'s3_key' must be a non-empty string, got int 42"),
        ({"s3_bucket": ["b"], "s3_key": "a.png"}, "'s3_bucket' must be a non-empty string, got list ['b']"),
        ({"s3_bucket": "not a bucket!", "s3_key": "a.png"}, 'Invalid bucket name "not a bucket!"'),
    ],
    ids=[
        "list",
        "string",
        "null",
        "no-bucket",
        "no-key",
        "empty-key",
        "int-key",
        "list-bucket",
        "invalid-bucket-name",
    ],
)
def test_malformed_events_raise_malformed_event(s3, lambda_context, event, found):
    with pytest.raises(app.MalformedEvent) as raised:
        app.handler(event, lambda_context)

    assert type(raised.value).__name__ == "MalformedEvent"
    assert found in str(raised.value)


def _largest_image_that_fits(event: dict[str, Any]) -> int:
    """Image bytes whose output is as close to the limit as base64's 4-characters-per-3-bytes steps allow."""
    envelope = serialized_size({**event, "image_data": "", "inferences": []})
    return 3 * ((app.STATE_OUTPUT_LIMIT_BYTES - envelope) // 4)


def test_image_just_under_the_limit_passes(s3, load_event):
    event = load_event("serialize_input")
    s3.put_object(
        Bucket=BUCKET, Key=event["s3_key"], Body=png_bytes_of_length(_largest_image_that_fits(event))
    )

    output = app.serialize_image(event, s3)

    assert app.STATE_OUTPUT_LIMIT_BYTES - 4 < serialized_size(output) <= app.STATE_OUTPUT_LIMIT_BYTES


def test_limit_leaves_room_for_what_the_later_states_add():
    # classify adds one number per class (CIFAR-100 has at most 100) and the class name; a Catch adds the
    # Lambda error's type, message and stack trace under $.failure.
    inferences = {"inferences": [0.123456789012345678] * 100, "predicted_class": "x" * 64}
    failure = {"failure": {"Error": "EndpointError", "Cause": "c" * 8_000}}
    added = serialized_size({**inferences, **failure})
    assert app.STATE_OUTPUT_LIMIT_BYTES + added < app.STEP_FUNCTIONS_STATE_LIMIT_BYTES


def test_image_one_byte_over_the_limit_raises_image_too_large(s3, load_event):
    event = load_event("serialize_input")
    image = png_bytes_of_length(_largest_image_that_fits(event) + 1)
    s3.put_object(Bucket=BUCKET, Key=event["s3_key"], Body=image)
    expected_output_size = serialized_size(
        {**event, "image_data": base64.b64encode(image).decode("ascii"), "inferences": []}
    )

    with pytest.raises(app.ImageTooLarge) as raised:
        app.serialize_image(event, s3)

    assert type(raised.value).__name__ == "ImageTooLarge"
    message = str(raised.value)
    assert f"s3://{BUCKET}/{event['s3_key']}" in message
    assert f"would be {expected_output_size:,} bytes" in message
    assert "limit of 245,760 bytes (Step Functions' 262,144-byte state limit, less 16,384" in message
    assert f"image {len(image):,} bytes" in message


class _ReadRecordingStream(io.BytesIO):
    """A body that remembers whether anyone read it."""

    was_read = False

    def read(self, size: int | None = -1) -> bytes:
        self.was_read = True
        return super().read(size)


def test_object_whose_base64_cannot_fit_fails_before_reading_the_body(stubbed_s3):
    client, stubber = stubbed_s3
    declared_length = 5_000_000
    stream = _ReadRecordingStream(b"\x89PNG\r\n\x1a\n")
    stubber.add_response(
        "get_object",
        {"Body": StreamingBody(stream, declared_length), "ContentLength": declared_length},
        expected_params={"Bucket": BUCKET, "Key": "huge.png"},
    )

    with pytest.raises(app.ImageTooLarge) as raised:
        app.serialize_image(event_for("huge.png"), client)

    assert type(raised.value).__name__ == "ImageTooLarge"
    assert "the object is 5,000,000 bytes, 6,666,668 as base64" in str(raised.value)
    assert "limit of 245,760 bytes (Step Functions' 262,144-byte state limit" in str(raised.value)
    assert not stream.was_read
    assert stream.closed
