"""Real image bytes for the handler tests, made with Pillow."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

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


def gif_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    _gradient(size).save(buffer, format="GIF")
    return buffer.getvalue()
