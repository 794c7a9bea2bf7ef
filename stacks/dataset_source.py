"""The dataset to synthesize with: the prepared one, else data_prep's demo dataset so a fresh clone synthesizes offline;
a deploy refuses the demo here and again in the training custom resource (docs/CONTRACTS.md, "Dataset")."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from data_prep.dataset import (
    DEMO_CACHE_DIR,
    PROJECT_ROOT,
    DatasetSource,
    DemoSpec,
    demo_dataset,
    load_dataset,
)
from data_prep.errors import DatasetError
from data_prep.manifest import Manifest


class DemoDatasetRefused(DatasetError):
    """A deploy was asked for while the app would use the generated demo dataset."""


def _report_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def resolve_dataset(
    dataset_dir: str,
    *,
    project_root: Path = PROJECT_ROOT,
    demo_cache_dir: Path = DEMO_CACHE_DIR,
    report: Callable[[str], None] = _report_to_stderr,
) -> DatasetSource:
    """The prepared dataset at `dataset_dir` (relative to the project root) if it has a manifest, else the
    demo dataset, announced with one line. A prepared dataset that fails its checks is an error, never
    silently replaced by the demo."""
    directory = Path(dataset_dir)
    if not directory.is_absolute():
        directory = project_root / directory
    if (directory / Manifest.FILENAME).is_file():
        return load_dataset(directory)
    demo = demo_dataset(DemoSpec(), demo_cache_dir)
    # One line within 100 columns; the template's DatasetSource output carries demo.describe() in full.
    folder = dataset_dir.rstrip("/")
    report(
        f"scones-vision: no dataset in {folder}/ (`make data` builds it); using the generated demo dataset"
    )
    return demo


def require_real_dataset(dataset: DatasetSource) -> None:
    """Refuse to deploy the demo dataset; the app calls this when it is built for `make deploy`."""
    if dataset.is_demo:
        raise DemoDatasetRefused(
            f"refusing to deploy with the {dataset.describe()} at {dataset.directory}. "
            "Run `make data` to prepare the real dataset, then deploy again."
        )
