"""Real image bytes for the handler tests, made with Pillow."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, PngImagePlugin

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# tEXt keyword of the padding chunk that sizes a PNG exactly.
_PADDING_KEYWORD = "Comment"


def _gradient(size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    image.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    return image


def png_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    _gradient(size).save(buffer, format="PNG")
    return buffer.getvalue()


def png_bytes_of_length(total_length: int) -> bytes:
    """A valid 32x32 PNG of exactly ``total_length`` bytes, padded by an uncompressed tEXt chunk."""

    def with_padding(padding: int) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text(_PADDING_KEYWORD, "x" * padding)
        buffer = io.BytesIO()
        _gradient((32, 32)).save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()

    unpadded_length = len(with_padding(0))
    if total_length < unpadded_length:
        raise ValueError(f"a padded PNG needs at least {unpadded_length} bytes, asked for {total_length}")
    image = with_padding(total_length - unpadded_length)
    assert len(image) == total_length
    return image


def jpeg_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    _gradient(size).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def noisy_jpeg_bytes(size: tuple[int, int], quality: int = 95) -> bytes:
    """A JPEG as large as a photo of that size: noise compresses as badly as a camera's detail does."""
    noise = [Image.effect_noise(size, 64) for _ in range(3)]
    buffer = io.BytesIO()
    Image.merge("RGB", noise).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def gif_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    _gradient(size).save(buffer, format="GIF")
    return buffer.getvalue()


def webp_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    _gradient(size).save(buffer, format="WEBP")
    return buffer.getvalue()


def heic_bytes() -> bytes:
    """The start of an iPhone's HEIC photo: an ISO BMFF `ftyp` box (major brand heic; compatible mif1, heic), then
    the `meta` box that holds the image items (Pillow writes no HEIC)."""
    ftyp = b"ftyp" + b"heic" + b"\x00\x00\x00\x00" + b"mif1heic"
    meta = b"meta" + b"\x00" * 64
    return struct.pack(">I", 4 + len(ftyp)) + ftyp + struct.pack(">I", 4 + len(meta)) + meta


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, data) of each chunk of a PNG."""
    chunks, offset = [], len(_PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        chunks.append((data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG of these chunks with correct lengths and CRCs: only what the caller changed is wrong."""
    return _PNG_SIGNATURE + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )


def png_claiming_size(width: int, height: int) -> bytes:
    """A well-formed 32x32 PNG whose IHDR claims `width` x `height`: the shape of a decompression bomb."""
    chunks = png_chunks(png_bytes())
    chunks[0] = (b"IHDR", struct.pack(">II", width, height) + chunks[0][1][8:])
    return png_from_chunks(chunks)


def png_with_garbage_image_data() -> bytes:
    """A PNG whose structure is sound (IHDR, IDAT, IEND, every CRC right) but whose IDAT is no zlib stream:
    it passes the serializer's checks, and no decoder can turn it into pixels."""
    chunks = png_chunks(png_bytes())
    return png_from_chunks(
        [
            (kind, b"scones-vision: not a zlib stream" * 4 if kind == b"IDAT" else body)
            for kind, body in chunks
        ]
    )
