"""A minimal 8-bit RGB PNG encoder (https://www.w3.org/TR/png/): several times faster than Pillow for 32x32 images."""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_rgb_pngs(images: np.ndarray) -> list[bytes]:
    """PNG files for a uint8 array of shape (N, height, width, 3)."""
    count, height, width, channels = images.shape
    if images.dtype != np.uint8 or channels != 3:
        raise ValueError(f"expected uint8 RGB images, got {images.dtype} with {channels} channels")
    header = _chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    )  # bit depth 8, colour type RGB
    end = _chunk(b"IEND", b"")
    # Each scanline starts with its filter type: 0, none, so encoding is a plain compression of the pixels.
    scanlines = np.zeros((count, height, 1 + width * 3), dtype=np.uint8)
    scanlines[:, :, 1:] = images.reshape(count, height, width * 3)
    return [_SIGNATURE + header + _chunk(b"IDAT", zlib.compress(lines)) + end for lines in scanlines]
