"""`manifest.json`: what a dataset folder holds, and the hash deploy compares to decide whether to retrain."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from data_prep.errors import DatasetError

SPLITS = ("train", "test")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("tool_version", "classes", "splits", "source", "content_hash", "synthetic")


def hash_files(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over (relative path, size, bytes) of each file, in path order: the dataset's content hash."""
    digest = hashlib.sha256()
    for relative_path, data in sorted(files):
        digest.update(relative_path.encode() + b"\0")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def content_hash(dataset_dir: Path) -> str:
    """The hash of every file but manifest.json: the images and their labels (.lst), hence the class order."""
    return hash_files(
        (path.relative_to(dataset_dir).as_posix(), path.read_bytes())
        for path in dataset_dir.rglob("*")
        if path.is_file() and path.relative_to(dataset_dir).as_posix() != Manifest.FILENAME
    )


@dataclass(frozen=True)
class Manifest:
    classes: tuple[str, ...]  # class index order: label i is classes[i]
    splits: dict[str, dict[str, int]]  # split -> class -> image count
    source: dict[str, str]  # {"name": tarball file name, "md5": its md5}
    content_hash: str
    synthetic: bool
    tool_version: str

    FILENAME: ClassVar[str] = "manifest.json"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_training_samples(self) -> int:
        return sum(self.splits["train"].values())

    def to_json(self) -> str:
        return json.dumps({name: getattr(self, name) for name in _FIELDS}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str = "manifest") -> Manifest:
        def check(valid: object, message: str) -> None:
            if not valid:
                raise DatasetError(f"{origin}: {message}")

        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{origin}: not valid JSON ({error})") from None
        check(isinstance(document, dict), "expected a JSON object")
        missing = [name for name in _FIELDS if name not in document]
        check(not missing, f"missing {', '.join(missing)}")
        classes, splits, source = document["classes"], document["splits"], document["source"]
        check(
            isinstance(classes, list)
            and all(isinstance(name, str) and name for name in classes)
            and len(set(classes)) == len(classes) >= 2,
            "classes must be a list of at least two distinct names",
        )
        check(
            isinstance(splits, dict) and set(splits) == set(SPLITS),
            f"splits must have exactly {' and '.join(SPLITS)}",
        )
        for split, counts in splits.items():
            check(
                isinstance(counts, dict)
                and set(counts) == set(classes)
                and all(type(count) is int and count >= 0 for count in counts.values()),
                f"splits.{split} must give a count for each of {', '.join(classes)}",
            )
        check(
            isinstance(source, dict) and all(isinstance(source.get(key), str) for key in ("name", "md5")),
            "source must have a name and an md5",
        )
        check(
            isinstance(document["content_hash"], str) and _SHA256_HEX.fullmatch(document["content_hash"]),
            "content_hash must be a sha256 hex digest",
        )
        check(
            isinstance(document["synthetic"], bool) and isinstance(document["tool_version"], str),
            "synthetic must be true or false and tool_version a string",
        )
        return cls(
            classes=tuple(classes),
            splits={split: dict(splits[split]) for split in SPLITS},
            source=dict(source),
            **{name: document[name] for name in ("content_hash", "synthetic", "tool_version")},
        )

    @classmethod
    def load(cls, dataset_dir: Path) -> Manifest:
        path = Path(dataset_dir) / cls.FILENAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DatasetError(
                f"no dataset at {dataset_dir}: {cls.FILENAME} is missing (run `make data`)"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise DatasetError(f"cannot read {path}: {error}") from None
        return cls.from_json(text, origin=str(path))
