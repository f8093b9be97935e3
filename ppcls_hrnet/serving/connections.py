"""Connections that cannot hold a worker: read timeouts, a connection cap, memory given back.

uvicorn closes an idle keep-alive connection after a response, but not a
connection that sends nothing after connecting, stops half-way through its
headers, or stalls in its body: each would hold a file descriptor and its
buffers for as long as the client likes, and a stalled upload would hold up
a graceful shutdown for its whole timeout. :func:`guarded_protocol` is
uvicorn's h11 protocol with the time of its last read, and
:class:`ConnectionGuard` sweeps the worker's connections once a second:

- a connection still waiting for its request (no request yet, headers or
  body incomplete) that has sent nothing for ``read_timeout`` seconds is
  closed (the request, if it started, ends as a client disconnect: 499);
- a connection over ``max_connections`` is closed as it is accepted;
- on shutdown, connections still waiting for their request are closed at
  once: only admitted requests are drained;
- when the last connection closes, the C library is asked to give freed
  memory back to the system (glibc keeps a burst's buffers otherwise).
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import metrics

logger = logging.getLogger("ppcls_hrnet.serving")

SWEEP_SECONDS = 1.0
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_malloc_trim = getattr(_libc, "malloc_trim", None)  # glibc only


def guarded_protocol(max_connections: int):
    """uvicorn's h11 protocol, remembering when it last read, refusing connections over the cap."""

    class GuardedProtocol(H11Protocol):
        def connection_made(self, transport):
            self.last_read = time.monotonic()
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                metrics.CONNECTIONS_CLOSED.labels("over_capacity").inc()
                transport.abort()

        def data_received(self, data: bytes) -> None:
            self.last_read = time.monotonic()
            super().data_received(data)

        def on_response_complete(self) -> None:
            self.last_read = time.monotonic()  # a keep-alive connection's quiet time starts now
            super().on_response_complete()

        @property
        def waiting_for_request(self) -> bool:
            """Nothing admitted yet: no request, or one whose headers or body are incomplete."""
            return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

        def shutdown(self) -> None:
            if self.waiting_for_request and not self.transport.is_closing():
                self.transport.abort()  # a stalled upload must not hold up the drain
            else:
                super().shutdown()

    return GuardedProtocol


class ConnectionGuard:
    """Sweeps a worker's connections (uvicorn's ``server_state.connections``) once a second."""

    def __init__(self, connections: set, read_timeout: float):
        self.connections = connections
        self.read_timeout = read_timeout
        self._had_connections = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        for connection in list(self.connections):
            quiet = now - getattr(connection, "last_read", now)
            if (getattr(connection, "waiting_for_request", False) and quiet > self.read_timeout
                    and not connection.transport.is_closing()):
                client = connection.client
                logger.info("closing the connection from %s: nothing received for %.0f s while waiting for its "
                            "request (--read_timeout %g)", "%s:%s" % client if client else "a client", quiet,
                            self.read_timeout)
                metrics.CONNECTIONS_CLOSED.labels("read_timeout").inc()
                connection.transport.abort()
        if self.connections:
            self._had_connections = True
        elif self._had_connections:
            self._had_connections = False
            if _malloc_trim is not None:
                _malloc_trim(0)
