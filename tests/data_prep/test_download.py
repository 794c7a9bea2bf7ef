"""The download path (pooch), against a local HTTP server on 127.0.0.1 that serves the synthetic tarball."""

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
    assert tarball_server.gets == 1


def test_a_cached_file_with_another_md5_is_downloaded_again(
    tarball_server: TarballServer, tmp_path: Path
) -> None:
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(tarball_server.payload[:1000])
    assert fetch(tarball_server, tmp_path).read_bytes() == tarball_server.payload
    assert tarball_server.gets == 1


@pytest.mark.parametrize(
    ("broken", "statuses", "gets"), [(1, [], 2), (0, [503, 500], 3)], ids=["broken-half-way", "server-errors"]
)
def test_transient_failures_are_retried(
    tarball_server: TarballServer, tmp_path: Path, broken, statuses, gets
):
    tarball_server.connections_to_break, tarball_server.error_statuses = broken, statuses
    path = fetch(tarball_server, tmp_path)
    assert path.read_bytes() == tarball_server.payload
    assert tarball_server.gets == gets
    assert [child.name for child in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    ("broken", "statuses", "message", "gets"),
    [
        (3, [], "failed after 3 attempts", 3),
        (0, [503, 503, 503], "HTTP 503 Service Unavailable", 3),
        (0, [404], "HTTP 404", 1),  # a missing file is not retried
    ],
)
def test_a_failure_that_lasts_is_reported_and_nothing_is_kept(
    tarball_server: TarballServer, tmp_path: Path, broken, statuses, message, gets
) -> None:
    tarball_server.connections_to_break, tarball_server.error_statuses = broken, statuses
    with pytest.raises(DownloadError, match=message):
        fetch(tarball_server, tmp_path, attempts=3)
    assert tarball_server.gets == gets
    assert list(tmp_path.iterdir()) == []


def test_wrong_checksum_is_refused_and_nothing_is_kept(tarball_server: TarballServer, tmp_path: Path) -> None:
    wrong = "0" * 32
    with pytest.raises(ChecksumMismatch) as raised:
        fetch(tarball_server, tmp_path, expected_md5=wrong)
    assert wrong in str(raised.value) and file_md5_of(tarball_server) in str(raised.value)
    assert list(tmp_path.iterdir()) == []
    assert tarball_server.gets == 1  # the same server would send the same bytes again


def test_without_expected_checksum_any_file_is_kept(tarball_server: TarballServer, tmp_path: Path) -> None:
    path = fetch(tarball_server, tmp_path, expected_md5=None)
    assert file_md5(path) == file_md5_of(tarball_server)


def test_a_url_without_a_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="does not end in a file name"):
        download("http://127.0.0.1:9/", tmp_path, expected_md5=None, progress=False)
