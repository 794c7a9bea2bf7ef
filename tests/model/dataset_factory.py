"""Small, valid dataset folders (docs/CONTRACTS.md layout) for the model tests, written with Pillow."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from data_prep.lst import LstEntry, format_lst
from data_prep.manifest import Manifest, content_hash

CLASSES = ("bicycle", "motorcycle")


def write_dataset(
    directory: Path, *, train_per_class: int = 3, test_per_class: int = 1, synthetic: bool = False
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    splits: dict[str, dict[str, int]] = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        (directory / split).mkdir(exist_ok=True)
        entries = []
        for label, name in enumerate(CLASSES):
            for serial in range(per_class):
                filename = f"{name}_s_{serial:06d}.png"
                Image.new("RGB", (32, 32), (label * 200, serial * 10, 50)).save(directory / split / filename)
                entries.append(LstEntry(index=len(entries), label=label, path=filename))
        (directory / f"{split}.lst").write_text(format_lst(entries), encoding="utf-8")
        splits[split] = dict.fromkeys(CLASSES, per_class)
    write_manifest(directory, splits=splits, synthetic=synthetic)
    return directory


def write_manifest(
    directory: Path, *, splits: dict[str, dict[str, int]], synthetic: bool, classes=CLASSES
) -> None:
    manifest = Manifest(
        classes=tuple(classes),
        splits=splits,
        source={"name": "cifar-100-python.tar.gz", "md5": "eb9058c3a382ffc7106e4002c42a8d85"},
        content_hash=content_hash(directory),
        synthetic=synthetic,
        tool_version="0.1.0",
    )
    (directory / Manifest.FILENAME).write_text(manifest.to_json(), encoding="utf-8")
