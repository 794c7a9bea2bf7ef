"""The serializer's PNG/JPEG structure checks against Pillow, the reference decoder: same sizes, same refusals."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import pytest
from PIL import Image

from tests.handlers.images import gif_bytes, heic_bytes, png_chunks, png_from_chunks, webp_bytes
from tests.lambda_handlers import load_handler_module

# The sibling module exactly as the serializer imports it in its Lambda code folder.
image_format = load_handler_module("serialize_image").image_format

PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
JPEG_MODES = ("L", "RGB", "CMYK")
SIZES = ((1, 1), (7, 3), (32, 32), (33, 250), (640, 480), (4000, 2))
JPEG_OPTIONS = {
    "baseline": {},
    "progressive": {"progressive": True},
    "optimized": {"optimize": True, "quality": 40},
    "subsampling-444": {"subsampling": 0, "quality": 95},
    "with-exif": {"exif": Image.Exif()},
    "with-icc-profile": {"icc_profile": b"\x00" * 600},
    "with-comment": {"comment": b"scones-vision"},
}


def _noise(mode: str, size: tuple[int, int]) -> Image.Image:
    # Noise rather than a flat colour, so the compressed data has real length and structure.
    return Image.effect_noise(size, 60).convert(mode)


def _encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _pillow_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """What Pillow decodes: its MIME type and size, after reading every pixel."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return Image.MIME[image.format], image.size


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("mode", PNG_MODES)
def test_png_size_and_type_match_pillow(mode, size):
    data = _encoded(_noise(mode, size), "PNG")

    header = image_format.read_image_header(data)

    assert (header.content_type, (header.width, header.height)) == _pillow_header(data) == ("image/png", size)


@pytest.mark.parametrize("options", JPEG_OPTIONS.values(), ids=JPEG_OPTIONS.keys())
@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("mode", JPEG_MODES)
def test_jpeg_size_and_type_match_pillow(mode, size, options):
    data = _encoded(_noise(mode, size), "JPEG", **options)

    header = image_format.read_image_header(data)

    assert (
        (header.content_type, (header.width, header.height)) == _pillow_header(data) == ("image/jpeg", size)
    )


@pytest.mark.parametrize(
    "data",
    [
        _encoded(_noise("RGB", (33, 21)), "PNG"),
        _encoded(_noise("P", (64, 64)), "PNG", optimize=True),
        _encoded(_noise("RGB", (33, 21)), "JPEG"),
        _encoded(_noise("L", (64, 48)), "JPEG", progressive=True, exif=Image.Exif()),
    ],
    ids=["png", "png-palette", "jpeg", "jpeg-progressive"],
)
def test_every_truncation_is_rejected(data):
    # Each cut loses the PNG's IEND chunk or the JPEG's end-of-image marker, at the very least.
    accepted = []
    for length in range(len(data)):
        try:
            image_format.read_image_header(data[:length])
        except image_format.NotAnImage:
            continue
        accepted.append(length)

    assert accepted == [], f"prefixes of {len(data):,} bytes accepted as images: lengths {accepted[:10]}"


def _png_with(change: Callable[[list[tuple[bytes, bytes]]], None]) -> bytes:
    chunks = png_chunks(_encoded(_noise("RGB", (32, 32)), "PNG"))
    change(chunks)
    return png_from_chunks(chunks)


def _set_ihdr(chunks, **fields) -> None:
    names = ("width", "height", "bit_depth", "color_type", "compression", "filter_method", "interlace")
    values = dict(zip(names, struct.unpack(">IIBBBBB", chunks[0][1]), strict=True)) | fields
    chunks[0] = (b"IHDR", struct.pack(">IIBBBBB", *(values[name] for name in names)))


def _flip_crc(data: bytes) -> bytes:
    corrupt = bytearray(data)
    corrupt[29] ^= 0x01  # last byte of IHDR's CRC
    return bytes(corrupt)


