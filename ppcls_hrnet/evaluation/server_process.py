"""Start `ppcls-hrnet serve` as a child process on a loopback port and wait until it answers.

For the load benchmark and the tests::

    with ServerProcess(["--inference_model_dir", model_dir, "--workers", "2"]) as server:
        server.wait_ready()
        requests.post(server.url + "/imagenet/prediction", ...)
    # leaving the block stops it (SIGTERM, then SIGKILL after a timeout)

The child runs this checkout's code (its folder goes first on PYTHONPATH).
Every wait here is bounded.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def checkout_env(extra: Optional[dict] = None) -> dict:
    """os.environ with this checkout first on PYTHONPATH (plus ``extra``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


class ServerProcess:
    def __init__(self, args: Sequence[str], *, host: str = "127.0.0.1", port: Optional[int] = None,
                 env: Optional[dict] = None, log_path=None):
        self.host = host
        self.port = port or free_port(host)
        self.args = [*args, "--host", host, "--port", str(self.port)]
        self.env = checkout_env(env)
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="ppcls_serve_", suffix=".log")[1])
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ServerProcess":
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "ppcls_hrnet.cli", "serve", *self.args],
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> "ServerProcess":
        """Until GET /v2/health/ready answers 200; RuntimeError (with the log) if the server exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/v2/health/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.log()}")

    def worker_pids(self) -> List[int]:
        """The supervisor's child processes (Linux /proc)."""
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                children.append(int(entry))
        return sorted(children)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and wait for the exit code (SIGKILL after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def __enter__(self):
        return self if self.process is not None else self.start()

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.stop(timeout=30)


@contextlib.contextmanager
def running_server(args: Sequence[str], *, env: Optional[dict] = None, log_path=None, ready_timeout: float = 120.0):
    """A started server, ready; on leaving, SIGTERM and require a clean exit (0), showing its log if not."""
    process = ServerProcess(args, env=env, log_path=log_path).start()
    try:
        process.wait_ready(timeout=ready_timeout)
        yield process
    finally:
        code = process.stop(timeout=60)
        print(process.log())
        assert code == 0, process.log()
