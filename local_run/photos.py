"""A phone-sized photo for the local run: a test image blown up to 12 megapixels with sensor-like grain, saved as a
multi-megabyte JPEG, so the run classifies an image too large for the Step Functions state (docs/LOCAL.md)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops

PHOTO_SIZE = (3000, 4000)  # width, height: a 12-megapixel portrait photo
PHOTO_QUALITY = 95
# Grain in grey levels, drawn at half resolution: about 3 MB at quality 95, under every endpoint mode's limit.
GRAIN_SIGMA = 5


def large_photo(image: bytes) -> bytes:
    """The image (any format Pillow reads) as a PHOTO_SIZE JPEG of a few megabytes."""
    with Image.open(io.BytesIO(image)) as small:
        photo = small.convert("RGB").resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    grain_size = (PHOTO_SIZE[0] // 2, PHOTO_SIZE[1] // 2)
    # Seeded, so every run makes the same bytes; centred on 128, which the offset below takes back out.
    noise = np.random.default_rng(0).normal(128, GRAIN_SIGMA, (*grain_size[::-1], 3))
    grain = Image.fromarray(noise.clip(0, 255).astype(np.uint8), "RGB").resize(PHOTO_SIZE)
    buffer = io.BytesIO()
    ImageChops.add(photo, grain, offset=-128).save(buffer, format="JPEG", quality=PHOTO_QUALITY)
    return buffer.getvalue()
