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
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions

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

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# Bit depths the PNG specification allows for each colour type.
_PNG_BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# JPEG markers without a length field: TEM and the restart markers RST0..RST7.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
# Start-of-frame markers SOF0..SOF15; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_START_OF_SCAN = 0xDA
# SOI and EOI carry no length; inside the header they mean a broken or concatenated file.
_JPEG_IMAGE_BOUNDARY_MARKERS = frozenset({0xD8, 0xD9})
_JPEG_END_OF_IMAGE = b"\xff\xd9"


class MalformedEvent(Exception):
    """The event is not a dict with non-empty string ``s3_bucket`` and ``s3_key``."""


class ImageNotFound(Exception):
    """The bucket or key does not exist, or the function may not read it."""


class NotAnImage(Exception):
    """The object's bytes are neither a PNG nor a JPEG image."""


class ImageTooLarge(Exception):
    """The state output carrying the image would exceed the Step Functions limit."""


class ImageUnreadable(Exception):
    """S3 refused the object for another reason, e.g. it is archived (InvalidObjectState)."""


class StorageUnavailable(Exception):
    """S3 throttled the read, failed with a 5xx, or could not be reached; worth a retry."""


@dataclass(frozen=True)
class ImageHeader:
    content_type: str
    width: int
    height: int


# Lambda's JSON log format (set on the function by the workflow stack) prints each record as one JSON
# object per line, with the ``extra`` fields as top-level keys next to timestamp, level and requestId; the
# runtime's root handler does the printing and applies the function's log level.
_LOGGER = logging.getLogger("serialize_image")


def _log(level: int, message: str, **fields: Any) -> None:
    _LOGGER.log(level, message, extra=fields)


@functools.cache
def _s3_client() -> Any:
    # Created on first use, not at import, so tests can start moto before any client exists.
    return boto3.client("s3")


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        return serialize_image(event, _s3_client())
    except Exception as error:
        _log(
            logging.ERROR,
            "serialize_image failed",
            s3_key=event.get("s3_key") if isinstance(event, dict) else None,
            error_type=type(error).__name__,
            error=str(error),
        )
        raise


