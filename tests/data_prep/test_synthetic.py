from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from data_prep.cifar import COARSE_CLASSES, COARSE_LABEL_NAMES, FINE_LABEL_NAMES
from data_prep.synthetic import main, write_synthetic_tarball
from tests.data_prep.conftest import TEST_PER_CLASS, TRAIN_PER_CLASS
from tests.data_prep.helpers import read_members


def test_fine_label_names_are_the_published_ones() -> None:
    # 100 distinct names, five in each of 20 superclasses, at the indices CIFAR-100 publishes.
    assert len(set(FINE_LABEL_NAMES)) == 100 and len(COARSE_LABEL_NAMES) == 20
    assert {len(fines) for fines in COARSE_CLASSES.values()} == {5}
    names = ("apple", "bicycle", "motorcycle", "pickup_truck", "tractor", "worm")
    assert [FINE_LABEL_NAMES.index(name) for name in names] == [0, 8, 48, 58, 89, 99]


def test_members_and_order_follow_the_real_tarball(synthetic_tarball: Path) -> None:
    with tarfile.open(synthetic_tarball, "r:gz") as tar:
        assert tar.getnames() == [
            "cifar-100-python",
            "cifar-100-python/train",
            "cifar-100-python/test",
            "cifar-100-python/meta",
        ]


def test_bytes_key_style_matches_the_official_pickles(synthetic_tarball: Path) -> None:
    members = read_members(synthetic_tarball)
    meta = members["cifar-100-python/meta"]
    assert meta[b"fine_label_names"] == [name.encode() for name in FINE_LABEL_NAMES]
    assert meta[b"coarse_label_names"] == [name.encode() for name in COARSE_LABEL_NAMES]
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        fields = members[f"cifar-100-python/{split}"]
        rows = 100 * per_class
        assert set(fields) == {b"filenames", b"batch_label", b"fine_labels", b"coarse_labels", b"data"}
        assert fields[b"data"].dtype == np.uint8 and fields[b"data"].shape == (rows, 3072)
        assert sorted(fields[b"fine_labels"]) == sorted(list(range(100)) * per_class)
        assert len(fields[b"filenames"]) == rows and len(set(fields[b"filenames"])) == rows
        assert b"bicycle_s_000000.png" in fields[b"filenames"] or split == "test"
        assert fields[b"batch_label"].startswith(b"synthetic ")
        for fine, coarse, filename in zip(
            fields[b"fine_labels"], fields[b"coarse_labels"], fields[b"filenames"], strict=True
        ):
            fine_name = FINE_LABEL_NAMES[fine]
            assert fine_name in COARSE_CLASSES[COARSE_LABEL_NAMES[coarse]]
            assert filename.decode().startswith(f"{fine_name}_s_") and filename.endswith(b".png")


def test_str_key_style_has_str_keys_and_the_same_images(
    synthetic_tarball: Path, synthetic_tarball_str_keys: Path
) -> None:
    as_bytes = read_members(synthetic_tarball)["cifar-100-python/train"]
    as_str = read_members(synthetic_tarball_str_keys)["cifar-100-python/train"]
    assert set(as_str) == {"filenames", "batch_label", "fine_labels", "coarse_labels", "data"}
    assert np.array_equal(as_str["data"], as_bytes[b"data"])
    assert as_str["filenames"] == [name.decode() for name in as_bytes[b"filenames"]]


def test_same_arguments_give_the_same_bytes(tmp_path: Path, synthetic_tarball: Path) -> None:
    again = write_synthetic_tarball(
        tmp_path / "again.tar.gz", train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS
    )
    assert again.read_bytes() == synthetic_tarball.read_bytes()
    assert list(tmp_path.iterdir()) == [again]


