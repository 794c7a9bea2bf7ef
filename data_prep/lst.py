"""The .lst files' only reader and writer: "index TAB class index TAB path relative to the split folder" a line
(https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from data_prep.errors import LstError, LstLabelError

# ASCII digits only: str.isdigit also accepts characters such as "²" that int() refuses.
_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class LstEntry:
    index: int
    label: int  # class index: the manifest's classes[label]
    path: str  # relative to the split folder, "/"-separated


def format_lst(entries: Iterable[LstEntry]) -> str:
    return "".join(f"{entry.index}\t{entry.label}\t{entry.path}\n" for entry in entries)


def parse_lst(text: str, *, source: str, num_classes: int) -> list[LstEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 3 or not all(_NUMBER.fullmatch(field) for field in fields[:2]) or not fields[2]:
            raise LstError(f"{source} line {number}: expected 'index TAB label TAB path'")
        index, label, path = int(fields[0]), int(fields[1]), fields[2]
        if label >= num_classes:
            raise LstLabelError(f"{source} line {number}: label {label} but only {num_classes} classes")
        # The path is joined to the split folder (or its S3 prefix): it must not leave it.
        if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts or "\\" in path:
            raise LstError(f"{source} line {number}: {path!r} is not a path inside the split folder")
        entries.append(LstEntry(index=index, label=label, path=path))
    return entries
