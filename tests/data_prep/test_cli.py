from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from data_prep.cli import main
from data_prep.manifest import Manifest
from tests.data_prep.conftest import TarballServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_help_runs_as_a_module() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "data_prep", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--source", "--out", "--classes", "--cache-dir", "--no-verify", "--quiet"):
        assert option in completed.stdout


def test_builds_then_reports_a_noop(synthetic_tarball: Path, tmp_path: Path, capsys) -> None:
    arguments = [
        "--source",
        str(synthetic_tarball),
        "--out",
        str(tmp_path / "data"),
        "--no-verify",
        "--quiet",
    ]
    assert main(arguments) == 0
    first = capsys.readouterr()
    assert first.out.startswith(f"data_prep: wrote {tmp_path / 'data'} (train bicycle 3, motorcycle 3;")
    assert first.err == ""
    assert main(arguments) == 0
    assert "already up to date" in capsys.readouterr().out
    assert Manifest.load(tmp_path / "data").classes == ("bicycle", "motorcycle")


def test_classes_option_sets_the_index_order(synthetic_tarball: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    arguments = ["--source", str(synthetic_tarball), "--out", str(out), "--no-verify", "--quiet"]
    assert main([*arguments, "--classes", "tractor", "bicycle", "pickup_truck"]) == 0
    assert Manifest.load(out).classes == ("tractor", "bicycle", "pickup_truck")


def test_unknown_class_is_an_error_with_suggestions(synthetic_tarball: Path, tmp_path: Path, capsys) -> None:
    arguments = [
        "--source",
        str(synthetic_tarball),
        "--out",
        str(tmp_path / "data"),
        "--no-verify",
        "--quiet",
    ]
    assert main([*arguments, "--classes", "bicycle", "motorcycles"]) == 2
    assert capsys.readouterr().err == "error: unknown class 'motorcycles': did you mean motorcycle?\n"


def test_downloads_a_url_into_the_cache(tarball_server: TarballServer, tmp_path: Path) -> None:
    arguments = ["--source", tarball_server.url, "--cache-dir", str(tmp_path / "cache")]
    assert main([*arguments, "--out", str(tmp_path / "data"), "--no-verify", "--quiet"]) == 0
    assert (tmp_path / "cache" / "cifar-100-python.tar.gz").read_bytes() == tarball_server.payload
    assert Manifest.load(tmp_path / "data").synthetic


def test_verifies_a_downloaded_file_by_default(tarball_server: TarballServer, tmp_path: Path, capsys) -> None:
    arguments = ["--source", tarball_server.url, "--cache-dir", str(tmp_path / "cache")]
    assert main([*arguments, "--out", str(tmp_path / "data"), "--quiet"]) == 2
    assert "expected eb9058c3a382ffc7106e4002c42a8d85" in capsys.readouterr().err
    assert list((tmp_path / "cache").iterdir()) == []
    assert not (tmp_path / "data").exists()


def test_a_dataset_of_the_official_file_is_reused_without_a_download(
    tarball_server: TarballServer, tmp_path: Path, monkeypatch, capsys
) -> None:
    # The synthetic tarball plays the official file: data_prep then verifies it like the real one.
    md5 = hashlib.md5(tarball_server.payload).hexdigest()
    monkeypatch.setattr("data_prep.cli.MD5", md5)
    monkeypatch.setattr("data_prep.build.MD5", md5)
    cache = tmp_path / "cache"
    arguments = [
        "--source",
        tarball_server.url,
        "--cache-dir",
        str(cache),
        "--out",
        str(tmp_path / "data"),
        "--quiet",
    ]
    assert main(arguments) == 0 and tarball_server.gets == 1
    shutil.rmtree(cache)
    assert main(arguments) == 0 and tarball_server.gets == 1
    assert "already up to date" in capsys.readouterr().out
    assert main([*arguments, "--classes", "bicycle", "tractor"]) == 0 and tarball_server.gets == 2


def test_a_bad_class_request_fails_before_any_download(
    tarball_server: TarballServer, tmp_path: Path, capsys
) -> None:
    arguments = [
        "--source",
        tarball_server.url,
        "--cache-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "data"),
    ]
    assert main([*arguments, "--quiet", "--classes", "bicycle", "bicycle"]) == 2
    assert capsys.readouterr().err == "error: each class may be given once; repeated: bicycle\n"
    assert tarball_server.gets == 0
