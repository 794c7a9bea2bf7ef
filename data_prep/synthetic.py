"""A generated stand-in for the CIFAR-100 python tarball (same members, keys, dtypes and label names) whose images a
small classifier can learn: the tests, the benchmark and the demo need no 169 MB download."""

from __future__ import annotations

import argparse
import colorsys
import io
import os
import pickle
import tarfile
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from isal import igzip

from data_prep.cifar import (
    BATCH_LABELS,
    COARSE_CLASSES,
    COARSE_LABEL_NAMES,
    FINE_LABEL_NAMES,
    IMAGE_SIDE,
    MEMBER_DIR,
    META,
    ROW_LENGTH,
    SPLIT_MEMBERS,
    SYNTHETIC_BATCH_LABEL_PREFIX,
)

KeyStyle = Literal["bytes", "str"]

# The offsets a class's shape is drawn at; a few positions keep classes learnable, not memorisable.
_OFFSETS = tuple((dy, dx) for dy in (-3, 0, 3) for dx in (-3, 0, 3))
# Uniform per-pixel noise of +-_NOISE. With it the full-size tarball barely compresses (178 of 186 MB; the
# real photographs give 169 MB), so timing its decompression is representative.
_NOISE = 48
_ROWS_PER_CHUNK = 8192
# An ambiguous image mixes in this much of a second class's image (the rest is its own class), plus more noise.
_BLEND_WEIGHTS = (0.3, 0.5)
_AMBIGUOUS_EXTRA_NOISE = 32
# Ambiguity draws from its own random stream, so the main stream (offsets, noise, order) is the same whatever
# the ambiguity: the images it leaves alone keep their bytes.
_AMBIGUITY_STREAM = 1
# Fixed timestamps make the same arguments produce the same bytes, hence the same md5.
_MTIME = 1_230_768_000


