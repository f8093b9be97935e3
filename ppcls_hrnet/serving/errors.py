"""Request errors and how each protocol reports them.

One :class:`ServingError` per problem, with a kind; the kind gives the HTTP
status (v2, ``/predict``, the gateway layer of the pipeline protocol), the
Paddle Serving ``err_no`` (its ranges: 3000-3999 service, 5000-5999 user
input, 6000-6999 timeout, 10000 unknown; ``python/pipeline/error_catch.py``)
and the gRPC status code (a ``grpc.StatusCode`` name).
"""
from __future__ import annotations

from typing import Optional

# kind: (HTTP status, Paddle Serving err_no, pipeline answers with HTTP 200?, gRPC status code)
# Paddle Serving's gateway answers request-level problems (bad JSON, wrong
# method) with an HTTP error, and the service's own errors with 200 + err_no;
# over RPC the service's own errors are an err_no reply too, the others a gRPC status.
KINDS = {
    "bad_request": (400, 5000, False, "INVALID_ARGUMENT"),  # not JSON, not the protocol's shape
    "input": (400, 5000, True, "INVALID_ARGUMENT"),  # an image or tensor that cannot be used
    # more images (or tensor rows) in one request than --max_images: a server limit, as the
    # message size limit is (gRPC's own RESOURCE_EXHAUSTED); over HTTP a 400 like "input"
    "too_many": (400, 5000, True, "RESOURCE_EXHAUSTED"),
    "unauthorized": (401, 5000, False, "UNAUTHENTICATED"),
    "not_found": (404, 3002, True, "NOT_FOUND"),  # unknown model / service name (NO_SERVICE)
    "method": (405, 5000, False, "UNIMPLEMENTED"),
    "too_large": (413, 5000, False, "RESOURCE_EXHAUSTED"),
    "busy": (503, 3001, False, "UNAVAILABLE"),  # queue full or shutting down; Retry-After
    "timeout": (504, 6000, True, "DEADLINE_EXCEEDED"),
    "internal": (500, 10000, True, "INTERNAL"),
}


class ServingError(Exception):
    def __init__(self, kind: str, message: str, retry_after: Optional[int] = None):
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return KINDS[self.kind][0]

    @property
    def err_no(self) -> int:
        return KINDS[self.kind][1]

    @property
    def pipeline_status(self) -> int:
        """HTTP status on the pipeline route: 200 for the service's own errors."""
        return 200 if KINDS[self.kind][2] else self.status

    @property
    def grpc_code(self) -> str:
        """The ``grpc.StatusCode`` name the gRPC services answer it with (Paddle Serving's RPC: only
        for the kinds its HTTP route answers with an HTTP error; the others are an err_no reply)."""
        return KINDS[self.kind][3]
