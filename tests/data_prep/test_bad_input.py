"""Every broken input ends in one DataPrepError with a clear message, and nothing is left in the output's folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from data_prep.build import build_dataset
from data_prep.cli import main
from data_prep.errors import OutputError, SourceError
from data_prep.manifest import Manifest
from tests.data_prep.helpers import read_members, write_members

TRAIN, TEST = "cifar-100-python/train", "cifar-100-python/test"


class _MakesAFolder:
    """Unpickles into a call of os.mkdir: what a hostile pickle could do if globals were not restricted."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def build_into(source: Path, parent: Path):
    return build_dataset(
        source, parent / "data", classes=("bicycle", "motorcycle"), verify_md5=False, progress=False
    )


@pytest.fixture
def members(synthetic_tarball: Path) -> dict[str, dict]:
    return read_members(synthetic_tarball)


def assert_fails_cleanly(source: Path, out_parent: Path, message: str) -> None:
    out_parent.mkdir(exist_ok=True)
    with pytest.raises(SourceError, match=message):
        build_into(source, out_parent)
    assert list(out_parent.iterdir()) == []


def _bytes(make):
    return lambda tarball, members, path: path.write_bytes(make(tarball.read_bytes()))


def _members(change):
    return lambda tarball, members, path: write_members(path, change(members))


def _zeroed_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(64) + data[middle + 64 :]


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (_bytes(lambda data: data[: len(data) // 2]), "ends early"),
        (_bytes(_zeroed_middle), "not a readable gzip tar file|not a valid CIFAR pickle"),
        (_bytes(lambda data: b""), "not a gzip file"),
        (_bytes(lambda data: b"<html>not found</html>"), "not a gzip file"),
        (lambda tarball, members, path: None, "no such file"),
        (_members(lambda members: {name: members[name] for name in members if name != TEST}), f"has no member {TEST}"),
        (_members(lambda members: {**members, TRAIN: [1, 2, 3]}), "expected a pickled dict, found list"),
        (_members(lambda members: {**members, TRAIN: b"this is not a pickle"}), "not a valid CIFAR pickle"),
        # Protocol 4 BINBYTES8 announcing 2**60 bytes: the unpickler tries to allocate them up front.
        (_members(lambda members: {**members, TRAIN: b"\x80\x04\x8e" + (1 << 60).to_bytes(8, "little") + b"xx"}),
         "out of memory while unpickling"),
    ],
    ids=["truncated", "corrupt", "empty", "html", "missing", "no-member", "not-a-dict", "not-a-pickle", "absurd-size"],
)  # fmt: skip
def test_a_broken_tarball_fails_cleanly(
    synthetic_tarball, members, tmp_path: Path, make_source, message
) -> None:
    source = tmp_path / "cifar-100-python.tar.gz"
    make_source(synthetic_tarball, members, source)
    assert_fails_cleanly(source, tmp_path / "out", message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda train: train.update({b"data": train[b"data"][:, :100]}), r"data is uint8 \(300, 100\)"),
        (lambda train: train.update({b"data": train[b"data"].astype(np.float32)}), "data is float32"),
        (lambda train: train.update({b"data": train[b"data"].tolist()}), "data is list"),
        (lambda train: train.update({b"fine_labels": train[b"fine_labels"][:-1]}), "300 images but 299"),
        (lambda train: train.update({b"fine_labels": [100] * 300}), "fine label 100 has no name"),
        (lambda train: train.update({b"fine_labels": ["x"] * 300}), "not a list of integers"),
        (lambda train: train.update({b"fine_labels": [8.5] * 300}), "not a list of integers"),
        (lambda train: train.pop(b"filenames"), "no 'filenames' entry"),
        (lambda train: train[b"filenames"].__setitem__(0, b"../../escape.png"), "not a plain file name"),
    ],
    ids=[
        "columns",
        "dtype",
        "not-an-array",
        "label-count",
        "label-range",
        "label-type",
        "label-float",
        "no-filenames",
        "path",
    ],
)
def test_pickle_of_the_wrong_shape(members: dict[str, dict], tmp_path: Path, change, message: str) -> None:
    # Make the changed row one of the selected classes, so that file-name checks see it.
    members[TRAIN][b"fine_labels"][0] = 8
    change(members[TRAIN])
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", message)


def test_pickle_cannot_run_code(members: dict[str, dict], tmp_path: Path) -> None:
    members[TRAIN][b"batch_label"] = _MakesAFolder(tmp_path / "pwned")
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", "refusing to load posix.mkdir")
    assert not (tmp_path / "pwned").exists()


def test_repeated_file_names_are_kept_apart(members: dict[str, dict], tmp_path: Path) -> None:
    train = members[TRAIN]
    bicycles = [row for row, label in enumerate(train[b"fine_labels"]) if label == 8]
    for row in bicycles:
        train[b"filenames"][row] = b"bike_s_000017.png"
    source = write_members(tmp_path / "t.tar.gz", members)
    manifest = build_into(source, tmp_path).manifest
    names = sorted(path.name for path in (tmp_path / "data" / "train").glob("bike_*"))
    assert names == sorted(["bike_s_000017.png"] + [f"bike_s_000017_row{row}.png" for row in bicycles[1:]])
    assert manifest.splits["train"]["bicycle"] == len(bicycles)


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(path): path.read_bytes() if path.is_file() else None for path in sorted(folder.rglob("*"))}


@pytest.mark.parametrize(
    ("existing", "out_parent", "message"),
    [
        ("a-file", "a-file", "cannot write the dataset next to"),  # OUT's parent is a file
        ("data", ".", "exists and is not a folder"),
        ("data/thesis.tex", ".", "not empty and has no manifest.json; not replacing it"),
    ],
)
def test_an_output_that_is_not_ours_is_left_alone(
    synthetic_tarball, tmp_path: Path, existing, out_parent, message
):
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("keep me")
    before = _tree(tmp_path)
    with pytest.raises(OutputError, match=message):
        build_into(synthetic_tarball, tmp_path / out_parent)
    assert _tree(tmp_path) == before


def test_empty_output_folder_is_used(synthetic_tarball: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    build_into(synthetic_tarball, tmp_path)
    assert Manifest.load(tmp_path / "data").classes == ("bicycle", "motorcycle")


def test_cli_reports_one_line_and_fails(synthetic_tarball: Path, tmp_path: Path, capsys) -> None:
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(synthetic_tarball.read_bytes()[:1000])
    assert main(["--source", str(truncated), "--out", str(tmp_path / "data"), "--no-verify", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert not (tmp_path / "data").exists()
