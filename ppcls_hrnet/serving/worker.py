"""One worker process: build the predictor, then serve the supervisor's socket with uvicorn.

Started by :mod:`.supervisor` as ``python -m ppcls_hrnet.serving.worker`` with
the listening socket's descriptor, a pipe to report "ready" (or why not) on,
and the settings in its environment. The predictor is built here, after the
process started (a predictor built before a fork made each worker ~1.2 GB
and slower), with ``cores / workers`` math threads; the worker accepts
connections only once it has answered one warm-up inference, so a request
never meets a worker that is still loading.

With ``--grpc_port`` the worker serves gRPC too (:mod:`.grpc_server`, on the
same event loop), listening on that port before it reports ready.

SIGTERM / SIGINT: stop accepting, finish the requests (and gRPC calls) in flight
(up to ``graceful_timeout``), exit 0. Paddle's own SIGTERM handler (it aborts) is
undone by :func:`ppcls_hrnet.base.paddle_import.import_paddle`, and this module
re-installs its handlers after the predictor is built in any case.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import time

from ..base.process import setup_process
from ..errors import HRNetError
from .settings import EXIT_LOAD_FAILED, LISTEN_FD_ENV, READY_FD_ENV, ServeSettings

logger = logging.getLogger("ppcls_hrnet.serving")

_stop_requested = False
_loading = True  # no request can be in flight yet: a signal ends the process at once


def _request_stop(signum, frame):
    global _stop_requested
    _stop_requested = True
    if _loading:
        # nothing to drain; an exception raised here would surface inside whatever import or
        # model compilation is running (Paddle's import turns it into an ImportError)
        os._exit(0)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervisor dies (even by SIGKILL), so no
    orphan keeps serving the port."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _report(fd: int, message: dict) -> None:
    try:
        os.write(fd, (json.dumps(message) + "\n").encode())
    except OSError:
        pass


def build_predictor(settings):
    # imported here, under main()'s signal mask: the runtime's imports are part of loading the model
    from ..runtime.options import RuntimeOptions
    from ..runtime.predictor import ClassificationPredictor

    options = RuntimeOptions(backend=settings.backend, precision=settings.precision,
                             cpu_threads=settings.math_threads, max_batch_size=settings.max_images,
                             cpu_pinning=settings.openvino_pinning)
    # a resize or crop may make at most --max_resize_multiple times the model input's pixels: a
    # few bytes of an extreme aspect ratio would otherwise cost seconds and hundreds of MB
    return ClassificationPredictor(settings.model_dir, options, batch_size=settings.max_images,
                                   max_resize_multiple=settings.max_resize_multiple,
                                   budget_setting="--max_resize_multiple")


def main() -> int:
    parent = os.getppid()
    _die_with_parent()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _request_stop)
    if os.getppid() != parent:  # the supervisor died before prctl
        return 0
    setup_process()
    settings = ServeSettings.from_env()
    logging.getLogger("ppcls_hrnet").setLevel(settings.log_level.upper())
    ready_fd = int(os.environ[READY_FD_ENV])
    listen_fd = int(os.environ[LISTEN_FD_ENV])

    start = time.perf_counter()
    # Signals wait while the model loads: importing Paddle installs, for a moment, a SIGTERM
    # handler that aborts with a C++ dump (import_paddle puts ours back right after). Threads
    # the runtimes start here inherit the mask, so a signal arriving meanwhile is handled, once
    # the mask is lifted below, by _request_stop: exit 0 at once.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        from . import metrics
        from .app import create_app

        predictor = build_predictor(settings)
        app = create_app(settings, predictor)
        app.state.runner.warm_up()
    except Exception as err:  # noqa: BLE001  (reported to the supervisor, which prints it and stops)
        if isinstance(err, HRNetError):
            message = str(err)
        else:
            logger.exception("worker %d could not load the model", os.getpid())
            message = f"{type(err).__name__}: {err}"
        _report(ready_fd, {"pid": os.getpid(), "error": message})
        return EXIT_LOAD_FAILED
    finally:
        for sig in stop_signals:  # a backend may have installed its own handler
            signal.signal(sig, _request_stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)  # a pending signal ends the worker here
    load_seconds = time.perf_counter() - start
    app.state.load_seconds = load_seconds
    metrics.MODEL_LOAD.set(load_seconds)
    global _loading
    _loading = False

    import uvicorn

    from .connections import ConnectionGuard, guarded_protocol

    state = app.state

    class WorkerServer(uvicorn.Server):
        loop = None
        grpc_server = None  # --grpc_port: grpc.aio on this loop (grpc_server.py)
        grpc_stopping = None

        def handle_exit(self, sig, frame):
            state.draining = True  # /v2/health/ready answers 503 from now on
            if self.grpc_server is not None and self.loop is not None:
                self.loop.call_soon_threadsafe(self.stop_grpc)  # a signal handler: not on the loop
            super().handle_exit(sig, frame)

        def stop_grpc(self):
            if self.grpc_stopping is None:
                # no new calls from now on; the ones in flight have --graceful_timeout to finish
                self.grpc_stopping = self.loop.create_task(self.grpc_server.stop(settings.graceful_timeout))
            return self.grpc_stopping

        async def startup(self, sockets=None):
            await super().startup(sockets)
            guard = ConnectionGuard(self.server_state.connections, settings.read_timeout)
            self.guard_task = asyncio.get_running_loop().create_task(guard.run())
            if _stop_requested:  # a signal between loading and uvicorn's own handlers
                self.handle_exit(signal.SIGTERM, None)

    config = uvicorn.Config(app, log_level=settings.log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=settings.graceful_timeout, server_header=False,
                            timeout_keep_alive=settings.keep_alive, log_config=None,
                            http=guarded_protocol(settings.max_connections))
    server = WorkerServer(config)
    sock = socket.socket(fileno=listen_fd)

    async def serve() -> int:
        server.loop = asyncio.get_running_loop()
        if settings.grpc_port is not None:  # listening before "ready": a call never finds the port closed
            from . import grpc_server  # grpcio is loaded by the workers that serve gRPC only

            try:
                server.grpc_server = await grpc_server.start(settings, state)
            except HRNetError as err:
                _report(ready_fd, {"pid": os.getpid(), "error": str(err)})
                return EXIT_LOAD_FAILED
        metrics.WORKERS_READY.set(1)
        precision = predictor.options.precision
        metrics.MODEL_INFO.labels(predictor.deploy.model_name, predictor.backend, precision).set(1)
        _report(ready_fd, {"pid": os.getpid(), "ready": True, "load_seconds": round(load_seconds, 3),
                           "backend": predictor.backend, "precision": precision, "threads": settings.math_threads})
        os.close(ready_fd)
        logger.info("worker %d serving %s on %s (%s, %d threads, load %.2f s)", os.getpid(),
                    predictor.deploy.model_name, predictor.backend, precision, settings.math_threads, load_seconds)
        try:
            await server.serve(sockets=[sock])
        finally:
            if server.grpc_server is not None:
                await server.stop_grpc()
        return 0

    try:
        code = asyncio.run(serve())
    finally:
        metrics.WORKERS_READY.set(0)
        state.runner.close()
    # uvicorn re-raises the signal it caught once it has shut down; our handler absorbs it
    return code


if __name__ == "__main__":
    sys.exit(main())
