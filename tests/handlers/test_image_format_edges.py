"""image_format at its edges: every PNG bit depth and JPEG marker class, the byte offsets the refusals name, segment
lengths at their bounds. Each test fails on a mutant that survived the module's other tests (mutation/README.md)."""

from __future__ import annotations

import struct

import pytest

from tests.handlers.images import jpeg_bytes, png_bytes, png_chunks, png_from_chunks
from tests.lambda_handlers import load_handler_module

image_format = load_handler_module("serialize_image").image_format

# The PNG specification's allowed bit depths per colour type (https://www.w3.org/TR/png/#11IHDR, table 11.1).
PNG_BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# Pillow's 32x32 baseline JPEG: SOI, APP0 at byte 2, two DQT, SOF0 at byte 158, four DHT, SOS at byte 609.
JPEG = jpeg_bytes()
SOF_AT = JPEG.index(b"\xff\xc0")


def refusal(data: bytes) -> str:
    with pytest.raises(image_format.NotAnImage) as raised:
        image_format.read_image_header(data)
    return str(raised.value)


def after_soi(segment: bytes) -> bytes:
    """The JPEG with `segment` inserted right after its start-of-image marker, at byte 2."""
    return JPEG[:2] + segment + JPEG[2:]


# Two standalone TEM markers: what follows them starts at byte 6, where no slip of the offset arithmetic (a
# division, a bit operation, an other constant) names the same byte.
SKIP_4 = b"\xff\x01\xff\x01"


def png_with_ihdr(color_type: int, bit_depth: int) -> bytes:
    chunks = png_chunks(png_bytes())
    width_height = chunks[0][1][:8]
    chunks[0] = (b"IHDR", width_height + struct.pack(">BBBBB", bit_depth, color_type, 0, 0, 0))
    return png_from_chunks(chunks)


def accepted(data: bytes) -> bool:
    try:
        image_format.read_image_header(data)
    except image_format.NotAnImage:
        return False
    return True


@pytest.mark.parametrize("color_type", sorted(PNG_BIT_DEPTHS))
def test_a_png_colour_type_takes_exactly_the_bit_depths_the_specification_allows(color_type):
    depths = {depth for depth in range(33) if accepted(png_with_ihdr(color_type, depth))}

    assert depths == PNG_BIT_DEPTHS[color_type]


def test_a_first_chunk_named_just_before_ihdr_is_refused():
    chunks = png_chunks(png_bytes())
    chunks[0] = (b"IHDQ", chunks[0][1])

    assert refusal(png_from_chunks(chunks)).endswith(
        "the first chunk is b'IHDQ' of 13 bytes, not a 13-byte IHDR"
    )


def test_a_png_that_ends_after_a_chunk_following_its_image_data_is_truncated():
    ihdr, idat, _ = png_chunks(png_bytes())
    data = png_from_chunks([ihdr, idat, (b"BLAH", b"")])

    assert refusal(data).endswith(f"the file ends at byte {len(data):,}, before the IEND chunk (truncated)")


def test_every_reserved_jpeg_marker_is_refused_by_name_and_place():
    wrong = {}
    for marker in range(0x02, 0xC0):
        message = refusal(after_soi(SKIP_4 + bytes([0xFF, marker, 0x00, 0x02])))
        if not message.endswith(f"unexpected marker 0x{marker:02X} at byte 6, before any scan"):
            wrong[f"0x{marker:02X}"] = message

    assert wrong == {}


@pytest.mark.parametrize("marker", [0xD8, 0xD9], ids=["SOI", "EOI"])
def test_an_image_boundary_marker_inside_the_header_is_refused(marker):
    assert refusal(after_soi(SKIP_4 + bytes([0xFF, marker]))).endswith(
        f"unexpected marker 0x{marker:02X} at byte 6, before any scan"
    )


