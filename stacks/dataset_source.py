"""Which dataset the app synthesizes with: the prepared one, or a generated demo dataset when there is none.

A fresh clone has no `data/` (the real CIFAR-100 tarball is a 169 MB download), yet synth, the tests and CI
must work offline. So without a prepared dataset the app builds a small demo dataset from data_prep's
synthetic tarball (same arguments, same bytes, same content hash; cached under `.cache/`) and says so. A
deploy must never train on it: `require_real_dataset` refuses it at synth, and the training custom resource
refuses a synthetic dataset again at deploy time, for a `cdk deploy` run outside `make deploy`.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import DatasetError
from data_prep.manifest import Manifest, content_hash

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_CACHE_DIR = PROJECT_ROOT / ".cache" / "demo-dataset"
# Two classes of data_prep's default selection, a few images each: enough to exercise every channel.
DEMO_CLASSES = ("bicycle", "motorcycle")
DEMO_TRAIN_PER_CLASS = 20
DEMO_TEST_PER_CLASS = 5
DEMO_SEED = 0
SPLIT_FOLDERS = {"train": "train", "test": "test"}


class DemoDatasetRefused(DatasetError):
    """A deploy was asked for while the app would use the generated demo dataset."""


@dataclass(frozen=True)
class DatasetSource:
    """A validated dataset folder (docs/CONTRACTS.md, "Dataset") and its manifest."""

    directory: Path
    manifest: Manifest

    @property
    def is_demo(self) -> bool:
        return self.manifest.synthetic

    def images_dir(self, split: str) -> Path:
        return self.directory / SPLIT_FOLDERS[split]

    def lst_file(self, split: str) -> Path:
        return self.directory / f"{split}.lst"

    def describe(self) -> str:
        kind = (
            "generated DEMO dataset (synthetic images; `make data` prepares the real one)"
            if self.is_demo
            else ("prepared dataset")
        )
        splits = self.manifest.splits
        return (
            f"{kind}: {self.manifest.num_classes} classes ({', '.join(self.manifest.classes)}), "
            f"{sum(splits['train'].values())} train / {sum(splits['test'].values())} test images, "
            f"content hash {self.manifest.content_hash[:12]}"
        )


def load_dataset(directory: Path) -> DatasetSource:
    """Load and check a dataset folder; raise DatasetError naming what is wrong.

    Beyond the manifest's own checks: every class needs images in both splits, the .lst files and the image
    folders must hold exactly the manifest's counts, and the content hash must match the files, because
    that hash decides whether a deploy retrains.
    """
    directory = Path(directory)
    manifest = Manifest.load(directory)
    for split, counts in manifest.splits.items():
        empty = [name for name, count in counts.items() if count == 0]
        if empty:
            raise DatasetError(f"{directory}: the {split} split has no images of {', '.join(empty)}")
        _check_lst(directory / f"{split}.lst", manifest.classes, counts)
        images = directory / SPLIT_FOLDERS[split]
        found = sum(1 for path in images.glob("*.png")) if images.is_dir() else 0
        if found != sum(counts.values()):
            raise DatasetError(
                f"{directory}: {images.name}/ holds {found} PNG files, the manifest counts {sum(counts.values())}"
            )
    actual_hash = content_hash(directory)
    if actual_hash != manifest.content_hash:
        raise DatasetError(
            f"{directory}: files changed since manifest.json was written (content hash {actual_hash[:12]}, "
            f"manifest says {manifest.content_hash[:12]}); rebuild it with `make data`"
        )
    return DatasetSource(directory=directory, manifest=manifest)


def _check_lst(path: Path, classes: tuple[str, ...], counts: dict[str, int]) -> None:
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    labels: Counter[str] = Counter()
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].isdigit() or int(fields[1]) >= len(classes):
            raise DatasetError(
                f"{path}:{number}: expected 'index<TAB>label<TAB>path' with a label < {len(classes)}"
            )
        labels[classes[int(fields[1])]] += 1
    mismatched = [
        f"{name} {labels[name]} != {count}" for name, count in counts.items() if labels[name] != count
    ]
    if mismatched:
        raise DatasetError(f"{path}: image counts differ from the manifest's ({'; '.join(mismatched)})")


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
    demo = demo_dataset(demo_cache_dir)
    report(f"scones-vision: no prepared dataset at {directory}; synthesizing with the {demo.describe()}")
    return demo


def demo_dataset(cache_dir: Path = DEMO_CACHE_DIR) -> DatasetSource:
    """Build (once) and load the demo dataset. Same data_prep version and arguments give the same bytes."""
    from data_prep.build import build_dataset
    from data_prep.synthetic import write_synthetic_tarball

    target = cache_dir / (
        f"{'-'.join(DEMO_CLASSES)}-{DEMO_TRAIN_PER_CLASS}x{DEMO_TEST_PER_CLASS}-seed{DEMO_SEED}-{_data_prep_code_hash()}"
    )
    if not (target / Manifest.FILENAME).is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed into place, so a concurrent synth (pytest -n) never sees half a dataset.
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".building-") as scratch:
            tarball = write_synthetic_tarball(
                Path(scratch) / "cifar-100-python.tar.gz",
                train_per_class=DEMO_TRAIN_PER_CLASS,
                test_per_class=DEMO_TEST_PER_CLASS,
                seed=DEMO_SEED,
            )
            built = Path(scratch) / "dataset"
            build_dataset(tarball, built, classes=DEMO_CLASSES, verify_md5=False, progress=False)
            try:
                built.rename(target)
            except OSError:
                # Another process renamed its identical copy into place first.
                if not (target / Manifest.FILENAME).is_file():
                    raise
    return load_dataset(target)


def _data_prep_code_hash() -> str:
    """Part of the cache key: a changed data_prep may write different bytes, and then the cache is stale."""
    import data_prep

    digest = hashlib.sha256()
    for path in sorted(Path(data_prep.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def require_real_dataset(dataset: DatasetSource) -> None:
    """Refuse to deploy the demo dataset; the lead's app.py calls this when a deploy is requested."""
    if dataset.is_demo:
        raise DemoDatasetRefused(
            f"refusing to deploy with the {dataset.describe()} at {dataset.directory}. "
            "Run `make data` to prepare the real dataset, then deploy again."
        )