def test_classes_are_learnable(tmp_path: Path) -> None:
    """A nearest-centroid classifier must separate the classes the demo trains on."""
    tarball = write_synthetic_tarball(tmp_path / "t.tar.gz", train_per_class=20, test_per_class=10, seed=3)
    members = read_members(tarball)
    chosen = [FINE_LABEL_NAMES.index(name) for name in ("bicycle", "motorcycle", "pickup_truck", "tractor")]

    def features(split: str) -> tuple[np.ndarray, np.ndarray]:
        fields = members[f"cifar-100-python/{split}"]
        labels = np.asarray(fields[b"fine_labels"])
        keep = np.isin(labels, chosen)
        return fields[b"data"][keep].astype(np.float64), labels[keep]

    train_x, train_y = features("train")
    test_x, test_y = features("test")
    centroids = np.stack([train_x[train_y == label].mean(axis=0) for label in chosen])
    distances = ((test_x[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    predicted = np.asarray(chosen)[distances.argmin(axis=1)]
    assert (predicted == test_y).mean() >= 0.95


def test_rejects_an_unknown_key_style(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key_style"):
        write_synthetic_tarball(tmp_path / "t.tar.gz", train_per_class=1, test_per_class=1, key_style="ascii")
    assert list(tmp_path.iterdir()) == []


def test_command_line_writes_a_tarball(tmp_path: Path, synthetic_tarball_str_keys: Path, capsys) -> None:
    path = tmp_path / "cache" / "synthetic.tar.gz"
    main([str(path), "--train-per-class", str(TRAIN_PER_CLASS), "--test-per-class", str(TEST_PER_CLASS),
          "--key-style", "str"])  # fmt: skip
    assert path.read_bytes() == synthetic_tarball_str_keys.read_bytes()
    assert capsys.readouterr().out == f"data_prep.synthetic: wrote {path}\n"


def test_no_ambiguity_is_the_default_and_gives_the_same_bytes(
    tmp_path: Path, synthetic_tarball: Path
) -> None:
    # The default's bytes are pinned too: the model stack's snapshot holds the demo dataset's content hash.
    explicit = write_synthetic_tarball(
        tmp_path / "explicit.tar.gz",
        train_per_class=TRAIN_PER_CLASS,
        test_per_class=TEST_PER_CLASS,
        ambiguity=0.0,
    )
    assert explicit.read_bytes() == synthetic_tarball.read_bytes()


def test_ambiguity_changes_only_its_share_of_images_deterministically(
    tmp_path: Path, synthetic_tarball: Path
) -> None:
    ambiguity = 0.3
    tarballs = [
        write_synthetic_tarball(
            tmp_path / f"{attempt}.tar.gz",
            train_per_class=TRAIN_PER_CLASS,
            test_per_class=TEST_PER_CLASS,
            ambiguity=ambiguity,
        )
        for attempt in ("first", "second")
    ]
    assert tarballs[0].read_bytes() == tarballs[1].read_bytes()

    clear, ambiguous = read_members(synthetic_tarball), read_members(tarballs[0])
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        before, after = clear[f"cifar-100-python/{split}"], ambiguous[f"cifar-100-python/{split}"]
        for key in (b"filenames", b"fine_labels", b"coarse_labels", b"batch_label"):
            assert after[key] == before[key], key
        changed = (after[b"data"] != before[b"data"]).any(axis=1)
        rows = 100 * per_class
        # The share is drawn per image: allow four binomial standard deviations either side.
        tolerance = 4 * (ambiguity * (1 - ambiguity) / rows) ** 0.5
        assert abs(changed.mean() - ambiguity) <= tolerance, (split, changed.mean())


@pytest.mark.parametrize("ambiguity", [-0.1, 1.5, float("nan")])
def test_rejects_an_ambiguity_that_is_not_a_share(tmp_path: Path, ambiguity: float) -> None:
    with pytest.raises(ValueError, match="ambiguity must be a share between 0 and 1"):
        write_synthetic_tarball(
            tmp_path / "t.tar.gz", train_per_class=1, test_per_class=1, ambiguity=ambiguity
        )
    assert list(tmp_path.iterdir()) == []
