from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import __version__
from data_prep.build import build_dataset
from data_prep.cifar import FINE_LABEL_NAMES
from data_prep.cli import main
from data_prep.download import file_md5
from data_prep.errors import ChecksumMismatch, ClassSelectionError
from data_prep.manifest import Manifest, content_hash
from tests.data_prep.conftest import TEST_PER_CLASS, TRAIN_PER_CLASS
from tests.data_prep.helpers import image_of_row, python2_pickle, read_members, write_members

SEED_CLASSES = ("bicycle", "motorcycle")


def build(source: Path, out: Path, classes=SEED_CLASSES, **options):
    return build_dataset(source, out, classes=classes, verify_md5=False, progress=False, **options)


def read_lst(path: Path) -> list[tuple[int, int, str]]:
    return [
        (int(index), int(label), name)
        for index, label, name in (line.split("\t") for line in path.read_text().splitlines())
    ]


def test_builds_the_seed_dataset(synthetic_tarball: Path, tmp_path: Path) -> None:
    result = build(synthetic_tarball, tmp_path / "data")
    out = tmp_path / "data"
    assert not result.noop
    assert result.manifest == Manifest.load(out)
    assert result.manifest.classes == SEED_CLASSES
    assert result.manifest.splits == {
        "train": {"bicycle": TRAIN_PER_CLASS, "motorcycle": TRAIN_PER_CLASS},
        "test": {"bicycle": TEST_PER_CLASS, "motorcycle": TEST_PER_CLASS},
    }
    assert result.manifest.source == {"name": synthetic_tarball.name, "md5": file_md5(synthetic_tarball)}
    assert result.manifest.synthetic is True
    assert result.manifest.tool_version == __version__
    assert result.manifest.content_hash == content_hash(out)
    assert result.manifest.num_classes == 2
    assert result.manifest.num_training_samples == 2 * TRAIN_PER_CLASS
    assert sorted(path.name for path in out.iterdir()) == [
        "manifest.json",
        "test",
        "test.lst",
        "train",
        "train.lst",
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["data"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_lst_files_list_every_image_with_its_label(
    synthetic_tarball: Path, tmp_path: Path, split: str
) -> None:
    build(synthetic_tarball, tmp_path)
    fields = read_members(synthetic_tarball)[f"cifar-100-python/{split}"]
    fine_label_of = {
        name.decode(): label for name, label in zip(fields[b"filenames"], fields[b"fine_labels"], strict=True)
    }
    entries = read_lst(tmp_path / f"{split}.lst")
    assert [index for index, _, _ in entries] == list(range(len(entries)))
    assert sorted(name for _, _, name in entries) == sorted(
        path.name for path in (tmp_path / split).iterdir()
    )
    for _, label, name in entries:
        assert FINE_LABEL_NAMES[fine_label_of[name]] == SEED_CLASSES[label]


def test_pngs_decode_to_the_pickled_pixels(synthetic_tarball: Path, tmp_path: Path) -> None:
    build(synthetic_tarball, tmp_path)
    for split in ("train", "test"):
        fields = read_members(synthetic_tarball)[f"cifar-100-python/{split}"]
        row_of = {name.decode(): row for row, name in enumerate(fields[b"filenames"])}
        for path in (tmp_path / split).iterdir():
            with Image.open(path) as image:
                assert image.format == "PNG" and image.mode == "RGB" and image.size == (32, 32)
                pixels = np.asarray(image)
            assert np.array_equal(pixels, image_of_row(fields[b"data"][row_of[path.name]]))


def test_class_index_order_is_the_order_given(synthetic_tarball: Path, tmp_path: Path) -> None:
    build(synthetic_tarball, tmp_path / "seed")
    build(synthetic_tarball, tmp_path / "swapped", classes=("motorcycle", "bicycle"))
    seed = {name: label for _, label, name in read_lst(tmp_path / "seed" / "train.lst")}
    swapped = {name: label for _, label, name in read_lst(tmp_path / "swapped" / "train.lst")}
    assert swapped == {name: 1 - label for name, label in seed.items()}
    assert Manifest.load(tmp_path / "swapped").classes == ("motorcycle", "bicycle")


def test_any_fine_label_names_can_be_chosen(synthetic_tarball: Path, tmp_path: Path) -> None:
    classes = ("bicycle", "motorcycle", "pickup_truck", "tractor")
    manifest = build(synthetic_tarball, tmp_path, classes=classes).manifest
    assert manifest.classes == classes
    assert manifest.splits["test"] == dict.fromkeys(classes, TEST_PER_CLASS)
    assert {label for _, label, _ in read_lst(tmp_path / "train.lst")} == {0, 1, 2, 3}
    assert all(
        name.startswith("tractor_") for _, label, name in read_lst(tmp_path / "train.lst") if label == 3
    )


def test_str_and_bytes_keys_give_the_same_dataset(
    synthetic_tarball: Path, synthetic_tarball_str_keys: Path, tmp_path: Path
) -> None:
    from_bytes = build(synthetic_tarball, tmp_path / "bytes").manifest
    from_str = build(synthetic_tarball_str_keys, tmp_path / "str").manifest
    assert from_str.content_hash == from_bytes.content_hash
    assert from_str.splits == from_bytes.splits


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (("bicycle", "motorcyle"), r"unknown class 'motorcyle': did you mean motorcycle\?"),
        (("bicycle", "zeppelin"), r"unknown class 'zeppelin'"),
        (("bicycle", "bicycle"), r"repeated: bicycle"),
        (("bicycle",), r"at least two classes"),
        ("bicycle", r"not the single string"),
    ],
)
def test_bad_class_requests_are_refused(
    synthetic_tarball: Path, tmp_path: Path, classes, message: str
) -> None:
    with pytest.raises(ClassSelectionError, match=message):
        build(synthetic_tarball, tmp_path / "data", classes=classes)
    assert list(tmp_path.iterdir()) == []


