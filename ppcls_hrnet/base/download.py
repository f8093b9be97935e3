"""Download a file over http(s) into a cache directory, once, safely.

Data goes to ``<name>.part`` and gets its final name only when complete and
verified (an optional sha256), so a file under its final name is always
whole; a leftover ``.part`` is resumed with an HTTP Range request. Knows
nothing of what the file is: callers word their own advice on top of
:class:`DownloadError`.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, Tuple

from ..errors import HRNetError

logger = logging.getLogger("ppcls_hrnet")

TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20
PART_SUFFIX = ".part"


class DownloadError(HRNetError):
    """A download that failed; the message names the URL and what went wrong.

    ``fetch_failed`` is True when the server could not be reached, answered
    with an error, cut the transfer short or sent data that fails its
    checksum: getting the file another way would help, and a caller may say
    how. It is False for bad arguments and local problems.
    """

    def __init__(self, message: str, fetch_failed: bool = False):
        super().__init__(message)
        self.fetch_failed = fetch_failed


def download(url: str, cache_dir: str, sha256: Optional[str] = None, progress: bool = True,
             unnamed_suffix: str = "") -> str:
    """Download ``url`` into ``cache_dir`` (once) and return the local path.

    The checksum comes from ``sha256`` or a ``#sha256=<hex>`` URL fragment. A
    URL whose path has no file name is cached under a hash of the URL plus
    ``unnamed_suffix``. Raises DownloadError.
    """
    url, expected = _split_checksum(url, sha256)
    dest = os.path.join(_make_cache_dir(cache_dir), _file_name(url, unnamed_suffix))
    if _usable_cached_file(dest, expected):
        logger.info("using cached %s", dest)
        return dest
    part = dest + PART_SUFFIX
    logger.info("downloading %s to %s", url, dest)
    _fetch(url, part, progress)
    _verify_checksum(part, expected, url)
    os.replace(part, dest)
    return dest


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_checksum(url: str, sha256: Optional[str]) -> Tuple[str, Optional[str]]:
    bare_url, fragment = urllib.parse.urldefrag(url)
    from_url = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
    given = [c.lower() for c in (sha256, from_url) if c]
    for checksum in given:
        if not re.fullmatch(r"[0-9a-f]{64}", checksum):
            raise DownloadError(f"malformed sha256 checksum {checksum!r} for {bare_url}: expected 64 hex digits.")
    if len(set(given)) > 1:
        raise DownloadError(
            f"two different sha256 checksums for {bare_url}: sha256={given[0]} and "
            f"#sha256={given[1]} in the URL. Pass only one."
        )
    return bare_url, (given[0] if given else None)


def _file_name(url: str, unnamed_suffix: str) -> str:
    name = os.path.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    # URLs without a file name still need a stable, distinct cache entry
    return name or hashlib.sha256(url.encode()).hexdigest()[:16] + unnamed_suffix


def _make_cache_dir(cache_dir: str) -> str:
    path = os.path.expanduser(cache_dir)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the download cache {path!r} ({e.strerror}). "
                            f"Pass a writable cache directory.") from e
    return path


def _usable_cached_file(path: str, expected: Optional[str]) -> bool:
    # Only complete downloads are ever renamed to the final name, so without a
    # checksum an existing file is trusted.
    if not os.path.isfile(path):
        return False
    if expected is None or _sha256_of(path) == expected:
        return True
    logger.warning("cached %s does not match its sha256; downloading it again", path)
    os.remove(path)
    return False


def _verify_checksum(path: str, expected: Optional[str], url: str) -> None:
    if expected is None:
        return
    got = _sha256_of(path)
    if got != expected:
        os.remove(path)
        raise DownloadError(
            f"sha256 mismatch for {url}: expected {expected}, got {got}. The download "
            f"is corrupt or the file changed upstream; the partial file was deleted, "
            f"run again to retry.",
            fetch_failed=True,
        )


def _fetch(url: str, part: str, progress: bool) -> None:
    """Bring ``part`` up to the full content of ``url``, resuming if possible."""
    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    try:
        response = _open(url, offset)
    except _RangeNotSatisfiable:
        # The leftover .part is no prefix of the current file: start over.
        os.remove(part)
        offset = 0
        response = _open(url, offset)
    with response:
        if offset and not _is_resumed(response, offset, url):
            offset = 0  # the server ignored Range and sent the whole file
        total = _expected_size(response, offset)
        _stream(response, part, offset, total, progress, url)
    _check_size(part, total, url)


class _RangeNotSatisfiable(Exception):
    pass


def _open(url: str, offset: int):
    headers = {"User-Agent": "ppcls_hrnet"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:
            raise _RangeNotSatisfiable() from e
        raise _cannot_download(url, f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _cannot_download(url, _describe(e.reason)) from e
    except (OSError, http.client.HTTPException) as e:
        raise _cannot_download(url, _describe(e)) from e


def _cannot_download(url: str, why: str) -> DownloadError:
    return DownloadError(f"could not download {url}: {why}.", fetch_failed=True)


def _describe(reason) -> str:
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror or reason})"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {TIMEOUT_S:g} s (timed out)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server up and the port right?)"
    return str(reason) or type(reason).__name__


def _is_resumed(response, offset: int, url: str) -> bool:
    if response.status != 206:
        return False
    content_range = response.headers.get("Content-Range", "")
    match = re.match(r"bytes (\d+)-", content_range)
    if match and int(match.group(1)) != offset:
        # The fix is local (the .part file), so this is no fetch failure.
        raise DownloadError(
            f"could not resume {url}: asked for bytes from {offset}, the server sent "
            f"{content_range!r}. Delete the .part file and run again."
        )
    return True


def _expected_size(response, offset: int) -> Optional[int]:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _stream(response, part: str, offset: int, total: Optional[int], progress: bool, url: str) -> None:
    # Imported here: tqdm is only needed while a download runs.
    from tqdm import tqdm

    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
               desc=os.path.basename(part)[:-len(PART_SUFFIX)], disable=not progress)
    with bar, open(part, "ab" if offset else "wb") as out:
        try:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                out.write(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            raise _interrupted(url, part, total, _describe(e)) from e


def _check_size(part: str, total: Optional[int], url: str) -> None:
    # Compare the file, not the bytes this call wrote: that also catches a
    # .part another process appended to.
    if total is not None and os.path.getsize(part) != total:
        raise _interrupted(url, part, total, "the connection closed early")


def _interrupted(url: str, part: str, total: Optional[int], why: str) -> DownloadError:
    have = os.path.getsize(part)
    of_total = f" of {total}" if total is not None else ""
    return DownloadError(
        f"download of {url} was interrupted ({why}) after {have}{of_total} bytes. "
        f"Run again to resume from {part}.",
        fetch_failed=True,
    )
