"""Fetch the tarball into a cache: resumable, retried, verified before it is ever taken as complete."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from data_prep import __version__
from data_prep.errors import ChecksumMismatch, DownloadError

_CHUNK = 1024 * 1024
_CONTENT_RANGE_START = re.compile(r"bytes (\d+)-")
# Client errors that a retry cannot fix; 408 and 429 are left to the retry loop.
_PERMANENT_STATUSES = set(range(400, 500)) - {408, 416, 429}


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _append_response(url: str, part: Path, *, timeout: float, progress: bool) -> None:
    """Append the rest of `url` to `part`, resuming from its current size; raise on any short transfer."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"scones-vision-data_prep/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Nothing left past `offset`: the part is complete (or wrong, which the md5 check decides).
            return
        raise
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE_START.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise DownloadError(f"{url}: the server answered the resume request with a different range")
        else:
            # The server ignored the Range header and sends the whole file: start again.
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with (
            part.open("r+b" if offset else "wb") as file,
            tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"downloading {part.name.removesuffix('.part')}", disable=None if progress else True,
            ) as bar,
        ):  # fmt: skip
            file.seek(offset)
            file.truncate()
            while chunk := response.read(_CHUNK):
                file.write(chunk)
                bar.update(len(chunk))
            received = file.tell()
    if total is not None and received < total:
        raise http.client.IncompleteRead(b"", total - received)


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
    """The cached copy of `url`, downloading it first if needed.

    Bytes go to `<cache_dir>/<name>.part`; a broken transfer is resumed with an HTTP Range request, up to
    `attempts` times with doubling delays. Only a file whose md5 matches `expected_md5` (when given) is
    renamed to `<cache_dir>/<name>`, so a cached file is always a complete one.
    """
    name = Path(unquote(urlsplit(url).path)).name
    if not name:
        raise DownloadError(f"{url}: the URL does not end in a file name")
    target = Path(cache_dir) / name
    if target.is_file():
        return target
    part = target.with_name(name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the cache folder {target.parent}: {error.strerror}") from None
    for attempt in range(1, attempts + 1):
        try:
            _append_response(url, part, timeout=timeout, progress=progress)
            break
        except urllib.error.HTTPError as error:
            if error.code in _PERMANENT_STATUSES or attempt == attempts:
                raise DownloadError(f"downloading {url} failed: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
            if attempt == attempts:
                raise DownloadError(
                    f"downloading {url} failed after {attempts} attempts: {error!r}"
                ) from None
        except OSError as error:
            raise DownloadError(f"cannot write {part}: {error.strerror or error}") from None
        time.sleep(retry_delay * 2 ** (attempt - 1))
    actual = file_md5(part)
    if expected_md5 is not None and actual != expected_md5:
        # A resumed download with bad bytes would fail forever; the next run starts from scratch.
        part.unlink()
        raise ChecksumMismatch(f"the download of {url}", expected_md5, actual)
    os.replace(part, target)
    return target