def serialize_image(event: Any, s3_client: Any) -> dict[str, Any]:
    """Return ``event`` plus ``image_data`` (base64 of the S3 object) and ``inferences: []``."""
    bucket, key = _bucket_and_key(event)
    location = f"s3://{bucket}/{key}"
    image_bytes = _read_image_object(s3_client, bucket, key, location)
    header = _detect_image(image_bytes, location)

    output = {**event, "image_data": base64.b64encode(image_bytes).decode("ascii"), "inferences": []}
    output_size = len(json.dumps(output).encode("utf-8"))
    if output_size > STATE_OUTPUT_LIMIT_BYTES:
        raise ImageTooLarge(
            f"{location}: the state output would be {output_size:,} bytes (image {len(image_bytes):,} bytes, "
            f"{len(output['image_data']):,} as base64), over the limit of {_LIMIT_EXPLAINED}"
        )
    _log(
        logging.INFO,
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


def _detect_image(data: bytes, location: str) -> ImageHeader:
    """Return the PNG or JPEG header of ``data``, judged by its bytes; raise NotAnImage otherwise."""
    if not data:
        raise NotAnImage(f"{location}: the object is empty (0 bytes), not a PNG or JPEG image")
    if data.startswith(_PNG_SIGNATURE):
        return _png_header(data, location)
    if data.startswith(_JPEG_SIGNATURE):
        return _jpeg_header(data, location)
    raise NotAnImage(f"{location}: not a PNG or JPEG image; its {len(data):,} bytes start with {data[:12]!r}")


def _png_header(data: bytes, location: str) -> ImageHeader:
    """Walk the chunks from IHDR to IEND, checking each length and CRC, so truncated files are caught."""

    def invalid(reason: str) -> NotAnImage:
        return NotAnImage(f"{location}: has a PNG signature but is not a valid PNG image: {reason}")

    offset = len(_PNG_SIGNATURE)
    header: ImageHeader | None = None
    seen_image_data = False
    while True:
        if offset + 8 > len(data):
            missing_chunk = "IEND" if header else "IHDR"
            raise invalid(
                f"the file ends at byte {len(data):,}, before the {missing_chunk} chunk (truncated)"
            )
        length, chunk_type = struct.unpack_from(">I4s", data, offset)
        chunk_end = offset + 8 + length + 4
        if chunk_end > len(data):
            raise invalid(
                f"chunk {chunk_type!r} at byte {offset:,} declares {length:,} data bytes, "
                f"but the file ends at byte {len(data):,} (truncated)"
            )
        chunk_data = data[offset + 8 : offset + 8 + length]
        (stored_crc,) = struct.unpack_from(">I", data, offset + 8 + length)
        if zlib.crc32(chunk_type + chunk_data) != stored_crc:
            raise invalid(f"chunk {chunk_type!r} at byte {offset:,} fails its CRC check")

        if header is None:
            if chunk_type != b"IHDR" or length != 13:
                raise invalid(f"the first chunk is {chunk_type!r} of {length} bytes, not a 13-byte IHDR")
            header = _parse_ihdr(chunk_data, invalid)
        elif chunk_type == b"IDAT":
            seen_image_data = True
        elif chunk_type == b"IEND":
            if not seen_image_data:
                raise invalid("the IEND chunk comes before any IDAT (image data) chunk")
            return header
        offset = chunk_end


def _parse_ihdr(chunk_data: bytes, invalid: Callable[[str], NotAnImage]) -> ImageHeader:
    width, height, bit_depth, color_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", chunk_data
    )
    if width == 0 or height == 0:
        raise invalid(f"IHDR declares a {width}x{height} image")
    if bit_depth not in _PNG_BIT_DEPTHS.get(color_type, set()):
        raise invalid(f"IHDR declares colour type {color_type} with bit depth {bit_depth}")
    if compression != 0 or filter_method != 0 or interlace not in (0, 1):
        raise invalid(
            f"IHDR declares compression {compression}, filter {filter_method}, interlace {interlace}"
        )
    return ImageHeader("image/png", width, height)


def _jpeg_header(data: bytes, location: str) -> ImageHeader:
    """Walk the marker segments up to the first scan, then look for the end-of-image marker after it."""

    def invalid(reason: str) -> NotAnImage:
        return NotAnImage(f"{location}: has a JPEG signature but is not a valid JPEG image: {reason}")

    offset = 2  # just past SOI
    header: ImageHeader | None = None
    while True:
        if offset + 2 > len(data):
            raise invalid(f"the file ends at byte {len(data):,}, before any scan (image data)")
        if data[offset] != 0xFF:
            raise invalid(f"expected a marker at byte {offset:,}, found 0x{data[offset]:02X}")
        marker = data[offset + 1]
        offset += 2
        if marker == 0xFF:  # fill byte before the real marker
            offset -= 1
            continue
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in _JPEG_IMAGE_BOUNDARY_MARKERS:
            raise invalid(f"unexpected marker 0x{marker:02X} at byte {offset - 2:,}, before any scan")
        if offset + 2 > len(data):
            raise invalid(f"marker 0x{marker:02X} at byte {offset - 2:,} is cut off (truncated)")
        (length,) = struct.unpack_from(">H", data, offset)
        if length < 2 or offset + length > len(data):
            raise invalid(
                f"segment 0x{marker:02X} at byte {offset - 2:,} declares {length:,} bytes, "
                f"but the file ends at byte {len(data):,} (truncated)"
            )
        if marker in _JPEG_FRAME_MARKERS:
            if length < 8:
                raise invalid(f"frame header 0x{marker:02X} is only {length} bytes")
            height, width = struct.unpack_from(">HH", data, offset + 3)
            if width == 0:
                raise invalid(f"frame header declares a {width}x{height} image")
            header = ImageHeader("image/jpeg", width, height)
        elif marker == _JPEG_START_OF_SCAN:
            if header is None:
                raise invalid(f"the scan at byte {offset - 2:,} comes before any frame header")
            if data.find(_JPEG_END_OF_IMAGE, offset + length) == -1:
                raise invalid("no end-of-image marker after the scan data (truncated)")
            return header
        offset += length
