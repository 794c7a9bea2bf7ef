"""The CIFAR-100 python tarball's published facts, and a reader that streams its pickles out of the gzip.

Layout: https://www.cs.toronto.edu/~kriz/cifar.html (pickles written by Python 2: keys may be bytes or str).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from isal import igzip_threaded

from data_prep.errors import SourceError

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
MD5 = "eb9058c3a382ffc7106e4002c42a8d85"

MEMBER_DIR = "cifar-100-python"
META, TRAIN, TEST = (f"{MEMBER_DIR}/{name}" for name in ("meta", "train", "test"))
SPLIT_MEMBERS = {"train": TRAIN, "test": TEST}

IMAGE_SIDE = 32
ROW_LENGTH = 3 * IMAGE_SIDE * IMAGE_SIDE

# Superclass -> its five fine classes, as published with the dataset.
COARSE_CLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
COARSE_LABEL_NAMES = tuple(COARSE_CLASSES)
# Both label lists are in alphabetical order: fine label i is FINE_LABEL_NAMES[i].
FINE_LABEL_NAMES = tuple(sorted(fine for fines in COARSE_CLASSES.values() for fine in fines))

# The official batch labels; a synthetic tarball prefixes them so a dataset built from it says so.
BATCH_LABELS = {"train": "training batch 1 of 1", "test": "testing batch 1 of 1"}
SYNTHETIC_BATCH_LABEL_PREFIX = "synthetic "

_GZIP_MAGIC = b"\x1f\x8b"
# Compressed bytes handed to the decompressor per read; large blocks keep per-call overhead negligible.
_READ_BLOCK = 4 * 1024 * 1024
# The largest read through tarfile's stream, which joins and slices every read into fresh buffers: blocks of
# this size reuse memory already mapped and in cache, where one 150 MB read would fault in new pages twice.
_TAR_READ_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Split:
    data: np.ndarray  # uint8, (N, 3072)
    fine_labels: np.ndarray  # int64, (N,)
    filenames: tuple[str, ...]
    batch_label: str


@dataclass(frozen=True)
class Cifar100:
    fine_label_names: tuple[str, ...]
    splits: dict[str, Split]

    @property
    def synthetic(self) -> bool:
        return all(
            split.batch_label.startswith(SYNTHETIC_BATCH_LABEL_PREFIX) for split in self.splits.values()
        )


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Loads plain containers and numpy arrays only: a downloaded or hand-made tarball must not run code."""

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        # Python 2 era pickles name numpy.core, which numpy 2 keeps only as a deprecated alias.
        if module.startswith("numpy.core."):
            module = "numpy._core." + module.removeprefix("numpy.core.")
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are expected")
        return super().find_class(module, name)


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _require(member: str, fields: dict[str, object], key: str) -> object:
    if key not in fields:
        raise SourceError(f"{member}: the pickle has no '{key}' entry (found: {', '.join(sorted(fields))})")
    return fields[key]


def _parse_split(member: str, fields: dict[str, object]) -> Split:
    data = _require(member, fields, "data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape[1:] != (ROW_LENGTH,):
        described = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise SourceError(f"{member}: data is {described}, expected a uint8 array of shape (N, {ROW_LENGTH})")
    try:
        fine_labels = np.asarray(_require(member, fields, "fine_labels"))
    except ValueError:
        fine_labels = np.asarray(None)
    # Checked by kind rather than converted: a conversion would silently truncate floats into labels.
    if fine_labels.ndim != 1 or (fine_labels.size and fine_labels.dtype.kind not in "iu"):
        raise SourceError(f"{member}: fine_labels is not a list of integers")
    fine_labels = fine_labels.astype(np.int64)
    filenames = _require(member, fields, "filenames")
    if not isinstance(filenames, list | tuple):
        raise SourceError(f"{member}: filenames is not a list")
    rows = data.shape[0]
    if fine_labels.shape != (rows,) or len(filenames) != rows:
        raise SourceError(
            f"{member}: {rows} images but {fine_labels.size} fine_labels and {len(filenames)} filenames"
        )
    return Split(
        data=data,
        fine_labels=fine_labels,
        filenames=tuple(_text(name) for name in filenames),
        batch_label=_text(fields.get("batch_label", "")),
    )


class _HashingReader(io.RawIOBase):
    """The compressed file as the decompressor reads it: each read reported, and md5-hashed in order in a thread of
    its own (hashing in the decompressor's thread would serialize the two)."""

    def __init__(self, raw: io.BufferedReader, on_read: Callable[[int], object]) -> None:
        self._raw = raw
        self._on_read = on_read
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="md5")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._hasher.submit(self._md5.update, bytes(memoryview(buffer)[:count]))
        self._on_read(count)
        return count

    def md5_of_all(self) -> str:
        """The file's md5: what the decompressor left unread (bytes after the gzip stream) is hashed too."""
        _drain(self)
        self._hasher.shutdown(wait=True)
        return self._md5.hexdigest()

    def close(self) -> None:
        self._hasher.shutdown(wait=False, cancel_futures=True)
        super().close()