@pytest.mark.parametrize("marker", [0x01, *range(0xD0, 0xD8)], ids=["TEM", *(f"RST{n}" for n in range(8))])
def test_a_standalone_marker_has_no_length_and_is_skipped(marker):
    header = image_format.read_image_header(after_soi(bytes([0xFF, marker])))

    assert (header.width, header.height) == (32, 32)


@pytest.mark.parametrize(
    "segment",
    [
        b"\xff",
        b"\xff\xff\xff",
        b"\xff\xe1\x00\x02",
        b"\xff\xc4\x00\x02",
        b"\xff\xc8\x00\x02",
        b"\xff\xcc\x00\x02",
    ],
    ids=["one-fill-byte", "three-fill-bytes", "empty-app1", "empty-dht", "empty-jpg", "empty-dac"],
)
def test_fill_bytes_and_empty_segments_before_the_frame_are_skipped(segment):
    # DHT, JPG and DAC share the frame markers' range and sort below SOS, but are neither.
    header = image_format.read_image_header(after_soi(segment))

    assert (header.content_type, header.width, header.height) == ("image/jpeg", 32, 32)


@pytest.mark.parametrize("length", [0, 1])
def test_a_segment_length_below_its_own_two_bytes_is_refused(length):
    data = after_soi(SKIP_4 + b"\xff\xe1" + struct.pack(">H", length))

    assert refusal(data).endswith(
        f"segment 0xE1 at byte 6 declares {length} bytes, but the file ends at byte {len(data):,} (truncated)"
    )


@pytest.mark.parametrize("length", [5, 9])
def test_a_segment_that_runs_one_byte_past_the_end_is_refused(length):
    data = b"\xff\xd8" + SKIP_4 + b"\xff\xe1" + struct.pack(">H", length) + b"\x00" * (length - 3)

    assert refusal(data).endswith(
        f"segment 0xE1 at byte 6 declares {length} bytes, but the file ends at byte {len(data)} (truncated)"
    )


def test_a_marker_cut_off_before_its_length_is_named():
    assert refusal(b"\xff\xd8" + SKIP_4 + b"\xff\xe0\x00").endswith(
        "marker 0xE0 at byte 6 is cut off (truncated)"
    )


def test_a_file_that_ends_right_after_a_whole_segment_has_no_scan():
    assert refusal(b"\xff\xd8\xff\xe0\x00\x02").endswith(
        "the file ends at byte 6, before any scan (image data)"
    )


def test_a_frame_header_too_short_for_its_component_count_names_its_place():
    data = bytearray(JPEG)
    struct.pack_into(">H", data, SOF_AT + 2, 7)

    assert refusal(bytes(data)).endswith(
        f"frame header 0xC0 at byte {SOF_AT:,} is 7 bytes for 0 components (expected 8 + 3 per component, at "
        "least one)"
    )


def test_a_scan_before_any_frame_names_its_place():
    assert refusal(after_soi(SKIP_4 + b"\xff\xda\x00\x02")).endswith(
        "the scan at byte 6 comes before any frame header"
    )


def test_an_end_of_image_marker_before_the_scan_does_not_end_it():
    # An FF D9 inside an APP1 segment, and the file cut right after the scan's header.
    scan_header_end = JPEG.index(b"\xff\xda") + 2 + 12
    data = after_soi(b"\xff\xe1\x00\x04\xff\xd9")[: scan_header_end + 6]

    assert refusal(data).endswith("no end-of-image marker after the scan data (truncated)")


def test_an_ihdr_longer_than_13_bytes_is_refused():
    chunks = png_chunks(png_bytes())
    chunks[0] = (b"IHDR", chunks[0][1] + b"\x00")

    assert refusal(png_from_chunks(chunks)).endswith(
        "the first chunk is b'IHDR' of 14 bytes, not a 13-byte IHDR"
    )


def test_a_chunk_named_before_idat_is_no_image_data():
    ihdr, _, iend = png_chunks(png_bytes())

    assert refusal(png_from_chunks([ihdr, (b"BLAH", b""), iend])).endswith(
        "the IEND chunk comes before any IDAT (image data) chunk"
    )