def test_second_run_is_a_noop(synthetic_tarball: Path, tmp_path: Path) -> None:
    first = build(synthetic_tarball, tmp_path / "data")
    stamps = {path: path.stat().st_mtime_ns for path in (tmp_path / "data").rglob("*")}
    second = build(synthetic_tarball, tmp_path / "data")
    assert second.noop and second.manifest == first.manifest
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "data").rglob("*")} == stamps


def test_other_classes_or_changed_files_rebuild(synthetic_tarball: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    build(synthetic_tarball, out)
    assert not build(synthetic_tarball, out, classes=("bicycle", "tractor")).noop
    assert Manifest.load(out).classes == ("bicycle", "tractor")
    assert not (out / "train" / "motorcycle_s_000000.png").exists()
    (out / "train.lst").write_text("tampered\n")
    rebuilt = build(synthetic_tarball, out, classes=("bicycle", "tractor"))
    assert not rebuilt.noop and rebuilt.manifest.content_hash == content_hash(out)
    assert [path.name for path in tmp_path.iterdir()] == ["data"]


def test_verification_rejects_a_tarball_that_is_not_the_official_one(
    synthetic_tarball: Path, tmp_path: Path
) -> None:
    with pytest.raises(ChecksumMismatch) as raised:
        build_dataset(synthetic_tarball, tmp_path / "data", classes=SEED_CLASSES, progress=False)
    message = str(raised.value)
    assert file_md5(synthetic_tarball) in message and "eb9058c3a382ffc7106e4002c42a8d85" in message
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_keeps_the_previous_dataset(
    synthetic_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    before = build(synthetic_tarball, out).manifest
    written = 0
    original_write_bytes = Path.write_bytes

    def write_bytes_then_interrupt(path: Path, data: bytes) -> int:
        nonlocal written
        written += 1
        if written == 5:
            raise KeyboardInterrupt
        return original_write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        build(synthetic_tarball, out, classes=("bicycle", "tractor"))
    assert Manifest.load(out) == before and content_hash(out) == before.content_hash
    assert [path.name for path in tmp_path.iterdir()] == ["data"]


def test_written_files_are_readable_by_others(synthetic_tarball: Path, tmp_path: Path) -> None:
    build(synthetic_tarball, tmp_path / "data")
    assert (tmp_path / "data").stat().st_mode & 0o755 == 0o755
    assert (tmp_path / "data" / "manifest.json").stat().st_mode & 0o644 == 0o644
    assert os.access(tmp_path / "data" / "train.lst", os.R_OK)


def test_reads_python2_pickles_like_the_official_files(synthetic_tarball: Path, tmp_path: Path) -> None:
    """The official tarball: Python 2 pickles, an editor backup member, meta last."""
    members = {"cifar-100-python/file.txt~": b""}
    members.update((name, python2_pickle(fields)) for name, fields in read_members(synthetic_tarball).items())
    official_like = write_members(tmp_path / "official-like.tar.gz", members)
    from_python2 = build(official_like, tmp_path / "python2").manifest
    assert from_python2.content_hash == build(synthetic_tarball, tmp_path / "python3").manifest.content_hash


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_the_next_run_removes_work_folders_of_killed_runs_only(
    synthetic_tarball: Path, tmp_path: Path
) -> None:
    build(synthetic_tarball, tmp_path / "data")
    dead = _dead_pid()
    stale = [f".data.building-{dead}-a1", f".data.replaced-{dead}-b2", ".data.building-oldstyle"]
    live = [f".data.building-{os.getpid()}-c3", f".other.building-{dead}-d4"]
    for name in stale + live:
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.lst").write_text("")
    assert build(synthetic_tarball, tmp_path / "data").noop
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["data", *live])


def test_a_run_killed_between_the_two_renames_gets_its_dataset_back(synthetic_tarball: Path, tmp_path: Path):
    before = build(synthetic_tarball, tmp_path / "data").manifest
    os.rename(tmp_path / "data", tmp_path / f".data.replaced-{_dead_pid()}-x")
    assert build(synthetic_tarball, tmp_path / "data").noop
    assert Manifest.load(tmp_path / "data") == before
    assert [path.name for path in tmp_path.iterdir()] == ["data"]


@pytest.mark.parametrize(
    ("patched", "call", "state"),
    [
        ("os.rename", 1, "was left as it was"),  # between the two renames: the previous dataset is put back
        ("os.rename", 2, "already holds the new dataset"),
        ("shutil.rmtree", 1, "already holds the new dataset"),  # while the previous copy is deleted
    ],
)
def test_an_interrupt_at_the_swap_loses_nothing_and_says_what_is_there(
    synthetic_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, patched, call, state
) -> None:
    out = tmp_path / "data"
    before = build(synthetic_tarball, out).manifest
    module, name = patched.split(".")
    original = getattr({"os": os, "shutil": shutil}[module], name)
    calls = 0

    def interrupt(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == call and module == "shutil":
            raise KeyboardInterrupt
        result = original(*args, **kwargs)
        if calls == call:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(f"data_prep.build.{patched}", interrupt)
    arguments = ["--source", str(synthetic_tarball), "--out", str(out), "--no-verify", "--quiet"]
    assert main([*arguments, "--classes", "bicycle", "tractor"]) == 130
    assert capsys.readouterr().err == f"data_prep: interrupted; {out} {state}\n"
    monkeypatch.undo()
    after = Manifest.load(out)
    assert after.content_hash == content_hash(out)
    assert after.classes == (before.classes if "left" in state else ("bicycle", "tractor"))
    # At most a part of the previous copy is left, named by this process: the next run, once it ended, removes it.
    leftovers = [path.name for path in tmp_path.iterdir() if path.name != "data"]
    assert all(name.startswith(f".data.replaced-{os.getpid()}-") for name in leftovers)
    assert len(leftovers) == (module == "shutil")