class _BlockReader(io.RawIOBase):
    """A tar member's contents, in reads of at most `_TAR_READ_BLOCK` bytes (an array's bytes are one read)."""

    def __init__(self, member: IO[bytes]) -> None:
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._member.readinto(memoryview(buffer)[:_TAR_READ_BLOCK])


def _unpickled_members(gz: io.BufferedIOBase, wanted: set[str]) -> dict[str, dict[str, object]]:
    """Unpickle the wanted members straight from the tar stream, in one pass, nothing extracted."""
    loaded = {}
    with tarfile.open(fileobj=gz, mode="r|", bufsize=_TAR_READ_BLOCK) as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                contents = io.BufferedReader(_BlockReader(tar.extractfile(member)))
                fields = _ArrayOnlyUnpickler(contents, encoding="bytes").load()
                if not isinstance(fields, dict):
                    raise SourceError(
                        f"{member.name}: expected a pickled dict, found {type(fields).__name__}"
                    )
                loaded[member.name] = {_text(key): value for key, value in fields.items()}
    return loaded


def _drain(stream: io.BufferedIOBase) -> None:
    while stream.read(_READ_BLOCK):
        pass


def read_tarball(
    path: Path, *, on_compressed_bytes: Callable[[int], object] = lambda count: None
) -> tuple[Cifar100, str]:
    """Meta, train and test, and the file's md5; any way the file can be broken surfaces as one `SourceError`."""
    wanted = {META, TRAIN, TEST}
    try:
        with path.open("rb") as raw:
            magic = raw.read(len(_GZIP_MAGIC))
        if magic != _GZIP_MAGIC:
            raise SourceError(f"{path}: not a gzip file (it starts with {magic!r})")
        with path.open("rb") as raw, _HashingReader(raw, on_compressed_bytes) as compressed:
            # The threaded reader decompresses in a worker thread that releases the GIL, the hasher hashes in
            # another, while this thread walks the tar and unpickles.
            with igzip_threaded.open(compressed, "rb", block_size=_READ_BLOCK) as gz:
                loaded = _unpickled_members(gz, wanted)
                # Reading to the end makes the gzip layer check its CRC and length trailer.
                _drain(gz)
            md5 = compressed.md5_of_all()
    except SourceError:
        raise
    except EOFError:
        raise SourceError(f"{path}: the file ends early (truncated download or copy?)") from None
    except (OSError, zlib.error, tarfile.TarError) as error:
        raise SourceError(f"{path}: not a readable gzip tar file ({error})") from None
    except MemoryError:
        raise SourceError(
            f"{path}: out of memory while unpickling; a damaged member may claim an absurd size"
        ) from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise SourceError(f"{path}: a member is not a valid CIFAR pickle ({error})") from None
    missing = sorted(wanted - loaded.keys())
    if missing:
        raise SourceError(f"{path}: the tarball has no member {', '.join(missing)}")
    names = _require(META, loaded[META], "fine_label_names")
    if not isinstance(names, list | tuple) or not names:
        raise SourceError(f"{META}: fine_label_names is not a non-empty list")
    fine_label_names = tuple(_text(name) for name in names)
    splits = {split: _parse_split(member, loaded[member]) for split, member in SPLIT_MEMBERS.items()}
    for split, data in splits.items():
        outside = data.fine_labels[(data.fine_labels < 0) | (data.fine_labels >= len(fine_label_names))]
        if outside.size:
            raise SourceError(
                f"{SPLIT_MEMBERS[split]}: fine label {outside[0]} has no name in meta "
                f"({len(fine_label_names)} fine_label_names)"
            )
    return Cifar100(fine_label_names=fine_label_names, splits=splits), md5
