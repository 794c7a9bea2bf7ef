"""serialize_image: S3 through moto (and Stubber for errors moto cannot produce), images made with Pillow."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
import pytest
from botocore.config import Config
from botocore.response import StreamingBody

from tests.handlers.images import (
    heic_bytes,
    jpeg_bytes,
    png_bytes,
    png_bytes_of_length,
    png_claiming_size,
    png_with_garbage_image_data,
    webp_bytes,
)
from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

app = load_handler_module("serialize_image")

BUCKET = "scones-vision-test-bucket"


@pytest.fixture
def s3(moto_s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test bucket; the handler's cached client is created inside the mock, its endpoint mode realtime."""
    monkeypatch.setenv("ENDPOINT_MODE", "realtime")
    app._s3_client.cache_clear()
    moto_s3.create_bucket(Bucket=BUCKET)
    yield moto_s3
    app._s3_client.cache_clear()


@pytest.fixture
def stubbed_s3() -> Any:
    with stubbed_client("s3") as pair:
        yield pair


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
        (lambda: b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64, "ftypmp42"),
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
        "mp4-video",
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


def test_image_just_under_the_state_limit_passes_inline(s3, load_event, log_lines):
    event = load_event("serialize_input")
    image = png_bytes_of_length(_largest_image_that_fits(event))
    s3.put_object(Bucket=BUCKET, Key=event["s3_key"], Body=image)

    output = app.serialize_image(event, s3)

    assert app.STATE_OUTPUT_LIMIT_BYTES - 4 < serialized_size(output) <= app.STATE_OUTPUT_LIMIT_BYTES
    assert base64.b64decode(output["image_data"]) == image
    assert "image_ref" not in output
    [line] = log_lines()
    assert line["passed"] == "inline"


def test_limit_leaves_room_for_what_the_later_states_add():
    # classify adds one number per class (CIFAR-100 has at most 100) and the class name; a Catch adds the
    # Lambda error's type, message and stack trace under $.failure.
    inferences = {"inferences": [0.123456789012345678] * 100, "predicted_class": "x" * 64}
    failure = {"failure": {"Error": "EndpointError", "Cause": "c" * 8_000}}
    added = serialized_size({**inferences, **failure})
    assert app.STATE_OUTPUT_LIMIT_BYTES + added < app.STEP_FUNCTIONS_STATE_LIMIT_BYTES


def test_image_one_byte_over_the_state_limit_passes_by_reference(s3, load_event, log_lines):
    event = {**load_event("serialize_input"), "run_id": "large-1"}
    image = png_bytes_of_length(_largest_image_that_fits(event) + 1)
    etag = s3.put_object(Bucket=BUCKET, Key=event["s3_key"], Body=image)["ETag"]

    output = app.serialize_image(event, s3)

    assert output == {
        **event,
        "image_ref": {"s3_bucket": BUCKET, "s3_key": event["s3_key"], "etag": etag},
        "inferences": [],
    }
    [line] = log_lines()
    assert (line["passed"], line["image_bytes"]) == ("by_reference", len(image))
    assert line["output_bytes"] == serialized_size(output) < 1_000


@pytest.mark.parametrize(
    ("mode", "limit"), [("realtime", 6_291_456), ("serverless", 4_194_304)], ids=["realtime", "serverless"]
)
def test_an_image_at_the_endpoints_payload_limit_passes_by_reference(s3, mode, limit):
    s3.put_object(Bucket=BUCKET, Key="photo.png", Body=png_bytes_of_length(limit))

    output = app.serialize_image(event_for("photo.png"), s3, app.SerializerSettings(mode))

    assert output["image_ref"]["s3_key"] == "photo.png"
    assert "image_data" not in output


@pytest.mark.parametrize(
    ("mode", "limit"), [("realtime", 6_291_456), ("serverless", 4_194_304)], ids=["realtime", "serverless"]
)
def test_an_image_one_byte_over_the_endpoints_payload_limit_raises_image_too_large(
    s3, monkeypatch, lambda_context, mode, limit
):
    monkeypatch.setenv("ENDPOINT_MODE", mode)
    s3.put_object(Bucket=BUCKET, Key="photo.png", Body=png_bytes_of_length(limit + 1))

    with pytest.raises(app.ImageTooLarge) as raised:
        app.handler(event_for("photo.png"), lambda_context)

    assert type(raised.value).__name__ == "ImageTooLarge"
    assert str(raised.value) == (
        f"s3://{BUCKET}/photo.png: the object is {limit + 1:,} bytes, over the {limit:,}-byte request payload "
        f"limit of a {mode} SageMaker endpoint (ENDPOINT_MODE={mode}); send a smaller JPEG (fewer pixels or a "
        "lower quality)"
    )


