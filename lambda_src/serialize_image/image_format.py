"""PNG and JPEG structure checks (never pixels), so bytes no decoder reads fail with NotAnImage before the model,
and images in formats the algorithm does not take fail with UnsupportedImageFormat, by name.

PNG: https://www.w3.org/TR/png/ (chunks IHDR to IEND, each length and CRC: truncated files fail);
JPEG: ITU-T T.81 (marker segments up to the first scan, then an end-of-image marker after it).
The algorithm's inference takes image/png, image/jpeg and application/x-image (.jpg, .png) and resizes the input
itself (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html#IC-inference).
"""

import struct
import zlib
from dataclasses import dataclass

# Above a 48-megapixel phone photo; decoding allocates width x height x 3 bytes before the model resizes
# (docs/CONTRACTS.md, "Images the serializer accepts").
MAX_PIXELS = 50_000_000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# Bit depths the PNG specification allows for each colour type.
_PNG_BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# JPEG (ITU-T T.81, table B.1): markers 0x02..0xBF are reserved and appear in no valid file.
_JPEG_RESERVED_MARKERS = range(0x02, 0xC0)
# JPEG markers without a length field: TEM and the restart markers RST0..RST7.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
# Start-of-frame markers SOF0..SOF15; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_START_OF_SCAN = 0xDA
# SOI and EOI carry no length; inside the header they mean a broken or concatenated file.
_JPEG_IMAGE_BOUNDARY_MARKERS = frozenset({0xD8, 0xD9})
_JPEG_END_OF_IMAGE = b"\xff\xd9"
_SEND_INSTEAD = "send the photo as JPEG or PNG instead"
# ISO/IEC 14496-12 `ftyp` box: size, "ftyp", major brand, minor version, compatible brands (ISO/IEC 23008-12 for
# HEIF: https://nokiatech.github.io/heif/technical.html; AVIF: https://aomediacodec.github.io/av1-avif/).
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_FTYP_BRANDS_READ = 16  # compatible brands looked at; real files list a handful
# BITMAPINFOHEADER and its relatives: the DIB header sizes a BMP file may declare at byte 14.
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


class NotAnImage(Exception):
    """The bytes are neither a well-formed PNG nor a well-formed JPEG image of a plausible size."""


class UnsupportedImageFormat(Exception):
    """An image in a format the algorithm does not take (HEIC/HEIF, AVIF, WebP, GIF, BMP, TIFF): its message names
    the format and says what to send instead."""


@dataclass(frozen=True)
class ImageHeader:
    content_type: str
    width: int
    height: int


def read_image_header(data: bytes) -> ImageHeader:
    if not data:
        raise NotAnImage("empty (0 bytes), not a PNG or JPEG image")
    if data.startswith(PNG_SIGNATURE):
        header = _png_header(data)
    elif data.startswith(JPEG_SIGNATURE):
        header = _jpeg_header(data)
    elif found := unsupported_format(data):
        name, detail = found
        article = "an" if name[0] in "AEIOU" else "a"
        tip = " (iPhone: Settings > Camera > Formats > Most Compatible)" if name in ("HEIC", "HEIF") else ""
        raise UnsupportedImageFormat(
            f"{article} {name} image{detail}, a format the image-classification algorithm does not take; "
            f"send the photo as JPEG or PNG instead{tip}"
        )
    else:
        raise NotAnImage(f"not a PNG or JPEG image; its {len(data):,} bytes start with {data[:12]!r}")
    pixels = header.width * header.height
    if pixels > MAX_PIXELS:
        raise NotAnImage(
            f"the {header.content_type} header declares a {header.width}x{header.height} image "
            f"({pixels:,} pixels), over the limit of {MAX_PIXELS:,} pixels, more than a 48-megapixel photo "
            f"(a decompression-bomb shape: {len(data):,} bytes claiming that many pixels)"
        )
    return header


def unsupported_format(data: bytes) -> tuple[str, str] | None:
    """The name (and a detail) of the image format the bytes start with, if it is one the algorithm does not take.
    Signatures only: enough to say what was sent and what to send instead."""
    if data[4:8] == b"ftyp":
        return _iso_bmff_image_format(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP", ""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF", ""
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF", ""
    if (
        data[:2] == b"BM"
        and len(data) >= 18
        and struct.unpack_from("<I", data, 14)[0] in _BMP_DIB_HEADER_SIZES
    ):
        return "BMP", ""
    return None


def _iso_bmff_image_format(data: bytes) -> tuple[str, str] | None:
    (box_size,) = struct.unpack_from(">I", data)
    end = min(max(box_size, 16), 16 + 4 * _FTYP_BRANDS_READ, len(data))
    major = data[8:12]
    brands = {major} | {data[offset : offset + 4] for offset in range(16, end - 3, 4)}
    for names, image_format in ((_AVIF_BRANDS, "AVIF"), (_HEIC_BRANDS, "HEIC"), (_HEIF_BRANDS, "HEIF")):
        if matched := brands & names:
            brand = major if major in matched else min(matched)
            return image_format, f" (ISO BMFF brand {brand.decode('ascii')!r})"
    return None  # another ISO BMFF file, e.g. an MP4 or QuickTime video: no image at all


def _png_header(data: bytes) -> ImageHeader:
    def invalid(reason: str) -> NotAnImage:
        return NotAnImage(f"has a PNG signature but is not a valid PNG image: {reason}")

    offset = len(PNG_SIGNATURE)
    header: ImageHeader | None = None
    seen_image_data = False
    while True:
        if offset + 8 > len(data):
            missing_chunk = "IEND" if header else "IHDR"
            raise invalid(
                f"the file ends at byte {len(data):,}, before the {missing_chunk} chunk (truncated)"
            )
        length, chunk_type = struct.unpack_from(">I4s", data, offset)
        if not chunk_type.isalpha():
            # The PNG specification allows only ASCII letters in a chunk type; a decoder stops at anything else.
            raise invalid(f"chunk type {chunk_type!r} at byte {offset:,} is not four ASCII letters")
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
            header = ImageHeader("image/png", width, height)
        elif chunk_type == b"IDAT":
            seen_image_data = True
        elif chunk_type == b"IEND":
            if not seen_image_data:
                raise invalid("the IEND chunk comes before any IDAT (image data) chunk")
            return header
        offset = chunk_end


def _jpeg_header(data: bytes) -> ImageHeader:
    def invalid(reason: str) -> NotAnImage:
        return NotAnImage(f"has a JPEG signature but is not a valid JPEG image: {reason}")

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
        if marker in _JPEG_IMAGE_BOUNDARY_MARKERS or marker in _JPEG_RESERVED_MARKERS:
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
            # T.81 B.2.2: length, precision, height, width, component count, then 3 bytes per component.
            components = data[offset + 7] if length >= 8 else 0
            if components == 0 or length != 8 + 3 * components:
                raise invalid(
                    f"frame header 0x{marker:02X} at byte {offset - 2:,} is {length} bytes for "
                    f"{components} components (expected 8 + 3 per component, at least one)"
                )
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
