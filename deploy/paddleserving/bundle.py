"""Start, query and stop the Paddle Serving bundle (web_service.py) from another Python.

For tests and load benchmarks, which run on the project's Python (3.11) while
the bundle runs in its Python 3.8 venv (setup_venv.sh):

    import sys; sys.path.insert(0, "deploy/paddleserving")
    from bundle import PaddleServingBundle

    with PaddleServingBundle("output/inference", python=".venv-serving/bin/python") as bundle:
        reply = bundle.predict([open("daisy.jpg", "rb").read()])   # PaddleClas's request
        print(bundle.url, reply)

``python`` defaults to $PPCLS_HRNET_SERVING_PYTHON. The bundle gets free
loopback ports (or the ones given), a copy of config.yml rewritten with them in
its own working folder (its logs go there: PipelineServingLogs/, log.txt), and
this checkout on PYTHONPATH. Its gRPC port listens on 127.0.0.1 only. It runs in its own process group, which ``stop()``
ends (SIGTERM, then SIGKILL): the pipeline spawns op and gateway processes.
Its HTTP gateway (Paddle Serving's Go library) listens on all interfaces,
which cannot be changed; requests here go to 127.0.0.1 only.
Standard library + PyYAML only.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WEB_SERVICE = HERE / "web_service.py"
DEFAULT_CONFIG = HERE / "config.yml"
PYTHON_ENV = "PPCLS_HRNET_SERVING_PYTHON"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class BundleError(RuntimeError):
    pass


def free_port() -> int:
    """A TCP port nothing listens on now (the bundle binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url: str, body, timeout: float = 60.0):
    """(HTTP status, parsed JSON reply or None): POST without any proxy."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


def image_request(images, keys=None) -> dict:
    """PaddleClas's pipeline_http_client.py body: {"key": [...], "value": [base64 of each file's bytes]}."""
    images = [Path(i).read_bytes() if isinstance(i, (str, os.PathLike)) else bytes(i) for i in images]
    keys = list(keys) if keys is not None else (["image"] if len(images) == 1 else
                                                [f"image_{i}" for i in range(len(images))])
    return {"key": keys, "value": [base64.b64encode(data).decode("utf8") for data in images]}


def gray_png(width: int = 64, height: int = 64) -> bytes:
    """A valid grayscale PNG (the readiness probe), without cv2."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class PaddleServingBundle:
    def __init__(self, model_dir, python=None, http_port=None, rpc_port=None, work_dir=None,
                 config=DEFAULT_CONFIG, concurrency=None, thread_num=None):
        self.python = python or os.environ.get(PYTHON_ENV)
        if not self.python:
            raise BundleError(f"no Python for Paddle Serving: pass python= or set {PYTHON_ENV} "
                              "(a venv made by deploy/paddleserving/setup_venv.sh)")
        self.model_dir = Path(model_dir).resolve()
        self.http_port = http_port or free_port()
        self.rpc_port = rpc_port or free_port()
        while self.rpc_port == self.http_port:
            self.rpc_port = free_port()
        self.config = Path(config)
        self.concurrency, self.thread_num = concurrency, thread_num
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else None
        self.process = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/imagenet/prediction"

    def write_config(self) -> Path:
        conf = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        conf["http_port"], conf["rpc_port"] = self.http_port, self.rpc_port
        op = conf["op"]["imagenet"]
        op["local_service_conf"]["model_config"] = str(self.model_dir)
        if self.concurrency is not None:
            op["concurrency"] = int(self.concurrency)
        if self.thread_num is not None:
            op["local_service_conf"]["thread_num"] = int(self.thread_num)
        path = self.work_dir / "config.yml"
        path.write_text(yaml.safe_dump(conf, sort_keys=False), encoding="utf-8")
        return path

    def start(self, timeout: float = 180.0) -> "PaddleServingBundle":
        if self.process is not None:
            raise BundleError("already started")
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="ppcls_hrnet_paddleserving_"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.write_config()
        env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
        env["PYTHONUNBUFFERED"] = "1"
        self._log = open(self.work_dir / "log.txt", "wb")
        self.process = subprocess.Popen(
            [self.python, str(WEB_SERVICE), "--config", str(config), "--rpc_host", "127.0.0.1"],
            cwd=self.work_dir, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until a probe image gets err_no 0, the process exits, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        probe = image_request([gray_png()])
        last = "no reply"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BundleError(f"web_service.py exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, reply = post_json(self.url, probe, timeout=max(1.0, min(15.0, deadline - time.monotonic())))
                if status == 200 and reply and reply.get("err_no") == 0:
                    return
                last = f"HTTP {status}: {reply}"
            except OSError as e:  # not listening yet, reset, timeout
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.5)
        raise BundleError(f"the bundle did not answer within {timeout:.0f} s (last: {last}):\n{self.log_tail()}")

    def predict(self, images, keys=None, timeout: float = 60.0) -> dict:
        """PaddleClas's request for ``images`` (file paths or bytes); the JSON reply."""
        status, reply = post_json(self.url, image_request(images, keys), timeout)
        if status != 200 or reply is None:
            raise BundleError(f"HTTP {status} from {self.url}: {reply}")
        return reply

    def log_tail(self, lines: int = 40) -> str:
        if self.work_dir is None or not (self.work_dir / "log.txt").exists():
            return ""
        text = (self.work_dir / "log.txt").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """End the bundle's process group (SIGTERM, SIGKILL after ``timeout``) and remove its folder."""
        process, self.process = self.process, None
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    continue
                # the op and gateway processes may outlive the leader a moment
                if not _group_alive(process.pid, timeout):
                    break
            if process.poll() is None:
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _group_alive(pgid: int, timeout: float) -> bool:
    """Whether a live (not zombie) process of group ``pgid`` remains after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)
    return False


def _group_members(pgid: int) -> list:
    if not Path("/proc").is_dir():  # not Linux: ask the kernel about the group as a whole
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except ProcessLookupError:
            return []
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            members.append(int(stat.parent.name))
    return members
