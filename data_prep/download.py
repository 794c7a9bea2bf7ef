"""Fetch the tarball into a cache with pooch (https://www.fatiando.org/pooch/latest/api/generated/pooch.retrieve.html):
a cached file always passed its md5 check; only transient failures (connection, timeouts, 408, 429, 5xx) are retried."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from data_prep.errors import ChecksumMismatch, DownloadError

_CHUNK = 1024 * 1024
_TRANSIENT_STATUSES = {408, 429} | set(range(500, 600))
# pooch's hash-mismatch ValueError message: "... expected md5:<hex> but got <hex>. ..."
_ACTUAL_HASH = re.compile(r"but got ([0-9a-fA-F]+)")


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def file_md5(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def download(
    url: str,
    cache_dir: Path,
    *,
    expected_md5: str | None,
    progress: bool = True,
    attempts: int = 5,
    retry_delay: float = 1.0,
    timeout: float = 60.0,
) -> Path:
    # Imported here: pooch and requests double data_prep's start-up time, and a local tarball needs neither.
    import pooch
    import requests

    name = Path(unquote(urlsplit(url).path)).name
    if not name:
        raise DownloadError(f"{url}: the URL does not end in a file name")
    pooch.get_logger().setLevel("INFO" if progress else "WARNING")
    known_hash = f"md5:{expected_md5}" if expected_md5 else None
    downloader = pooch.HTTPDownloader(progressbar=progress, chunk_size=_CHUNK, timeout=timeout)
    attempt = 0
    while True:
        attempt += 1
        try:
            return Path(pooch.retrieve(url, known_hash, fname=name, path=cache_dir, downloader=downloader))
        except requests.HTTPError as error:
            status, reason = error.response.status_code, error.response.reason
            if status not in _TRANSIENT_STATUSES or attempt == attempts:
                raise DownloadError(f"downloading {url} failed: HTTP {status} {reason}") from None
        except requests.RequestException as error:
            if attempt == attempts:
                raise DownloadError(f"downloading {url} failed after {attempts} attempts: {error}") from None
        except ValueError as error:
            actual = _ACTUAL_HASH.search(str(error))
            raise ChecksumMismatch(
                f"the download of {url}", expected_md5, actual.group(1) if actual else f"unknown ({error})"
            ) from None
        except OSError as error:
            raise DownloadError(
                f"cannot write into the cache {cache_dir}: {error.strerror or error}"
            ) from None
        time.sleep(retry_delay * 2 ** (attempt - 1))
