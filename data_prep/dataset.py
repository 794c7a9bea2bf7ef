"""A dataset folder as its readers see it: loaded and checked (`load_dataset`), or generated (`demo_dataset`).

The CDK app, the local run and the tests read datasets through this module only, so what a valid dataset is,
and what the generated demo dataset holds, is decided in one place.
"""

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

    def lst_entries(self, split: str) -> list[LstEntry]:
        return read_lst(self.lst_file(split), num_classes=self.manifest.num_classes)

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


def read_lst(path: Path, *, num_classes: int) -> list[LstEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    return parse_lst(text, source=str(path), num_classes=num_classes)


def load_dataset(directory: Path) -> DatasetSource:
    """Load and check a dataset folder; raise DatasetError naming what is wrong.

    Beyond the manifest's own checks: every class needs images in both splits, the .lst files and the image
    folders must hold exactly the manifest's counts, and the content hash must match the files, because
    that hash decides whether a deploy retrains.
    """
    dataset = DatasetSource(directory=Path(directory), manifest=Manifest.load(Path(directory)))
    classes = dataset.manifest.classes
    for split, counts in dataset.manifest.splits.items():
        empty = [name for name, count in counts.items() if count == 0]
        if empty:
            raise DatasetError(f"{dataset.directory}: the {split} split has no images of {', '.join(empty)}")
        labels = Counter(classes[entry.label] for entry in dataset.lst_entries(split))
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
    """What a generated demo dataset holds: data_prep's synthetic tarball with these arguments, built for
    `classes`. The same spec and the same data_prep code give the same bytes, hence the same content hash.

    The defaults are the small dataset the CDK app synthesizes with when there is no prepared one: a few
    images of each of two classes, enough to exercise every channel.
    """

    classes: tuple[str, ...] = ("bicycle", "motorcycle")
    train_per_class: int = 20
    test_per_class: int = 5
    seed: int = 0
    ambiguity: float = 0.0

    def cache_key(self) -> str:
        # The classes and data_prep's code go into the digest: a changed data_prep may write other bytes.
        digest = hashlib.sha256("\0".join(self.classes).encode() + b"\0\0" + _data_prep_code_digest())
        return (
            f"{len(self.classes)}classes-{self.train_per_class}x{self.test_per_class}-seed{self.seed}"
            f"-ambiguity{self.ambiguity:g}-{digest.hexdigest()[:12]}"
        )


def demo_dataset(spec: DemoSpec = DemoSpec(), cache_dir: Path = DEMO_CACHE_DIR) -> DatasetSource:
    """Build (once per spec and data_prep version) and load a generated demo dataset, cached in `cache_dir`."""
    target = Path(cache_dir) / spec.cache_key()
    if not (target / Manifest.FILENAME).is_file():
        # Imported only to build: they bring numpy, which a synth over the cached dataset does not need.
        from data_prep.build import build_dataset
        from data_prep.synthetic import write_synthetic_tarball

        target.parent.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed into place, so a concurrent build (pytest -n, a synth during a demo) never
        # sees half a dataset.
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


def _data_prep_code_digest() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()