def _jpeg_marker_replaced(marker: bytes, replacement: bytes) -> bytes:
    """The JPEG with the first `marker` (two bytes) changed into `replacement`, its segment left as it was."""
    data = _encoded(_noise("RGB", (32, 32)), "JPEG")
    assert marker in data[: data.index(b"\xff\xda")], marker
    return data.replace(marker, replacement, 1)


def _sof_marker_at(data: bytes) -> int:
    return data.index(b"\xff\xc0")


def _jpeg_with_sof(**fields) -> bytes:
    data = bytearray(_encoded(_noise("RGB", (32, 32)), "JPEG"))
    sof = _sof_marker_at(bytes(data))
    layout = {"length": (2, ">H"), "height": (5, ">H"), "width": (7, ">H"), "components": (9, ">B")}
    for name, value in fields.items():
        position, fmt = layout[name]
        struct.pack_into(fmt, data, sof + position, value)
    return bytes(data)


CORRUPT_IMAGES = {
    "png-ihdr-crc": (_flip_crc(_encoded(_noise("RGB", (32, 32)), "PNG")), "fails its CRC check"),
    "png-zero-width": (_png_with(lambda c: _set_ihdr(c, width=0)), "IHDR declares a 0x32 image"),
    "png-bad-bit-depth": (
        _png_with(lambda c: _set_ihdr(c, bit_depth=3)),
        "colour type 2 with bit depth 3",
    ),
    "png-bad-colour-type": (_png_with(lambda c: _set_ihdr(c, color_type=5)), "colour type 5"),
    "png-bad-interlace": (_png_with(lambda c: _set_ihdr(c, interlace=2)), "interlace 2"),
    "png-no-idat": (
        _png_with(lambda c: c.__setitem__(slice(None), [x for x in c if x[0] != b"IDAT"])),
        "IEND chunk comes before any IDAT",
    ),
    "png-chunk-type-not-letters": (
        _png_with(lambda c: c.insert(1, (b"\x13LTE", b"\x00\x00\x00"))),
        "is not four ASCII letters",
    ),
    "jpeg-reserved-marker": (
        _jpeg_marker_replaced(b"\xff\xdb", b"\xff\x42"),
        "unexpected marker 0x42",
    ),
    "jpeg-frame-length-wrong": (_jpeg_with_sof(length=20), "is 20 bytes for 3 components"),
    "jpeg-frame-without-components": (_jpeg_with_sof(components=0), "for 0 components"),
    "jpeg-zero-width": (_jpeg_with_sof(width=0), "frame header declares a 0x32 image"),
    "jpeg-scan-before-frame": (
        _jpeg_marker_replaced(b"\xff\xc0", b"\xff\xe5"),
        "comes before any frame header",
    ),
}


@pytest.mark.parametrize(("data", "reason"), CORRUPT_IMAGES.values(), ids=CORRUPT_IMAGES.keys())
def test_corrupt_headers_are_rejected_as_pillow_rejects_them(data, reason):
    with pytest.raises(image_format.NotAnImage, match=reason):
        image_format.read_image_header(data)
    with pytest.raises((OSError, SyntaxError, ValueError)):
        _pillow_header(data)