def test_a_png_of_zero_height_is_refused():
    chunks = png_chunks(png_bytes())
    chunks[0] = (b"IHDR", struct.pack(">II", 32, 0) + chunks[0][1][8:])

    assert refusal(png_from_chunks(chunks)).endswith("IHDR declares a 32x0 image")


@pytest.mark.parametrize(("components", "named"), [(3, 3), (0, 0)])
def test_a_frame_header_of_8_bytes_holds_no_component_and_is_refused(components, named):
    data = bytearray(JPEG)
    struct.pack_into(">H", data, SOF_AT + 2, 8)
    data[SOF_AT + 9] = components

    assert refusal(bytes(data)).endswith(
        f"frame header 0xC0 at byte {SOF_AT:,} is 8 bytes for {named} components (expected 8 + 3 per component, "
        "at least one)"
    )


def unsupported(data: bytes) -> str:
    with pytest.raises(image_format.UnsupportedImageFormat) as raised:
        image_format.read_image_header(data)
    return str(raised.value)


def iso_bmff(box_size: int, *brands: bytes, after: bytes = b"", major: bytes = b"mp42") -> bytes:
    """An ftyp box declaring `box_size` bytes, its major brand, then `brands`, then `after` (the next box's bytes)."""
    return struct.pack(">I", box_size) + b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(brands) + after


def test_the_major_brand_alone_names_the_format():
    assert "a HEIC image (ISO BMFF brand 'heic')" in unsupported(iso_bmff(16, major=b"heic"))


def test_the_16th_compatible_brand_is_read_and_the_17th_is_not():
    fillers = [b"isom"] * 15

    assert "a HEIC image (ISO BMFF brand 'heic')" in unsupported(iso_bmff(16 + 4 * 16, *fillers, b"heic"))
    assert refusal(iso_bmff(16 + 4 * 17, *fillers, b"isom", b"heic")).startswith("not a PNG or JPEG image")


def test_only_the_brands_inside_the_ftyp_box_count():
    # A 20-byte box holds one compatible brand; "heic" in the next box's bytes is no brand.
    assert refusal(iso_bmff(20, b"isom", after=b"heic" * 4)).startswith("not a PNG or JPEG image")


# The DIB header sizes Pillow's BMP reader takes (PIL/BmpImagePlugin.py, `_accept`): BITMAPCOREHEADER 12,
# BITMAPINFOHEADER 40 and its V2/V3 forms 52 and 56, OS/2 2.x 64, BITMAPV4HEADER 108, BITMAPV5HEADER 124.
DIB_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}


def test_the_dib_header_sizes_are_the_bitmap_headers():
    assert image_format._BMP_DIB_HEADER_SIZES == DIB_HEADER_SIZES


@pytest.mark.parametrize("size", sorted(DIB_HEADER_SIZES))
def test_each_dib_header_size_makes_a_bmp_and_its_neighbours_do_not(size):
    def bmp(dib_size: int, signature: bytes = b"BM") -> bytes:
        return signature + b"\x00" * 12 + struct.pack("<I", dib_size) + b"\x00" * 8

    assert unsupported(bmp(size)).startswith("a BMP image,")
    # 18 bytes reach the DIB header size; 17 do not.
    assert unsupported(bmp(size)[:18]).startswith("a BMP image,")
    assert refusal(bmp(size)[:17]).startswith("not a PNG or JPEG image")
    for neighbour in {size - 1, size + 1} - DIB_HEADER_SIZES:
        assert refusal(bmp(neighbour)).startswith("not a PNG or JPEG image")
    for signature in (b"AM", b"CM"):
        assert refusal(bmp(size, signature)).startswith("not a PNG or JPEG image")


@pytest.mark.parametrize(
    "data",
    [b"SIFF\x24\x00\x00\x00WEBPVP8 ", b"RIFA\x24\x00\x00\x00WEBPVP8 ", b"RIFF\x24\x00\x00\x00XVIDVP8 "],
)
def test_webp_needs_the_riff_signature_and_the_webp_form_themselves(data):
    assert refusal(data).startswith("not a PNG or JPEG image")


