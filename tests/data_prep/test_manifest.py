from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.errors import DatasetError
from data_prep.manifest import Manifest

VALID = {
    "tool_version": "0.1.0",
    "classes": ["bicycle", "motorcycle"],
    "splits": {"train": {"bicycle": 500, "motorcycle": 500}, "test": {"bicycle": 100, "motorcycle": 100}},
    "source": {"name": "cifar-100-python.tar.gz", "md5": "eb9058c3a382ffc7106e4002c42a8d85"},
    "content_hash": "0" * 64,
    "synthetic": False,
}


def write(folder: Path, document: object) -> Path:
    (folder / "manifest.json").write_text(json.dumps(document))
    return folder


def test_loads_the_documented_format(tmp_path: Path) -> None:
    manifest = Manifest.load(write(tmp_path, VALID))
    assert manifest.classes == ("bicycle", "motorcycle")
    assert manifest.num_classes == 2
    assert manifest.num_training_samples == 1000
    assert manifest.splits["test"] == {"bicycle": 100, "motorcycle": 100}
    assert manifest.source["md5"] == "eb9058c3a382ffc7106e4002c42a8d85"
    assert manifest.synthetic is False and manifest.tool_version == "0.1.0"


def test_round_trips_through_json(tmp_path: Path) -> None:
    manifest = Manifest.load(write(tmp_path, VALID))
    assert json.loads(manifest.to_json()) == VALID
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_is_immutable(tmp_path: Path) -> None:
    manifest = Manifest.load(write(tmp_path, VALID))
    with pytest.raises(AttributeError):
        manifest.classes = ("cat", "dog")


def test_missing_dataset_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no dataset at .*manifest.json is missing \(run `make data`\)"):
        Manifest.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda document: document.pop("content_hash"), "missing content_hash"),
        (lambda document: document.update(classes=["bicycle"]), "at least two distinct names"),
        (lambda document: document.update(classes=["bicycle", "bicycle"]), "at least two distinct names"),
        (lambda document: document["splits"].pop("test"), "exactly train and test"),
        (lambda document: document["splits"]["train"].pop("motorcycle"), "splits.train must give a count"),
        (lambda document: document["splits"]["test"].update(bicycle=-1), "splits.test must give a count"),
        (lambda document: document["splits"]["test"].update(bicycle=1.5), "splits.test must give a count"),
        (lambda document: document.update(source={"name": "x"}), "source must have a name and an md5"),
        (lambda document: document.update(content_hash="abc"), "sha256 hex digest"),
        (lambda document: document.update(synthetic="no"), "synthetic must be true or false"),
    ],
)
def test_invalid_manifests_are_refused_clearly(tmp_path: Path, change, message: str) -> None:
    document = json.loads(json.dumps(VALID))
    change(document)
    with pytest.raises(DatasetError, match=message):
        Manifest.load(write(tmp_path, document))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"], ids=["syntax", "not-an-object"])
def test_malformed_json_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(DatasetError, match="manifest.json: (not valid JSON|expected a JSON object)"):
        Manifest.load(tmp_path)
