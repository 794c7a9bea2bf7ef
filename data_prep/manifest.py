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


def hash_files(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over (relative path, size, bytes) of each file, in path order: the dataset's content hash."""
    digest = hashlib.sha256()
    for relative_path, data in sorted(files):
        digest.update(relative_path.encode() + b"\0")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def content_hash(dataset_dir: Path) -> str:
    """The content hash of every file of the dataset except manifest.json.

    Covers the images, their labels (the .lst files) and therefore the class order; any added, removed or
    changed file changes it.
    """
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
        document = {
            "tool_version": self.tool_version,
            "classes": list(self.classes),
            "splits": self.splits,
            "source": self.source,
            "content_hash": self.content_hash,
            "synthetic": self.synthetic,
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str = "manifest") -> Manifest:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{origin}: not valid JSON ({error})") from None
        if not isinstance(document, dict):
            raise DatasetError(f"{origin}: expected a JSON object")
        missing = [name for name in ("tool_version", "classes", "splits", "source", "content_hash", "synthetic")
                   if name not in document]  # fmt: skip
        if missing:
            raise DatasetError(f"{origin}: missing {', '.join(missing)}")
        classes = document["classes"]
        if (
            not isinstance(classes, list)
            or len(classes) < 2
            or not all(isinstance(name, str) and name for name in classes)
            or len(set(classes)) != len(classes)
        ):
            raise DatasetError(f"{origin}: classes must be a list of at least two distinct names")
        splits = document["splits"]
        if not isinstance(splits, dict) or set(splits) != set(SPLITS):
            raise DatasetError(f"{origin}: splits must have exactly {' and '.join(SPLITS)}")
        for split, counts in splits.items():
            if (
                not isinstance(counts, dict)
                or set(counts) != set(classes)
                or not all(type(count) is int and count >= 0 for count in counts.values())
            ):
                raise DatasetError(
                    f"{origin}: splits.{split} must give a count for each of {', '.join(classes)}"
                )
        source = document["source"]
        if not isinstance(source, dict) or not all(
            isinstance(source.get(key), str) for key in ("name", "md5")
        ):
            raise DatasetError(f"{origin}: source must have a name and an md5")
        if not isinstance(document["content_hash"], str) or not _SHA256_HEX.fullmatch(
            document["content_hash"]
        ):
            raise DatasetError(f"{origin}: content_hash must be a sha256 hex digest")
        if not isinstance(document["synthetic"], bool) or not isinstance(document["tool_version"], str):
            raise DatasetError(f"{origin}: synthetic must be true or false and tool_version a string")
        return cls(
            classes=tuple(classes),
            splits={split: dict(splits[split]) for split in SPLITS},
            source=dict(source),
            content_hash=document["content_hash"],
            synthetic=document["synthetic"],
            tool_version=document["tool_version"],
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
