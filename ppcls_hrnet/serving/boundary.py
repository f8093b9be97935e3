"""The request boundary (ASGI middleware): API key, body size, metrics, error shapes.

Every request passes here first. A request without the key (when one is set)
gets 401, a body over the limit 413 (from Content-Length before reading, or
while streaming), and each request is counted and timed by route template
and status. Errors are answered in the shape of the protocol the path
belongs to (:func:`error_response`); nothing a client sees carries a
traceback: unexpected exceptions are logged here with one and answered
"internal error".
"""
from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import Optional

from starlette.requests import ClientDisconnect

from . import metrics
from .errors import ServingError
from .pipeline import error_reply

logger = logging.getLogger("ppcls_hrnet.serving")

PUBLIC_PATHS = ("/v2/health/live", "/v2/health/ready")  # probes need no key


def protocol_of(path: str, service_name: str) -> str:
    """"pipeline" for /<name>/prediction-shaped paths, else "json"."""
    if re.fullmatch(r"/[^/]+/prediction/?", path) and not path.startswith("/v2/"):
        return "pipeline"
    return "json"


def error_response(err: ServingError, protocol: str):
    """(status, headers, body) of an error in ``protocol``'s shape."""
    headers = [(b"content-type", b"application/json")]
    if err.retry_after is not None:
        headers.append((b"retry-after", str(err.retry_after).encode()))
    if err.kind == "unauthorized":
        headers.append((b"www-authenticate", b'Bearer realm="ppcls-hrnet"'))
    if protocol == "pipeline":
        return err.pipeline_status, headers, json.dumps(error_reply(err)).encode()
    return err.status, headers, json.dumps({"error": err.message}).encode()


class Boundary:
    def __init__(self, app, *, service_name: str, max_body_bytes: int, api_key: Optional[str], route_of):
        self.app = app
        self.service_name = service_name
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key.encode() if api_key else None
        self.route_of = route_of  # scope after routing -> route template (metrics label)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        protocol = protocol_of(scope["path"], self.service_name)
        state = {"status": None, "disconnected": False}

        async def send_tracking(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await _send_error(send_tracking, refusal, protocol)
            else:
                await self.app(scope, self._limited(receive), send_tracking)
        except ServingError as err:
            if state["status"] is None:
                await _send_error(send_tracking, err, protocol)
        except ClientDisconnect:  # nothing to answer, nothing went wrong here
            state["disconnected"] = True
            client = scope.get("client")
            logger.info("client %s disconnected before sending all of its request (%s %s)",
                        "%s:%s" % tuple(client) if client else "?", scope["method"], scope["path"])
        except Exception:  # noqa: BLE001  (the client gets no traceback; the log does)
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if state["status"] is None:
                await _send_error(send_tracking, ServingError("internal", "internal error (see the server log)"),
                                  protocol)
        finally:
            # 499: nginx's "client closed the request"
            status = "499" if state["disconnected"] else str(state["status"] or 500)
            route = self.route_of(scope)
            metrics.REQUESTS.labels(route, scope["method"], status).inc()
            metrics.LATENCY.labels(route, scope["method"], status).observe(time.perf_counter() - start)

    def _refusal(self, scope) -> Optional[ServingError]:
        headers = dict(scope["headers"])
        if self.api_key is not None and scope["path"] not in PUBLIC_PATHS:
            given = headers.get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                return ServingError("unauthorized", "missing or wrong API key: send `Authorization: Bearer KEY`")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return ServingError("bad_request", "Content-Length is not an integer")
            if declared > self.max_body_bytes:
                return _too_large(self.max_body_bytes)
        return None

    def _limited(self, receive):
        limit, received = self.max_body_bytes, 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        return limited_receive


def _too_large(limit: int) -> ServingError:
    return ServingError("too_large", f"request body over {limit / (1 << 20):g} MB (the server's --max_body_mb)")


async def _send_error(send, err: ServingError, protocol: str) -> None:
    status, headers, body = error_response(err, protocol)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