def test_the_realtime_limit_is_invoke_endpoints_body_limit():
    # botocore's service model carries the API reference's length constraint on InvokeEndpoint's Body.
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    body = model.operation_model("InvokeEndpoint").input_shape.members["Body"]

    assert app.MAX_REQUEST_BYTES["realtime"] == body.metadata["max"] == 6 * 1024 * 1024


@pytest.mark.parametrize(
    ("environment", "found"),
    [({}, "got missing"), ({"ENDPOINT_MODE": "async"}, "got 'async'"), ({"ENDPOINT_MODE": ""}, "got ''")],
    ids=["missing", "unknown", "empty"],
)
def test_a_bad_endpoint_mode_raises_configuration_error(s3, monkeypatch, lambda_context, environment, found):
    monkeypatch.delenv("ENDPOINT_MODE")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket=BUCKET, Key="a.png", Body=png_bytes())

    with pytest.raises(app.ConfigurationError) as raised:
        app.handler(event_for("a.png"), lambda_context)

    assert type(raised.value).__name__ == "ConfigurationError"
    assert str(raised.value) == (
        f"environment variable ENDPOINT_MODE must be one of ['realtime', 'serverless'], {found}"
    )


@pytest.mark.parametrize(
    ("passed_in", "image"),
    [
        ({"image_ref": {"s3_key": "stale"}}, png_bytes()),
        ({"image_data": "c3RhbGU="}, png_bytes_of_length(300_000)),
    ],
    ids=["stale-reference-inline", "stale-data-by-reference"],
)
def test_an_image_key_the_input_carried_does_not_survive(s3, passed_in, image):
    s3.put_object(Bucket=BUCKET, Key="a.png", Body=image)

    output = app.serialize_image(event_for("a.png", **passed_in), s3)

    assert ("image_data" in output) != ("image_ref" in output)
    assert "stale" not in json.dumps(output) and "c3RhbGU=" not in json.dumps(output)


@pytest.mark.parametrize(
    ("make_image", "named"),
    [
        (heic_bytes, "a HEIC image (ISO BMFF brand 'heic')"),
        (webp_bytes, "a WebP image"),
    ],
    ids=["heic", "webp"],
)
def test_formats_the_algorithm_does_not_take_are_refused_by_name(s3, lambda_context, make_image, named):
    s3.put_object(Bucket=BUCKET, Key="IMG_0001.jpg", Body=make_image())

    with pytest.raises(app.image_format.UnsupportedImageFormat) as raised:
        app.handler(event_for("IMG_0001.jpg"), lambda_context)

    assert type(raised.value).__name__ == "UnsupportedImageFormat"
    message = str(raised.value)
    assert message.startswith(
        f"s3://{BUCKET}/IMG_0001.jpg: {named}, a format the image-classification algorithm"
    )
    assert "send the photo as JPEG or PNG instead" in message


class _ReadRecordingStream(io.BytesIO):
    """A body that remembers whether anyone read it."""

    was_read = False

    def read(self, size: int | None = -1) -> bytes:
        self.was_read = True
        return super().read(size)


def test_an_object_over_the_payload_limit_fails_before_reading_the_body(stubbed_s3):
    client, stubber = stubbed_s3
    declared_length = 20_000_000
    stream = _ReadRecordingStream(b"\xff\xd8\xff")
    stubber.add_response(
        "get_object",
        {"Body": StreamingBody(stream, declared_length), "ContentLength": declared_length, "ETag": '"e"'},
        expected_params={"Bucket": BUCKET, "Key": "huge.jpg"},
    )

    with pytest.raises(app.ImageTooLarge) as raised:
        app.serialize_image(event_for("huge.jpg"), client, app.SerializerSettings("serverless"))

    assert "the object is 20,000,000 bytes, over the 4,194,304-byte request payload limit" in str(
        raised.value
    )
    assert not stream.was_read
    assert stream.closed
