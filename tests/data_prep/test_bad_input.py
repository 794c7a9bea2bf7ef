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

TRAIN = "cifar-100-python/train"


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


def test_truncated_tarball(synthetic_tarball: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(synthetic_tarball.read_bytes()[: synthetic_tarball.stat().st_size // 2])
    assert_fails_cleanly(truncated, tmp_path / "out", "ends early")


def test_corrupt_tarball(synthetic_tarball: Path, tmp_path: Path) -> None:
    data = bytearray(synthetic_tarball.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(bytes(data))
    assert_fails_cleanly(corrupt, tmp_path / "out", "not a readable gzip tar file|not a valid CIFAR pickle")


@pytest.mark.parametrize("content", [b"", b"<html>not found</html>"], ids=["empty", "html"])
def test_not_a_gzip_file(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "cifar-100-python.tar.gz"
    source.write_bytes(content)
    assert_fails_cleanly(source, tmp_path / "out", "not a gzip file")


def test_missing_source(tmp_path: Path) -> None:
    assert_fails_cleanly(tmp_path / "absent.tar.gz", tmp_path / "out", "no such file")


def test_missing_member(members: dict[str, dict], tmp_path: Path) -> None:
    del members["cifar-100-python/test"]
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", "has no member cifar-100-python/test")


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


def test_pickle_that_is_not_a_dict(members: dict[str, dict], tmp_path: Path) -> None:
    members[TRAIN] = [1, 2, 3]
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", "expected a pickled dict, found list")


def test_pickle_cannot_run_code(members: dict[str, dict], tmp_path: Path) -> None:
    members[TRAIN][b"batch_label"] = _MakesAFolder(tmp_path / "pwned")
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", "refusing to load posix.mkdir")
    assert not (tmp_path / "pwned").exists()


def test_member_that_is_not_a_pickle(members: dict[str, dict], tmp_path: Path) -> None:
    members[TRAIN] = b"this is not a pickle"
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", "not a valid CIFAR pickle")


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


def test_output_folder_that_cannot_be_created(synthetic_tarball: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OutputError, match="cannot write the dataset next to"):
        build_into(synthetic_tarball, tmp_path / "a-file")
    assert [path.name for path in tmp_path.iterdir()] == ["a-file"]


def test_output_that_is_a_file(synthetic_tarball: Path, tmp_path: Path) -> None:
    (tmp_path / "data").write_text("keep me")
    with pytest.raises(OutputError, match="is not a folder"):
        build_into(synthetic_tarball, tmp_path)
    assert (tmp_path / "data").read_text() == "keep me"


def test_output_folder_holding_something_else_is_not_replaced(
    synthetic_tarball: Path, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "thesis.tex").write_text("keep me")
    with pytest.raises(OutputError, match="not empty and has no manifest.json"):
        build_into(synthetic_tarball, tmp_path)
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["thesis.tex"]


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


def test_member_claiming_an_absurd_size(members: dict[str, dict], tmp_path: Path) -> None:
    # Protocol 4 BINBYTES8 announcing 2**60 bytes: the unpickler tries to allocate them up front.
    members[TRAIN] = b"\x80\x04\x8e" + (1 << 60).to_bytes(8, "little") + b"xx"
    source = write_members(tmp_path / "t.tar.gz", members)
    assert_fails_cleanly(source, tmp_path / "out", "out of memory while unpickling")
