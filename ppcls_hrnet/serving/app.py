"""The worker's ASGI application: every route, on one predictor.

    app = create_app(settings, predictor)      # the predictor is built first: no route answers without it

Starlette (routing, requests, multipart forms) inside :class:`~.boundary.Boundary`.
Route handlers raise :class:`~.errors.ServingError`; the boundary answers it
in the route's protocol.
"""
from __future__ import annotations

import logging
import os
from functools import partial
from typing import Optional

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..runtime.results import json_text, results_document
from . import metrics, pipeline, v2
from .boundary import Boundary, error_response, protocol_of
from .errors import ServingError
from .runner import InferenceRunner
from .settings import ServeSettings

logger = logging.getLogger("ppcls_hrnet.serving")


class ServerState:
    """What the routes share: the predictor's runner and whether the worker is draining."""

    def __init__(self, settings: ServeSettings, predictor, load_seconds: Optional[float] = None):
        self.settings = settings
        self.predictor = predictor
        self.deploy = predictor.deploy
        self.runner = InferenceRunner(predictor, settings.max_queue, settings.timeout)
        self.draining = False
        self.load_seconds = load_seconds
        self.topk = predictor.postprocess.topk
        self.metadata = v2.model_metadata(self.deploy, predictor.backend, predictor.options.precision, self.topk)


def _json(data, status: int = 200) -> Response:
    return Response(json_text(data), status_code=status, media_type="application/json")


def _check_model(state: ServerState, request: Request) -> None:
    check_model(state, request.path_params["model_name"], request.path_params.get("version"))


def check_model(state: ServerState, name: str, version: Optional[str]) -> None:
    """``not_found`` unless ``name`` (and ``version``, when given) is the served model."""
    if name != state.deploy.model_name:
        raise ServingError("not_found", f"unknown model {name!r}; this server serves {state.deploy.model_name!r}")
    if version is not None and version != v2.VERSION:
        raise ServingError("not_found", f"unknown version {version!r} of {name!r}; it has version {v2.VERSION}")


def _refuse_when_draining(state: ServerState) -> None:
    if state.draining:
        raise ServingError("busy", "server shutting down; retry on another replica", retry_after=1)


async def _body(request: Request) -> bytes:
    return await request.body()  # the boundary's receive enforces --max_body_mb


# ------------------------------------------------------------------ health, metadata, metrics


async def live(request: Request, state: ServerState):
    return _json({"live": True})


async def ready(request: Request, state: ServerState):
    if state.draining:
        return _json({"ready": False, "reason": "shutting down"}, 503)
    return _json({"ready": True})


async def server_metadata(request: Request, state: ServerState):
    return _json(v2.server_metadata())


async def model_metadata(request: Request, state: ServerState):
    _check_model(state, request)
    return _json(state.metadata)


async def model_ready(request: Request, state: ServerState):
    _check_model(state, request)
    return _json({"name": state.deploy.model_name, "ready": not state.draining}, 503 if state.draining else 200)


async def metrics_page(request: Request, state: ServerState):
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


# ------------------------------------------------------------------ Paddle Serving pipeline


async def pipeline_predict(request: Request, state: ServerState):
    name = request.path_params["service"]
    body = await _body(request)
    if name != state.settings.name:
        raise ServingError("not_found", f"no service {name!r}: this server's pipeline is "
                                        f"POST /{state.settings.name}/prediction")
    parsed = pipeline.parse_request(body, state.settings.max_images)
    return _json(await pipeline_answer(state, parsed))


async def pipeline_answer(state: ServerState, parsed: pipeline.PipelineRequest) -> dict:
    """PaddleClas's reply to a parsed pipeline request (HTTP route and RPC)."""
    _refuse_when_draining(state)
    results = await state.runner.classify(parsed.images, parsed.keys)
    error = pipeline.image_errors(parsed.keys, results)
    if error is not None:
        raise error
    return pipeline.reply(results)


# ------------------------------------------------------------------ Open Inference Protocol v2


async def v2_infer(request: Request, state: ServerState):
    _check_model(state, request)
    body = await _body(request)
    parsed = v2.parse_infer_request(body, request.headers.get(v2.HEADER_LENGTH), state.settings.max_images)
    outputs = await v2_outputs(state, parsed)
    body, headers = v2.encode_response(state.deploy.model_name, parsed, outputs)
    return Response(body, headers=headers)


