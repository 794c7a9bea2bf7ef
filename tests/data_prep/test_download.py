"""The download path, against a local HTTP server on 127.0.0.1 that serves the synthetic tarball."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from data_prep.download import download, file_md5
from data_prep.errors import ChecksumMismatch, DownloadError
from tests.data_prep.conftest import TarballServer


def fetch(server: TarballServer, cache: Path, **options) -> Path:
    expected = options.pop("expected_md5", file_md5_of(server))
    return download(server.url, cache, expected_md5=expected, progress=False, retry_delay=0, **options)


def file_md5_of(server: TarballServer) -> str:
    return hashlib.md5(server.payload).hexdigest()


def test_downloads_into_the_cache(tarball_server: TarballServer, tmp_path: Path) -> None:
    path = fetch(tarball_server, tmp_path / "cache")
    assert path == tmp_path / "cache" / "cifar-100-python.tar.gz"
    assert path.read_bytes() == tarball_server.payload
    assert [child.name for child in path.parent.iterdir()] == [path.name]


def test_a_cached_file_is_not_downloaded_again(tarball_server: TarballServer, tmp_path: Path) -> None:
    fetch(tarball_server, tmp_path)
    fetch(tarball_server, tmp_path)
    assert tarball_server.range_requests == [None]


def test_resumes_a_connection_broken_half_way(tarball_server: TarballServer, tmp_path: Path) -> None:
    tarball_server.connections_to_break = 1
    path = fetch(tarball_server, tmp_path)
    assert path.read_bytes() == tarball_server.payload
    half = len(tarball_server.payload) // 2
    assert tarball_server.range_requests == [None, f"bytes={half}-"]


def test_resumes_a_partial_file_left_by_an_earlier_run(tarball_server: TarballServer, tmp_path: Path) -> None:
    (tmp_path / "cifar-100-python.tar.gz.part").write_bytes(tarball_server.payload[:1000])
    assert fetch(tarball_server, tmp_path).read_bytes() == tarball_server.payload
    assert tarball_server.range_requests == ["bytes=1000-"]


def test_a_complete_partial_file_is_verified_and_kept(tarball_server: TarballServer, tmp_path: Path) -> None:
    (tmp_path / "cifar-100-python.tar.gz.part").write_bytes(tarball_server.payload)
    assert fetch(tarball_server, tmp_path).read_bytes() == tarball_server.payload


def test_starts_again_when_the_server_ignores_ranges(tarball_server: TarballServer, tmp_path: Path) -> None:
    tarball_server.honour_range = False
    tarball_server.connections_to_break = 1
    assert fetch(tarball_server, tmp_path).read_bytes() == tarball_server.payload


def test_gives_up_after_the_last_attempt(tarball_server: TarballServer, tmp_path: Path) -> None:
    tarball_server.connections_to_break = 3
    with pytest.raises(DownloadError, match="failed after 3 attempts"):
        fetch(tarball_server, tmp_path, attempts=3)
    assert not (tmp_path / "cifar-100-python.tar.gz").exists()


def test_wrong_checksum_is_refused_and_nothing_is_kept(tarball_server: TarballServer, tmp_path: Path) -> None:
    wrong = "0" * 32
    with pytest.raises(ChecksumMismatch) as raised:
        fetch(tarball_server, tmp_path, expected_md5=wrong)
    assert wrong in str(raised.value) and file_md5_of(tarball_server) in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_not_retried(tarball_server: TarballServer, tmp_path: Path) -> None:
    tarball_server.status = 404
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(tarball_server, tmp_path)
    assert len(tarball_server.range_requests) == 1


def test_without_expected_checksum_any_file_is_kept(tarball_server: TarballServer, tmp_path: Path) -> None:
    path = fetch(tarball_server, tmp_path, expected_md5=None)
    assert file_md5(path) == file_md5_of(tarball_server)
