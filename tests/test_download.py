"""The resumable downloader (ppcls_hrnet.base.download) against a local HTTP server."""
import hashlib
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from ppcls_hrnet.base import download as download_module
from ppcls_hrnet.base.download import DownloadError, download


class FileServer:
    """A tiny HTTP server on 127.0.0.1 that can honour Range, stall or cut responses."""

    def __init__(self):
        self.files = {}  # URL path -> bytes
        self.requests = []  # (path, Range header)
        self.honour_range = True
        self.cut_next_after = None  # bytes to send before dropping the next response
        self.stall_s = 0.0
        self.httpd = HTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def _handler(site):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append((self.path, self.headers.get("Range")))
                time.sleep(site.stall_s)
                body = site.files.get(self.path)
                if body is None:
                    return self.send_error(404)
                start = site._range_start(self.headers.get("Range"))
                if start and start >= len(body):
                    return self.send_error(416)
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(site._payload(body[start:]))

            def log_message(self, *args):
                pass

        return Handler

    def _range_start(self, header):
        if not (self.honour_range and header and header.startswith("bytes=")):
            return 0
        return int(header[len("bytes="):].split("-")[0])

    def _payload(self, data):
        cut, self.cut_next_after = self.cut_next_after, None
        return data if cut is None else data[:cut]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    with FileServer() as s:
        yield s


@pytest.fixture
def blob():
    return np.random.default_rng(1).bytes(300_000)


def sha256(data):
    return hashlib.sha256(data).hexdigest()



def test_a_url_is_downloaded_once(server, blob, tmp_path):
    server.files["/w/a.pdparams"] = blob
    first = download(server.url("/w/a.pdparams"), str(tmp_path / "cache"), progress=False)
    second = download(server.url("/w/a.pdparams"), str(tmp_path / "cache"), progress=False)
    assert first == second == str(tmp_path / "cache" / "a.pdparams")
    assert open(first, "rb").read() == blob
    assert len(server.requests) == 1


def test_a_url_without_a_file_name_gets_a_stable_name(server, blob, tmp_path):
    server.files["/"] = blob
    path = download(server.url("/"), str(tmp_path), progress=False, unnamed_suffix=".bin")
    assert path.endswith(".bin") and len(os.path.basename(path)) == 16 + len(".bin")
    assert download(server.url("/"), str(tmp_path), progress=False, unnamed_suffix=".bin") == path


@pytest.mark.parametrize("where", ["argument", "fragment"])
def test_a_matching_checksum_is_accepted(server, blob, tmp_path, where):
    server.files["/a.pdparams"] = blob
    url, kwargs = server.url("/a.pdparams"), {}
    if where == "fragment":
        url += f"#sha256={sha256(blob)}"
    else:
        kwargs["sha256"] = sha256(blob).upper()
    path = download(url, str(tmp_path), progress=False, **kwargs)
    assert open(path, "rb").read() == blob


def test_bad_checksum_arguments_are_refused_before_downloading(server, blob, tmp_path):
    server.files["/a.pdparams"] = blob
    with pytest.raises(DownloadError, match="malformed sha256 checksum 'abc'") as info:
        download(server.url("/a.pdparams"), str(tmp_path), sha256="abc", progress=False)
    assert not info.value.fetch_failed
    with pytest.raises(DownloadError, match="two different sha256 checksums"):
        download(server.url("/a.pdparams") + "#sha256=" + "1" * 64, str(tmp_path), sha256="2" * 64,
                 progress=False)
    assert server.requests == []


def test_a_checksum_mismatch_leaves_nothing_behind(server, blob, tmp_path):
    server.files["/a.pdparams"] = blob
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=f"expected {wrong}, got {sha256(blob)}.*run again to retry.$") as info:
        download(server.url("/a.pdparams"), str(tmp_path), sha256=wrong, progress=False)
    assert info.value.fetch_failed
    assert os.listdir(tmp_path) == []


def test_a_cached_file_with_the_wrong_checksum_is_downloaded_again(server, blob, tmp_path):
    server.files["/a.pdparams"] = blob
    (tmp_path / "a.pdparams").write_bytes(b"stale")
    path = download(server.url("/a.pdparams"), str(tmp_path), sha256=sha256(blob), progress=False)
    assert open(path, "rb").read() == blob


def test_http_404_names_url_and_status(server, tmp_path):
    url = server.url("/nope.pdparams")
    with pytest.raises(DownloadError, match=f"could not download {url}: HTTP 404 Not Found.$") as info:
        download(url, str(tmp_path), progress=False)
    assert info.value.fetch_failed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/a.pdparams"
    with pytest.raises(DownloadError, match=f"{url}: connection refused"):
        download(url, str(tmp_path), progress=False)


def test_a_stalled_server_times_out(server, blob, tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "TIMEOUT_S", 0.2)
    server.files["/a.pdparams"] = blob
    server.stall_s = 0.6
    with pytest.raises(DownloadError, match="timed out"):
        download(server.url("/a.pdparams"), str(tmp_path), progress=False)


def test_an_interrupted_download_resumes_on_retry(server, blob, tmp_path):
    server.files["/a.pdparams"] = blob
    server.cut_next_after = 100_000
    url = server.url("/a.pdparams")
    with pytest.raises(DownloadError, match="interrupted.*after 100000 of 300000 bytes") as info:
        download(url, str(tmp_path), progress=False)
    assert info.value.fetch_failed
    assert os.listdir(tmp_path) == ["a.pdparams.part"]
    path = download(url, str(tmp_path), sha256=sha256(blob), progress=False)
    assert open(path, "rb").read() == blob
    assert server.requests[-1] == ("/a.pdparams", "bytes=100000-")
    assert os.listdir(tmp_path) == ["a.pdparams"]


@pytest.mark.parametrize("leftover, honour_range", [
    ("garbage", False),  # server answers 200 to a Range request: start over
    ("too long", True),  # server answers 416: the leftover is no prefix, start over
])
def test_a_leftover_part_that_cannot_be_resumed_is_restarted(server, blob, tmp_path, leftover, honour_range):
    server.files["/a.pdparams"] = blob
    server.honour_range = honour_range
    part = b"x" * 1000 if leftover == "garbage" else blob + b"extra"
    (tmp_path / "a.pdparams.part").write_bytes(part)
    path = download(server.url("/a.pdparams"), str(tmp_path), progress=False)
    assert open(path, "rb").read() == blob