def test_bytes_of_no_image_are_quoted_up_to_12():
    data = b"scones-vision: not an image"

    assert refusal(data) == f"not a PNG or JPEG image; its {len(data):,} bytes start with {data[:12]!r}"


def test_an_interlaced_png_is_an_image():
    chunks = png_chunks(png_bytes())
    chunks[0] = (b"IHDR", chunks[0][1][:12] + b"\x01")

    assert image_format.read_image_header(png_from_chunks(chunks)).width == 32


def test_a_marker_cut_off_at_the_very_end_is_named():
    assert refusal(b"\xff\xd8\xff\xe0\x00\x02\xff\xda").endswith(
        "marker 0xDA at byte 6 is cut off (truncated)"
    )


def test_bytes_between_segments_that_are_no_marker_are_refused():
    assert refusal(b"\xff\xd8" + SKIP_4 + b"\x00\xe0\x00\x02").endswith(
        "expected a marker at byte 6, found 0x00"
    )


def test_an_end_of_image_marker_just_before_the_scan_does_not_end_it():
    sos = JPEG.index(b"\xff\xda")
    data = JPEG[:sos] + b"\xff\xe1\x00\x04\xff\xd9" + JPEG[sos : sos + 2 + 12]

    assert refusal(data).endswith("no end-of-image marker after the scan data (truncated)")


def test_an_ihdr_shorter_than_13_bytes_is_refused():
    chunks = png_chunks(png_bytes())
    chunks[0] = (b"IHDR", chunks[0][1][:12])

    assert refusal(png_from_chunks(chunks)).endswith(
        "the first chunk is b'IHDR' of 12 bytes, not a 13-byte IHDR"
    )


@pytest.mark.parametrize(("compression", "filter_method"), [(1, 0), (0, 1)])
def test_a_png_compression_or_filter_method_other_than_0_is_refused(compression, filter_method):
    chunks = png_chunks(png_bytes())
    fields = chunks[0][1]
    chunks[0] = (b"IHDR", fields[:10] + bytes([compression, filter_method]) + fields[12:])

    assert refusal(png_from_chunks(chunks)).endswith(
        f"IHDR declares compression {compression}, filter {filter_method}, interlace 0"
    )


@pytest.mark.parametrize(
    "marker", sorted(set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}), ids=lambda m: f"0x{m:02X}"
)
def test_every_start_of_frame_marker_is_read_as_the_frame(marker):
    # SOF0 to SOF15 share one layout (ITU-T T.81, B.2.2); DHT, JPG and DAC sit among them but are no frames.
    data = JPEG[:SOF_AT] + bytes([0xFF, marker]) + JPEG[SOF_AT + 2 :]

    header = image_format.read_image_header(data)

    assert (header.width, header.height) == (32, 32)


def test_a_png_cut_right_after_a_chunks_length_and_type_names_that_chunk():
    data = png_bytes()
    idat_at = data.index(b"IDAT") - 4
    cut = data[: idat_at + 8]

    assert refusal(cut).endswith(f"but the file ends at byte {len(cut):,} (truncated)")
    assert f"chunk b'IDAT' at byte {idat_at:,} declares" in refusal(cut)


@pytest.mark.parametrize("delta", [1, -1], ids=["stored-above", "stored-below"])
def test_a_crc_off_by_one_either_way_is_refused(delta):
    chunks = png_chunks(png_bytes())
    data = bytearray(png_from_chunks(chunks))
    crc_at = 8 + 8 + 13  # signature, IHDR's length and type, its 13 data bytes
    (crc,) = struct.unpack_from(">I", data, crc_at)
    struct.pack_into(">I", data, crc_at, (crc + delta) % 2**32)

    assert refusal(bytes(data)).endswith("chunk b'IHDR' at byte 8 fails its CRC check")
