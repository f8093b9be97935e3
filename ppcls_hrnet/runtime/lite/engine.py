"""``--backend lite``: an x86 ``.nb`` run by the helper venv's Paddle Lite.

Preprocessing stays in this process; the helper process (:mod:`.runner`)
only runs the model, one long-lived process per engine, batches framed as
``.npy`` over its stdin/stdout. A check path: the ``.nb`` a phone will run,
verified on a PC first (Lite on x86 is not a fast engine).
"""
from __future__ import annotations

import io
import os
import selectors
import struct
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from ..engines.base import BackendUnavailableError, Engine, ModelLoadError
from ...errors import HRNetError
from .env import ensure_helper_env

RUNNER = Path(__file__).with_name("runner.py")
START_TIMEOUT = 120.0  # s: import paddlelite + load the .nb
RUN_TIMEOUT = 300.0  # s per batch


class LiteRunError(HRNetError):
    pass


def _close(process, log) -> None:
    if process.poll() is None:
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stdin):
        try:
            stream.close()
        except OSError:
            pass
    log.close()


class LiteEngine(Engine):
    """``input_shape`` comes from inference.yml (the ``.nb`` does not say it in Lite's Python API)."""

    def __init__(self, nb_file, input_shape, cpu_threads: int = 2, python=None):
        self.source = str(nb_file)
        path = Path(nb_file)
        if not path.is_file():
            raise ModelLoadError(f"Paddle Lite model {path} does not exist")
        self.input_shape = (None, *[int(d) for d in input_shape[1:]])
        python = python or ensure_helper_env()
        self._log = tempfile.TemporaryFile()  # the helper's stderr: its last line explains a crash
        self._process = subprocess.Popen(
            [str(python), str(RUNNER), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, env={**os.environ, "GLOG_minloglevel": "2",
                 # 2.12's Python MobileConfig has no set_threads; its x86 kernels use MKL/OpenMP
                 "OMP_NUM_THREADS": str(cpu_threads), "MKL_NUM_THREADS": str(cpu_threads)})
        self._finalizer = weakref.finalize(self, _close, self._process, self._log)
        ok, payload = self._receive(START_TIMEOUT, "loading the model")
        if not ok:
            self.close()
            raise ModelLoadError(f"Paddle Lite could not load {path}: {payload.decode('utf-8', 'replace')}")

    def close(self) -> None:
        self._finalizer()

    def _receive(self, timeout: float, what: str):
        data = self._read_exact(8, timeout, what)
        (size,) = struct.unpack("<Q", data)
        payload = self._read_exact(size, timeout, what)
        return payload[:1] == b"O", payload[1:]

    def _read_exact(self, size: int, timeout: float, what: str) -> bytes:
        stream = self._process.stdout
        deadline = time.monotonic() + timeout
        chunks, got = [], 0
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while got < size:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.close()
                    raise LiteRunError(f"the Paddle Lite helper took over {timeout:.0f} s {what}; stopped it")
                chunk = os.read(stream.fileno(), min(size - got, 1 << 20))
                if not chunk:
                    code = self._process.wait(timeout=10)
                    last = self._last_log_line()
                    self.close()
                    raise LiteRunError(f"the Paddle Lite helper process exited ({code}) while {what}"
                                       + (f": {last}" if last else ""))
                chunks.append(chunk)
                got += len(chunk)
        return b"".join(chunks)

    def _last_log_line(self) -> str:
        try:
            self._log.seek(0)
            lines = [l.strip() for l in self._log.read().decode("utf-8", "replace").splitlines() if l.strip()]
        except (OSError, ValueError):
            return ""
        return lines[-1][:400] if lines else ""

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._process.poll() is not None:
            raise LiteRunError("the Paddle Lite helper process is not running (closed or crashed)")
        buffer = io.BytesIO()
        np.save(buffer, batch, allow_pickle=False)
        payload = buffer.getvalue()
        try:
            self._process.stdin.write(struct.pack("<Q", len(payload)) + payload)
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise LiteRunError("the Paddle Lite helper process exited") from None
        ok, payload = self._receive(RUN_TIMEOUT, "running a batch")
        if not ok:
            raise LiteRunError(f"Paddle Lite failed on a batch of {list(batch.shape)}: "
                               f"{payload.decode('utf-8', 'replace')}")
        return np.load(io.BytesIO(payload), allow_pickle=False)


def build(deploy, options) -> Engine:
    """An x86 .nb (``ppcls-hrnet lite --valid_targets x86``) in the Python 3.7 helper:
    a check of the .nb a phone runs, not a fast engine."""
    path = deploy.model_file("lite_x86")
    if path is None or not path.is_file():
        raise BackendUnavailableError(
            f"{deploy.model_dir} has no x86 Paddle Lite model; make one with `ppcls-hrnet lite "
            f"--inference_model_dir {deploy.model_dir} --valid_targets x86`")
    return LiteEngine(path, deploy.input_shape, cpu_threads=options.cpu_threads)
