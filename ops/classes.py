"""Class names in class-index order, taken from data_prep's manifest or given on the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from data_prep.errors import DatasetError
from data_prep.manifest import Manifest
from ops.errors import ClassNamesError


def load_class_names(manifest_path: Path) -> list[str]:
    """The manifest's classes; `manifest_path` is manifest.json or the dataset folder that holds it."""
    dataset_dir = manifest_path.parent if manifest_path.name == Manifest.FILENAME else manifest_path
    try:
        return list(Manifest.load(dataset_dir).classes)
    except DatasetError as error:
        raise ClassNamesError(str(error)) from error


def parse_class_names(values: Sequence[str]) -> list[str]:
    """Names in class-index order, given as data_prep takes them (`--classes bicycle motorcycle`); a comma also
    separates names (`--classes bicycle,motorcycle`)."""
    names = [name.strip() for value in values for name in value.split(",")]
    if not all(names) or len(set(names)) != len(names):
        given = " ".join(values)
        raise ClassNamesError(
            f"--classes {given!r}: expected distinct non-empty names, separated by spaces or commas"
        )
    return names


def chosen_class_names(classes: Sequence[str] | None, manifest: Path | None) -> list[str] | None:
    if classes:
        return parse_class_names(classes)
    if manifest:
        return load_class_names(manifest)
    return None