async def v2_outputs(state: ServerState, parsed: v2.InferRequest):
    """The requested outputs, (name, datatype, array), of a parsed v2 request (HTTP and gRPC)."""
    if len(parsed.inputs) != 1:
        raise ServingError("input", f"give one input, {v2.IMAGE_INPUT!r} (BYTES) or {state.deploy.input_name!r} "
                                    f"(FP32), not {len(parsed.inputs)}")
    (tensor,) = parsed.inputs
    _refuse_when_draining(state)
    if tensor.name == v2.IMAGE_INPUT:
        if tensor.datatype != "BYTES":
            raise ServingError("input", f"input {v2.IMAGE_INPUT!r} must be BYTES (encoded image files), "
                                        f"not {tensor.datatype}")
        if tensor.count == 0:
            raise ServingError("input", f"input {v2.IMAGE_INPUT!r} has no image")
        images = v2.image_bytes(tensor)
        results = await state.runner.classify(images, [f"image[{i}]" for i in range(len(images))])
        bad = [f"element {i}: {r['error']}" for i, r in enumerate(results) if "error" in r]
        if bad:
            raise ServingError("input", f"input {v2.IMAGE_INPUT!r}: " + "; ".join(bad))
        k = len(results[0]["class_ids"])
        outputs = v2.classification_outputs(results, k)
    elif tensor.name == state.deploy.input_name:
        if tensor.datatype != "FP32":
            raise ServingError("input", f"input {tensor.name!r} must be FP32, not {tensor.datatype}")
        expected = [-1, *state.deploy.input_shape[1:]]
        if len(tensor.shape) != 4 or tensor.shape[1:] != expected[1:] or tensor.shape[0] < 1:
            raise ServingError("input", f"input {tensor.name!r} has shape {tensor.shape}; the model takes "
                                        f"{expected} (N >= 1)")
        if tensor.shape[0] > state.settings.max_images:
            raise ServingError("too_many", f"{tensor.shape[0]} rows in one request; this server takes at most "
                                           f"{state.settings.max_images} (--max_images)")
        output = await state.runner.tensor(np.ascontiguousarray(tensor.data, dtype=np.float32))
        outputs = [(v2.output_tensor_name(state.deploy), "FP32", np.asarray(output, dtype=np.float32))]
    else:
        raise ServingError("input", f"unknown input {tensor.name!r}: this model takes {v2.IMAGE_INPUT!r} "
                                    f"(BYTES, encoded images) or {state.deploy.input_name!r} (FP32 "
                                    f"{[-1, *state.deploy.input_shape[1:]]})")
    return v2.select_outputs(parsed, outputs)


# ------------------------------------------------------------------ multipart upload for people


async def predict_upload(request: Request, state: ServerState):
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ServingError("bad_request", "send the images as multipart/form-data, e.g. "
                                          "curl -F image=@photo.jpg http://HOST:PORT/predict")
    limit = state.settings.max_images
    try:
        form = await request.form(max_files=limit + 1, max_fields=limit + 16)
    except ServingError:
        raise
    except HTTPException as err:  # starlette: malformed multipart, too many parts
        raise ServingError("input", f"cannot read the upload: {err.detail}") from None
    try:
        uploads = [(key, value) for key, value in form.multi_items() if hasattr(value, "read")]
        if not uploads:
            raise ServingError("input", "no file in the upload: curl -F image=@photo.jpg http://HOST:PORT/predict")
        if len(uploads) > limit:
            raise ServingError("too_many", f"{len(uploads)} images in one request; this server takes at most "
                                           f"{limit} (--max_images)")
        images = [await value.read() for _, value in uploads]
        names = [os.path.basename(value.filename or key) for key, value in uploads]
    finally:
        await form.close()
    _refuse_when_draining(state)
    results = await state.runner.classify(images, names)
    status = 200 if any("error" not in r for r in results) else 400
    return _json(results_document(results, state.predictor, with_model_dir=False), status)


# ------------------------------------------------------------------ the application


def create_app(settings: ServeSettings, predictor, load_seconds: Optional[float] = None):
    state = ServerState(settings, predictor, load_seconds)
    model_paths = ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{version}")
    table = [
        ("/v2/health/live", live, ["GET"]),
        ("/v2/health/ready", ready, ["GET"]),
        ("/v2", server_metadata, ["GET"]),
        *[(path, model_metadata, ["GET"]) for path in model_paths],
        *[(path + "/ready", model_ready, ["GET"]) for path in model_paths],
        *[(path + "/infer", v2_infer, ["POST"]) for path in model_paths],
        ("/predict", predict_upload, ["POST"]),
        ("/metrics", metrics_page, ["GET"]),
        ("/{service}/prediction", pipeline_predict, ["POST"]),
    ]
    routes = [Route(path, partial(handler, state=state), methods=methods, name=path)
              for path, handler, methods in table]

    async def http_error(request: Request, exc: HTTPException):
        kind = {404: "not_found", 405: "method"}.get(exc.status_code, "bad_request")
        if kind == "not_found":
            message = f"no route {request.method} {request.url.path}"
        elif kind == "method":
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        status, headers, body = error_response(ServingError(kind, message), protocol_of(request.url.path,
                                                                                          settings.name))
        return Response(body, status_code=status if kind != "not_found" else 404,
                        headers={k.decode(): v.decode() for k, v in headers if k != b"content-type"},
                        media_type="application/json")

    async def serving_error(request: Request, exc: ServingError):
        status, headers, body = error_response(exc, protocol_of(request.url.path, settings.name))
        return Response(body, status_code=status,
                        headers={k.decode(): v.decode() for k, v in headers if k != b"content-type"},
                        media_type="application/json")

    async def internal_error(request: Request, exc: Exception):
        # Starlette re-raises after this answer; the boundary logs the traceback (the client never sees it)
        return await serving_error(request, ServingError("internal", "internal error (see the server log)"))

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, ServingError: serving_error,
                                                       Exception: internal_error})
    app.state.server = state
    templates = {route.path: route.path for route in routes}

    def route_of(scope) -> str:
        route = scope.get("route")
        if route is not None and getattr(route, "path", None) in templates:
            return route.path
        endpoint = scope.get("endpoint")
        for candidate in routes:
            if candidate.endpoint is endpoint:
                return candidate.path
        return "unmatched"

    wrapped = Boundary(app, service_name=settings.name, max_body_bytes=settings.max_body_bytes,
                       api_key=settings.api_key, route_of=route_of)
    wrapped.state = state
    return wrapped
