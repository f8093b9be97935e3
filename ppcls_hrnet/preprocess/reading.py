"""An image's bytes from a file or a URL, bounded in size and time.

Only regular files are read (after following symbolic links): a FIFO would
block a reader for ever, ``/dev/zero`` never ends, and a directory or a
socket is no image, so each is refused by what ``stat`` says, before it is
opened. A file larger than the size limit is refused from its size, and no
read takes more than the limit + 1 bytes even when the size lies. A URL
gets a total deadline as well as the size cap: a server that sends one byte
every few seconds would otherwise hold a prediction for as long as it
likes. The C++ predictor (``cpp_infer/src/image_list.cc``) applies the same
rules with the same messages.
"""
from __future__ import annotations

import errno
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import ConfigError
from .errors import ImageError

MAX_IMAGE_BYTES_ENV = "PPCLS_HRNET_MAX_IMAGE_BYTES"
DEFAULT_MAX_IMAGE_BYTES = 64 << 20  # an image, not a video or a disk image: a 100 MP JPEG is ~40 MB
URL_DEADLINE_ENV = "PPCLS_HRNET_URL_DEADLINE"
DEFAULT_URL_DEADLINE = 60  # seconds for the whole download: connect, headers and body
URL_READ_TIMEOUT = 20.0  # seconds any single network read may wait
CHUNK_BYTES = 1 << 20

class UnreadableFileError(ImageError):
    """A file that is not read: "cannot read PATH: reason" (``reason`` alone for callers that
    name the file themselves)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot read {path}: {reason}")
        self.path, self.reason = path, reason


# stat's file types other than a regular file, as the messages name them
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https")


def _positive_setting(name: str, default, kind, unit: str):
    """``$name`` as a positive ``kind`` (int or float), ``default`` when unset; ConfigError otherwise."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise ConfigError(f"{name}={text!r} is not a positive number of {unit} (e.g. {default}); "
                          "unset it for the default")
    return value


def max_image_bytes() -> int:
    """Bytes an encoded image may have: ``$PPCLS_HRNET_MAX_IMAGE_BYTES`` or 64 MiB."""
    return _positive_setting(MAX_IMAGE_BYTES_ENV, DEFAULT_MAX_IMAGE_BYTES, int, "bytes")


def url_deadline() -> float:
    """Seconds a whole URL download may take: ``$PPCLS_HRNET_URL_DEADLINE`` or 60."""
    return _positive_setting(URL_DEADLINE_ENV, DEFAULT_URL_DEADLINE, float, "seconds")


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a message: "a FIFO (named pipe)", "a directory", ..."""
    return next((kind for is_kind, kind in _KINDS if is_kind(mode)), "not a regular file")


def not_regular_reason(path: str):
    """Why ``path`` is not a regular file one may read (None when it is one), from ``stat``
    alone: the file is not opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return _os_reason(err)
    return None if stat.S_ISREG(mode) else f"{file_kind(mode)}, not a regular file"


def read_image_file(path: str, limit: int = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (default :func:`max_image_bytes`);
    UnreadableFileError "cannot read PATH: reason" otherwise."""
    limit = max_image_bytes() if limit is None else limit
    reason = not_regular_reason(path)
    if reason is not None:
        raise _cannot_read(path, reason)
    try:
        # O_NONBLOCK: if a FIFO was put in the file's place since the stat above, opening it
        # must not wait for a writer (fstat below refuses it)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise _cannot_read(path, _os_reason(err)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _cannot_read(path, f"{file_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise _cannot_read(path, over_limit(f"{info.st_size} bytes", limit))
        return _read_at_most(fd, limit, path)
    finally:
        os.close(fd)


def _read_at_most(fd: int, limit: int, path: str) -> bytes:
    chunks, total = [], 0
    while True:
        try:
            chunk = os.read(fd, min(CHUNK_BYTES, limit + 1 - total))
        except OSError as err:
            raise _cannot_read(path, _os_reason(err)) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:  # the file grew, or its size lied
            raise _cannot_read(path, over_limit(f"more than {limit} bytes", limit))


def over_limit(size: str, limit: int) -> str:
    """Why an image of ``size`` ("N bytes", "more than N bytes") is refused: the message every reader gives."""
    return f"{size}, over the limit of {limit} bytes for an image ({MAX_IMAGE_BYTES_ENV})"


def _os_reason(err: OSError) -> str:
    return err.strerror or os.strerror(err.errno or errno.EIO)


def _cannot_read(path: str, reason: str) -> UnreadableFileError:
    return UnreadableFileError(path, reason)


def fetch_url(url: str, limit: int = None, deadline: float = None) -> bytes:
    """The body of an http(s) URL, at most ``limit`` bytes, within ``deadline`` seconds in all;
    ImageError "cannot download URL: reason" otherwise."""
    limit = max_image_bytes() if limit is None else limit
    deadline = url_deadline() if deadline is None else deadline
    give_up = time.monotonic() + deadline
    try:
        with urllib.request.urlopen(url, timeout=min(URL_READ_TIMEOUT, deadline)) as response:
            chunks, total = [], 0
            while True:
                if time.monotonic() > give_up:
                    raise ImageError(f"cannot download {url}: not complete after {deadline:g} s "
                                     f"({total} bytes so far; {URL_DEADLINE_ENV} sets the deadline)")
                chunk = response.read1(min(CHUNK_BYTES, limit + 1 - total))
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise ImageError(f"cannot download {url}: {over_limit(f'more than {limit} bytes', limit)}")
    except urllib.error.HTTPError as err:
        raise ImageError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ImageError(f"cannot download {url}: {reason} (check the address and the network)") from None
