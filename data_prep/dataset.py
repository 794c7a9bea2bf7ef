"""A dataset folder as its readers (the app, the local run, ops) see it: loaded and checked, or generated."""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import DatasetError
from data_prep.lst import LstEntry, parse_lst
from data_prep.manifest import Manifest, content_hash

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_CACHE_DIR = PROJECT_ROOT / ".cache" / "demo-dataset"


@dataclass(frozen=True)
class DatasetSource:
    """A validated dataset folder (docs/CONTRACTS.md, "Dataset") and its manifest."""

    directory: Path
    manifest: Manifest

    @property
    def is_demo(self) -> bool:
        return self.manifest.synthetic

    def images_dir(self, split: str) -> Path:
        return self.directory / split

    def lst_file(self, split: str) -> Path:
        return self.directory / f"{split}.lst"

    def describe(self) -> str:
        kind = "prepared dataset"
        if self.is_demo:
            kind = "generated DEMO dataset (synthetic images; `make data` prepares the real one)"
        splits = self.manifest.splits
        return (
            f"{kind}: {self.manifest.num_classes} classes ({', '.join(self.manifest.classes)}), "
            f"{sum(splits['train'].values())} train / {sum(splits['test'].values())} test images, "
            f"content hash {self.manifest.content_hash[:12]}"
        )


def read_lst(path: Path, *, num_classes: int) -> list[LstEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    return parse_lst(text, source=str(path), num_classes=num_classes)


def load_dataset(directory: Path) -> DatasetSource:
    """Load and check a dataset folder against its manifest (counts, files, content hash: it decides retraining)."""
    dataset = DatasetSource(directory=Path(directory), manifest=Manifest.load(Path(directory)))
    classes = dataset.manifest.classes
    for split, counts in dataset.manifest.splits.items():
        empty = [name for name, count in counts.items() if count == 0]
        if empty:
            raise DatasetError(f"{dataset.directory}: the {split} split has no images of {', '.join(empty)}")
        entries = read_lst(dataset.lst_file(split), num_classes=len(classes))
        labels = Counter(classes[entry.label] for entry in entries)
        mismatched = [
            f"{name} {labels[name]} != {count}" for name, count in counts.items() if labels[name] != count
        ]
        if mismatched:
            raise DatasetError(
                f"{dataset.lst_file(split)}: image counts differ from the manifest's ({'; '.join(mismatched)})"
            )
        images = dataset.images_dir(split)
        found = sum(1 for path in images.glob("*.png")) if images.is_dir() else 0
        if found != sum(counts.values()):
            raise DatasetError(
                f"{dataset.directory}: {images.name}/ holds {found} PNG files, "
                f"the manifest counts {sum(counts.values())}"
            )
    actual_hash = content_hash(dataset.directory)
    if actual_hash != dataset.manifest.content_hash:
        raise DatasetError(
            f"{dataset.directory}: files changed since manifest.json was written (content hash "
            f"{actual_hash[:12]}, manifest says {dataset.manifest.content_hash[:12]}); rebuild it with `make data`"
        )
    return dataset


@dataclass(frozen=True)
class DemoSpec:
    """A generated demo dataset: the synthetic tarball of these arguments, built for `classes` (same bytes each time).
    The defaults are what the app synthesizes with when there is no prepared dataset."""

    classes: tuple[str, ...] = ("bicycle", "motorcycle")
    train_per_class: int = 20
    test_per_class: int = 5
    seed: int = 0
    ambiguity: float = 0.0

    def cache_key(self) -> str:
        # The classes and data_prep's code go into the digest: a changed data_prep may write other bytes.
        digest = hashlib.sha256("\0".join(self.classes).encode() + b"\0\0")
        for path in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return (
            f"{len(self.classes)}classes-{self.train_per_class}x{self.test_per_class}-seed{self.seed}"
            f"-ambiguity{self.ambiguity:g}-{digest.hexdigest()[:12]}"
        )


def demo_dataset(spec: DemoSpec = DemoSpec(), cache_dir: Path = DEMO_CACHE_DIR) -> DatasetSource:
    target = Path(cache_dir) / spec.cache_key()
    if not (target / Manifest.FILENAME).is_file():
        # Imported only to build: they bring numpy, which a synth over the cached dataset does not need.
        from data_prep.build import build_dataset
        from data_prep.synthetic import write_synthetic_tarball

        target.parent.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed into place: a concurrent build (pytest -n, a synth during a demo) sees all or none.
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as scratch:
            tarball = write_synthetic_tarball(
                Path(scratch) / "cifar-100-python.tar.gz",
                train_per_class=spec.train_per_class,
                test_per_class=spec.test_per_class,
                seed=spec.seed,
                ambiguity=spec.ambiguity,
            )
            built = Path(scratch) / "dataset"
            build_dataset(tarball, built, classes=spec.classes, verify_md5=False, progress=False)
            try:
                built.rename(target)
            except OSError:
                # Another process renamed its identical copy into place first.
                if not (target / Manifest.FILENAME).is_file():
                    raise
    return load_dataset(target)