def _class_templates() -> np.ndarray:
    """(classes, offsets, 3072) uint8: each class's clean image at each offset, in CIFAR's CHW row layout."""
    yy, xx = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE] - (IMAGE_SIDE - 1) / 2
    templates = np.empty((len(FINE_LABEL_NAMES), len(_OFFSETS), ROW_LENGTH), dtype=np.uint8)
    for label in range(len(FINE_LABEL_NAMES)):
        # 33 is coprime to 100, so the 100 classes get 100 distinct hues; neighbouring labels are a third of
        # the colour wheel apart, and the demo's classes (8, 48, 58, 89) at least a fifth.
        hue = (label * 33 % 100) / 100
        foreground = np.array(colorsys.hsv_to_rgb(hue, 0.9, 0.95)) * 255
        background = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.5, 0.35 + 0.3 * (label % 3) / 2)) * 255
        # Chosen so that the demo's classes also differ in shape and size.
        radius = 5 + label % 7
        shape = (label // 3) % 4
        for index, (dy, dx) in enumerate(_OFFSETS):
            y, x = yy - dy, xx - dx
            if shape == 0:
                mask = y**2 + x**2 <= radius**2
            elif shape == 1:
                mask = (np.abs(y) <= radius) & (np.abs(x) <= radius)
            elif shape == 2:
                mask = (np.abs(y) <= radius) & ((x.astype(int) // 3) % 2 == 0)
            else:
                mask = np.abs(y - x) <= radius / 2
            image = np.where(mask[None], foreground[:, None, None], background[:, None, None])
            templates[label, index] = image.astype(np.uint8).reshape(-1)
    return templates


def _images(
    labels: np.ndarray, rng: np.random.Generator, ambiguity: float, ambiguity_rng: np.random.Generator
) -> np.ndarray:
    templates = _class_templates()
    # The other fine classes of each class's superclass, the ones a photograph confuses it with.
    partners = np.empty((len(FINE_LABEL_NAMES), 4), dtype=np.int64)
    for fines in COARSE_CLASSES.values():
        fine_labels = [FINE_LABEL_NAMES.index(name) for name in fines]
        for label in fine_labels:
            partners[label] = [other for other in fine_labels if other != label]
    data = np.empty((labels.size, ROW_LENGTH), dtype=np.uint8)
    for start in range(0, labels.size, _ROWS_PER_CHUNK):
        chunk = labels[start : start + _ROWS_PER_CHUNK]
        offsets = rng.integers(0, len(_OFFSETS), size=chunk.size)
        noisy = templates[chunk, offsets].astype(np.int16)
        noisy += rng.integers(-_NOISE, _NOISE + 1, size=noisy.shape, dtype=np.int16)
        rows = np.flatnonzero(ambiguity_rng.random(chunk.size) < ambiguity)
        partner = partners[chunk[rows], ambiguity_rng.integers(0, partners.shape[1], size=rows.size)]
        partner_image = templates[partner, ambiguity_rng.integers(0, len(_OFFSETS), size=rows.size)]
        weight = ambiguity_rng.uniform(*_BLEND_WEIGHTS, size=(rows.size, 1))
        # noisy = own image + noise, so this gives (1 - weight) * own + weight * partner + noise, noisier.
        shift = weight * (partner_image.astype(np.float64) - templates[chunk[rows], offsets[rows]])
        shift += ambiguity_rng.integers(-_AMBIGUOUS_EXTRA_NOISE, _AMBIGUOUS_EXTRA_NOISE + 1, size=shift.shape)
        noisy[rows] += np.rint(shift).astype(np.int16)
        data[start : start + chunk.size] = np.clip(noisy, 0, 255)
    return data


def _encoded(value: object) -> object:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [item.encode() for item in value]
    return value


def _pickle(fields: dict[str, object], key_style: KeyStyle) -> bytes:
    if key_style == "bytes":
        # How the official Python 2 pickles load under encoding="bytes": every key and string is bytes.
        fields = {key.encode(): _encoded(value) for key, value in fields.items()}
    elif key_style != "str":
        raise ValueError(f"key_style must be 'bytes' or 'str', not {key_style!r}")
    return pickle.dumps(fields, protocol=4)


def write_synthetic_tarball(
    path: Path,
    *,
    train_per_class: int,
    test_per_class: int,
    seed: int = 0,
    key_style: KeyStyle = "bytes",
    ambiguity: float = 0.0,
) -> Path:
    """Write a CIFAR-100-format tarball of `train_per_class`/`test_per_class` images of each class (the real one
    has 500 and 100); the same arguments give the same bytes. `ambiguity` is the share of images that blend in
    30-50% of another class of their superclass (a bicycle with a motorcycle in view), with more noise."""
    if train_per_class < 0 or test_per_class < 0:
        raise ValueError("image counts per class must not be negative")
    if not 0.0 <= ambiguity <= 1.0:
        raise ValueError(f"ambiguity must be a share between 0 and 1, not {ambiguity!r}")
    path = Path(path)
    rng = np.random.default_rng(seed)
    ambiguity_rng = np.random.default_rng([seed, _AMBIGUITY_STREAM])
    coarse_of_fine = {fine: coarse for coarse, fines in enumerate(COARSE_CLASSES.values()) for fine in fines}
    per_class = {"train": train_per_class, "test": test_per_class}
    # Each class's next file number: the test files continue where the train files end.
    serials = np.zeros(len(FINE_LABEL_NAMES), dtype=np.int64)
    members = {}
    for split, member in SPLIT_MEMBERS.items():
        # Shuffled like the real file, so readers cannot rely on rows being grouped by class.
        fine_labels = rng.permutation(np.repeat(np.arange(len(FINE_LABEL_NAMES)), per_class[split]))
        filenames = []
        for label in fine_labels:
            filenames.append(f"{FINE_LABEL_NAMES[label]}_s_{serials[label]:06d}.png")
            serials[label] += 1
        fields = {
            "filenames": filenames,
            "batch_label": SYNTHETIC_BATCH_LABEL_PREFIX + BATCH_LABELS[split],
            "fine_labels": fine_labels.tolist(),
            "coarse_labels": [coarse_of_fine[FINE_LABEL_NAMES[label]] for label in fine_labels],
            "data": _images(fine_labels, rng, ambiguity, ambiguity_rng),
        }
        members[member] = _pickle(fields, key_style)
    # The official tarball's order, meta last: readers must not need the label names first.
    members[META] = _pickle(
        {"fine_label_names": list(FINE_LABEL_NAMES), "coarse_label_names": list(COARSE_LABEL_NAMES)},
        key_style,
    )
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with (
            os.fdopen(descriptor, "wb") as raw,
            igzip.IGzipFile(fileobj=raw, mode="wb", compresslevel=2, mtime=_MTIME) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
        ):
            directory = tarfile.TarInfo(MEMBER_DIR)
            directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, _MTIME
            tar.addfile(directory)
            for member, payload in members.items():
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.mtime = len(payload), 0o644, _MTIME
                tar.addfile(info, io.BytesIO(payload))
        # mkstemp creates the file private to its owner; the tarball is an ordinary shared file.
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.synthetic",
        description="Write a synthetic CIFAR-100 python tarball (build from it with --no-verify).",
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--train-per-class", type=int, default=500, help="(%(default)s, as the real one)")
    parser.add_argument("--test-per-class", type=int, default=100, help="(%(default)s, as the real one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--key-style", choices=("bytes", "str"), default="bytes")
    args = parser.parse_args(argv)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_tarball(**vars(args))
    print(f"data_prep.synthetic: wrote {args.path}")


if __name__ == "__main__":
    main()