def test_a_png_whose_first_chunk_is_not_ihdr_is_rejected_although_pillow_reads_it():
    # The PNG specification (section 5.6, chunk ordering): "IHDR shall be the first chunk". Pillow skips
    # what comes before it; the check stays strict, since no encoder writes such a file.
    data = _png_with(lambda c: c.insert(0, (b"tEXt", b"Comment\x00early")))

    with pytest.raises(
        image_format.NotAnImage, match="the first chunk is b'tEXt' of 13 bytes, not a 13-byte IHDR"
    ):
        image_format.read_image_header(data)
    assert _pillow_header(data) == ("image/png", (32, 32))


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (lambda size: _png_with(lambda c: _set_ihdr(c, width=size[0], height=size[1])), (10_000, 5_001)),
        (lambda size: _jpeg_with_sof(width=size[0], height=size[1]), (65_535, 65_535)),
        (
            lambda size: _png_with(lambda c: _set_ihdr(c, width=size[0], height=size[1])),
            (2**31 - 1, 2**31 - 1),
        ),
    ],
    ids=["png-just-over", "jpeg-largest-header", "png-largest-header"],
)
def test_headers_claiming_more_than_the_pixel_limit_are_rejected(make, size):
    width, height = size
    data = make(size)

    with pytest.raises(image_format.NotAnImage) as raised:
        image_format.read_image_header(data)

    message = str(raised.value)
    assert f"declares a {width}x{height} image ({width * height:,} pixels)" in message
    assert "over the limit of 50,000,000 pixels" in message
    assert f"{len(data):,} bytes claiming that many pixels" in message


def test_a_header_at_the_pixel_limit_passes():
    data = _png_with(lambda c: _set_ihdr(c, width=10_000, height=5_000))

    header = image_format.read_image_header(data)

    assert (header.width, header.height) == (10_000, 5_000)
    assert header.width * header.height == image_format.MAX_PIXELS


def _iso_bmff(major: bytes, *compatible: bytes) -> bytes:
    ftyp = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 4 + len(ftyp)) + ftyp + b"\x00\x00\x00\x08mdat"


UNSUPPORTED_IMAGES = {
    "heic-iphone": (heic_bytes(), "a HEIC image (ISO BMFF brand 'heic')"),
    "heic-sequence": (_iso_bmff(b"msf1", b"msf1", b"hevc"), "a HEIC image (ISO BMFF brand 'hevc')"),
    "heif": (_iso_bmff(b"mif1", b"mif1", b"miaf"), "a HEIF image (ISO BMFF brand 'mif1')"),
    "avif": (_encoded(_noise("RGB", (16, 16)), "AVIF"), "an AVIF image (ISO BMFF brand 'avif')"),
    "webp": (webp_bytes(), "a WebP image,"),
    "gif": (gif_bytes(), "a GIF image,"),
    "bmp": (_encoded(_noise("RGB", (16, 16)), "BMP"), "a BMP image,"),
    "tiff-little-endian": (_encoded(_noise("RGB", (16, 16)), "TIFF"), "a TIFF image,"),
    "tiff-big-endian": (b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 32, "a TIFF image,"),
}


@pytest.mark.parametrize(("data", "named"), UNSUPPORTED_IMAGES.values(), ids=UNSUPPORTED_IMAGES.keys())
def test_formats_the_algorithm_does_not_take_are_named_with_what_to_send_instead(data, named):
    with pytest.raises(image_format.UnsupportedImageFormat) as raised:
        image_format.read_image_header(data)

    message = str(raised.value)
    assert message.startswith(f"{named}")
    assert (
        "a format the image-classification algorithm does not take; send the photo as JPEG or PNG" in message
    )
    assert ("Settings > Camera > Formats > Most Compatible" in message) == ("HEI" in named)


@pytest.mark.parametrize("name", ["avif", "webp", "gif", "bmp", "tiff-little-endian"])
def test_pillow_agrees_on_the_unsupported_format(name):
    data, named = UNSUPPORTED_IMAGES[name]
    with Image.open(io.BytesIO(data)) as image:
        assert image.format in named.upper()


@pytest.mark.parametrize(
    "data",
    [
        _iso_bmff(b"mp42", b"mp42", b"isom"),  # a video, not a photo
        _iso_bmff(b"qt  "),
        b"BM is for bicycle and motorcycle" + b"\x00" * 16,
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"GIF8",
    ],
    ids=["mp4", "quicktime", "text-starting-bm", "wav", "gif-signature-cut"],
)
def test_look_alikes_of_those_formats_are_not_images(data):
    with pytest.raises(image_format.NotAnImage, match="not a PNG or JPEG image"):
        image_format.read_image_header(data)
