"""The supervisor: owns the listening socket, starts N workers, replaces dead ones, drains on signals.

    ppcls-hrnet serve --inference_model_dir DIR --workers 2
      supervisor (this module; no model, no Paddle, no web stack)
        |- worker 1: python -m ppcls_hrnet.serving.worker  (predictor + uvicorn on the shared socket)
        '- worker 2: ...

Every worker accepts from the one socket the supervisor bound, so the kernel
hands each connection to a worker that is waiting in accept(); a worker
still loading is not accepting and gets none. The supervisor:

- starts the workers and waits until each has loaded its model (a worker
  that cannot load it stops the server with its error: exit 2);
- restarts a worker that dies (killed, crashed), counting it in
  ``ppcls_hrnet_worker_restarts_total``; a worker that keeps dying right
  after start makes the supervisor give up (exit 1) rather than loop;
- on SIGTERM / SIGINT closes its copy of the socket and sends SIGTERM to the
  workers, which stop accepting, finish their requests and exit; then exits 0.

With ``--grpc_port`` every worker also listens on that port (``SO_REUSEPORT``:
gRPC cannot take a listening socket from its parent); the supervisor binds it
first, with ``SO_REUSEPORT`` but without listening, so a port in use stops the
server before any worker starts, ``--grpc_port 0`` becomes one port for all
workers, and the port stays reserved while workers are replaced. A socket that
does not listen is given no connections.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Optional

from ..errors import HRNetError
from ..runtime.contract import read_deploy_config
from .settings import EXIT_LOAD_FAILED, LISTEN_FD_ENV, READY_FD_ENV, SETTINGS_ENV, ServeSettings

logger = logging.getLogger("ppcls_hrnet")

STARTUP_TIMEOUT = 600.0  # seconds for a worker to load its model
QUICK_DEATH = 10.0  # a worker that dies within this many seconds of starting counts towards a crash loop
MAX_QUICK_DEATHS = 5


class ServeError(HRNetError):
    """The server could not start (port taken, model not loadable)."""


@dataclass
class Worker:
    slot: int
    process: subprocess.Popen
    ready_pipe: Optional[int]
    started: float
    ready: bool = False
    error: Optional[str] = None
    buffer: bytes = field(default=b"")

    @property
    def pid(self) -> int:
        return self.process.pid


def serve(settings: ServeSettings) -> int:
    """`ppcls-hrnet serve`: check the model, then supervise workers until a signal; the exit code."""
    read_deploy_config(settings.model_dir)  # a missing or invalid model stops here, with its own message
    if settings.grpc_port is not None and importlib.util.find_spec("grpc") is None:
        raise ServeError("--grpc_port needs grpcio: pip install grpcio (it is in ppcls-hrnet[serve])")
    return Supervisor(settings).run()


class Supervisor:
    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.workers: Dict[int, Worker] = {}
        self.stopping = False
        self.quick_deaths = 0
        self.sock: Optional[socket.socket] = None
        self.grpc_sock: Optional[socket.socket] = None  # --grpc_port: bound, not listening (the reservation)
        self.metrics_dir: Optional[str] = None
        self.restarts = None  # the restart counter, made on first use (after PROMETHEUS_MULTIPROC_DIR is set)

    # ------------------------------------------------------------ main loop

    def run(self) -> int:
        self.sock = self._listen()
        if self.settings.grpc_port is not None:
            self.grpc_sock = self._reserve_grpc_port()
            self.settings = replace(self.settings, grpc_port=self.grpc_sock.getsockname()[1])
        self.metrics_dir = tempfile.mkdtemp(prefix="ppcls_hrnet_metrics_")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir  # before prometheus_client is imported
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)}
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select() when a worker exits
        try:
            for slot in range(self.settings.workers):
                self._spawn(slot)
            code = self._wait_until_ready(wake_r)
            if code is None:
                self._announce()
                code = self._supervise(wake_r)
            return code
        finally:
            self._shut_down()
            signal.set_wakeup_fd(-1)
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            wake_r.close()
            wake_w.close()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _on_stop(self, signum, frame):
        if not self.stopping:
            logger.info("%s: finishing requests in flight, then stopping", signal.Signals(signum).name)
        self.stopping = True

    def _listen(self) -> socket.socket:
        host, port = self.settings.host, self.settings.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err} "
                             "(another server on that port? choose one with --port)") from None
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    def _reserve_grpc_port(self) -> socket.socket:
        host, port = self.settings.host, self.settings.grpc_port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            if port and _someone_listens(host, port):
                # another SO_REUSEPORT server of this user (a second `serve --grpc_port` on the same
                # port): the bind succeeds, and the kernel would split the connections between the two
                raise OSError(98, "Address already in use")
        except OSError as err:
            sock.close()
            self.sock.close()
            raise ServeError(f"cannot listen for gRPC on {host}:{port}: {err.strerror or err} "
                             "(another server on that port? choose one with --grpc_port)") from None
        return sock

    def _announce(self) -> None:
        host, port = self.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"ppcls-hrnet serve: listening on http://{shown}:{port} "
              f"({self.settings.workers} worker(s) x {self.settings.math_threads} thread(s); "
              f"POST /{self.settings.name}/prediction, /v2/models/..., /predict; GET /metrics)", flush=True)
        if self.grpc_sock is not None:
            print(f"ppcls-hrnet serve: gRPC on {shown}:{self.settings.grpc_port} (Paddle Serving's "
                  "PipelineService/inference, inference.GRPCInferenceService)", flush=True)

    def _wait_until_ready(self, wake_r) -> Optional[int]:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not all(w.ready for w in self.workers.values()):
            if self.stopping:
                return 0
            if time.monotonic() > deadline:
                raise ServeError(f"the workers did not load the model within {STARTUP_TIMEOUT:.0f} s")
            self._poll(wake_r, 0.5)
            for worker in list(self.workers.values()):
                code = worker.process.poll()
                if code is None:
                    continue
                if worker.error or code == EXIT_LOAD_FAILED:  # it could not load the model: neither will another
                    why = worker.error or f"worker exited with {_exit_text(code)} while loading the model"
                    raise ServeError(f"cannot serve {self.settings.model_dir}: {why}")
                if self._replace(worker, code) is False:  # killed or crashed: try again, within reason
                    raise ServeError(f"cannot serve {self.settings.model_dir}: workers keep dying while loading "
                                     f"the model (last: {_exit_text(code)})")
        return None

    def _supervise(self, wake_r) -> int:
        while not self.stopping:
            self._poll(wake_r, 1.0)
            for worker in list(self.workers.values()):
                code = worker.process.poll()
                if code is None or self.stopping:
                    continue
                if self._replace(worker, code) is False:
                    return 1
        return 0

    def _replace(self, worker: Worker, code: int) -> bool:
        from prometheus_client import multiprocess

        lived = time.monotonic() - worker.started
        multiprocess.mark_process_dead(worker.pid)  # drop its live gauges (queue depth, readiness, load time)
        logger.warning("worker %d died (%s) after %.1f s%s; starting a replacement", worker.pid, _exit_text(code),
                       lived, f": {worker.error}" if worker.error else "")
        self._close_pipe(worker)
        self.quick_deaths = self.quick_deaths + 1 if lived < QUICK_DEATH else 0
        if self.quick_deaths >= MAX_QUICK_DEATHS:
            logger.error("workers died %d times in a row within %.0f s of starting; giving up", self.quick_deaths,
                         QUICK_DEATH)
            return False
        if self.quick_deaths:
            time.sleep(min(0.5 * 2 ** (self.quick_deaths - 1), 5.0))
        self._restarts_counter().inc()
        self._spawn(worker.slot)
        return True

    def _restarts_counter(self):
        if self.restarts is None:
            from prometheus_client import Counter

            self.restarts = Counter("ppcls_hrnet_worker_restarts_total", "Workers started to replace one that died")
        return self.restarts

    def _poll(self, wake_r, timeout: float) -> None:
        pipes = {w.ready_pipe: w for w in self.workers.values() if w.ready_pipe is not None}
        try:
            readable, _, _ = select.select([wake_r, *pipes], [], [], timeout)
        except InterruptedError:
            return
        for item in readable:
            if item is wake_r:
                try:
                    wake_r.recv(4096)
                except (BlockingIOError, InterruptedError):
                    pass
            else:
                self._read_ready(pipes[item])

    def _read_ready(self, worker: Worker) -> None:
        try:
            chunk = os.read(worker.ready_pipe, 4096)
        except OSError:
            chunk = b""
        worker.buffer += chunk
        for line in worker.buffer.split(b"\n")[:-1]:
            message = json.loads(line)
            if message.get("ready"):
                worker.ready = True
                logger.info("worker %d ready (%s, %s, %s thread(s), model loaded in %.2f s)", worker.pid,
                            message.get("backend"), message.get("precision"), message.get("threads"),
                            message.get("load_seconds", 0))
            elif message.get("error"):
                worker.error = message["error"]
        worker.buffer = worker.buffer.rsplit(b"\n", 1)[-1]
        if not chunk:
            self._close_pipe(worker)

    @staticmethod
    def _close_pipe(worker: Worker) -> None:
        if worker.ready_pipe is not None:
            os.close(worker.ready_pipe)
            worker.ready_pipe = None

    # ------------------------------------------------------------ workers

    def _spawn(self, slot: int) -> Worker:
        ready_r, ready_w = os.pipe()
        env = dict(os.environ)
        env[SETTINGS_ENV] = self.settings.to_env()
        env[LISTEN_FD_ENV] = str(self.sock.fileno())
        env[READY_FD_ENV] = str(ready_w)
        # a decompression bomb is refused before it is decoded (OpenCV reads this when it loads;
        # ppcls_hrnet.data's own limit, where it has one, reads the other)
        env["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(self.settings.max_image_pixels)
        env["PPCLS_HRNET_MAX_IMAGE_PIXELS"] = str(self.settings.max_image_pixels)
        # the worker runs this checkout's code, whatever is installed
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        try:
            process = subprocess.Popen([sys.executable, "-m", "ppcls_hrnet.serving.worker"], env=env,
                                       pass_fds=(self.sock.fileno(), ready_w), stdin=subprocess.DEVNULL)
        finally:
            os.close(ready_w)
        worker = Worker(slot, process, ready_r, time.monotonic())
        self.workers[slot] = worker
        return worker

    def _shut_down(self) -> None:
        if self.sock is not None:
            self.sock.close()  # the workers' copies keep accepting until each stops
        if self.grpc_sock is not None:
            self.grpc_sock.close()
        alive = [w for w in self.workers.values() if w.process.poll() is None]
        for worker in alive:
            try:
                worker.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.settings.graceful_timeout + 5
        for worker in alive:
            try:
                worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker %d did not stop within the graceful timeout; killing it", worker.pid)
                worker.process.kill()
                worker.process.wait()
        for worker in self.workers.values():
            self._close_pipe(worker)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    if code == EXIT_LOAD_FAILED:
        return "exit code 3: the model could not be loaded"
    return f"exit code {code}"


def _someone_listens(host: str, port: int) -> bool:
    """Whether a connection to ``host:port`` (loopback for a wildcard host) is accepted."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        socket.create_connection((target, port), timeout=1.0).close()
    except OSError:
        return False
    return True
