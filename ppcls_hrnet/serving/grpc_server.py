"""A worker's gRPC services (``ppcls-hrnet serve --grpc_port PORT``), on one port:

- Paddle Serving 0.9's pipeline RPC, ``baidu.paddle_serving.pipeline_serving.PipelineService/inference``:
  what PaddleClas's ``deploy/paddleserving/pipeline_rpc_client.py`` (Paddle Serving's
  ``PipelineClient``) sends. The request's key/value pairs (or string tensors) are the
  HTTP pipeline route's, parsed by the same code, and the reply is the same
  ``err_no``/``err_msg``/``key``/``value`` (``label``, ``prob``) as PaddleClas's web
  service returns; the errors its HTTP route answers with ``err_no`` are an ``err_no``
  reply here too, the gateway's (API key, queue full) a gRPC status.
- the Open Inference Protocol's ``inference.GRPCInferenceService`` (KServe v2, Triton):
  ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer with
  the HTTP v2 route's inputs and outputs (``image`` BYTES -> ``class_ids``, ``scores``,
  ``label_names``; or the model's FP32 tensor), as raw contents or typed contents; replies
  carry raw contents (as Triton's). Errors are gRPC status codes
  (:attr:`.errors.ServingError.grpc_code`).

How it runs: ``grpc.aio`` on the worker's asyncio loop, beside uvicorn, so a call takes
the same path as an HTTP request: the worker's :class:`~.runner.InferenceRunner`
(``--max_queue``, ``--timeout``), its draining flag, the API key (metadata
``authorization: Bearer KEY``; ServerLive and ServerReady need none, as
``/v2/health/*``), and the metrics (``ppcls_hrnet_grpc_requests_total{method,code}``).
Every worker listens on the port with ``SO_REUSEPORT`` (gRPC's default on Linux) and
the kernel spreads new connections over them; the supervisor keeps the port bound
(not listening) so it stays reserved while workers are replaced. A channel is one
HTTP/2 connection, so its calls go to one worker, as an HTTP keep-alive connection's do.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import List, Optional

import grpc
import numpy as np

from ..errors import HRNetError
from . import metrics, pipeline, v2
from .app import check_model, pipeline_answer, v2_outputs
from .errors import ServingError
from .messages import PIPELINE_SERVICE, V2_SERVICE
from .messages import pipeline as pipeline_pb
from .messages import v2 as v2_pb

logger = logging.getLogger("ppcls_hrnet.serving")

PUBLIC_METHODS = ("ServerLive", "ServerReady")  # probes need no key (as /v2/health/*)
STRING_TENSOR = 12  # Paddle Serving's Tensor.elem_type for str_data (PipelineClient, pack_tensor_format=True)
# InferTensorContents field per datatype (FP16 has none: raw contents only)
CONTENTS_FIELDS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
                   "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
                   "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
                   "FP32": "fp32_contents", "FP64": "fp64_contents"}


class GrpcPortError(HRNetError):
    """The worker could not listen on --grpc_port."""


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(settings, state) -> grpc.aio.Server:
    """A started gRPC server on ``settings.grpc_port`` serving ``state`` (the app's ServerState)."""
    services = GrpcServices(settings, state)
    server = grpc.aio.server(
        handlers=services.handlers(),
        options=[("grpc.so_reuseport", 1),  # every worker listens on the port
                 ("grpc.max_receive_message_length", settings.max_body_bytes)],  # over it: RESOURCE_EXHAUSTED
        # calls in progress per worker, as --max_connections caps HTTP connections; more: RESOURCE_EXHAUSTED
        maximum_concurrent_rpcs=settings.max_connections)
    where = address(settings.host, settings.grpc_port)
    try:
        bound = server.add_insecure_port(where)
    except RuntimeError:  # grpcio >= 1.5x raises; older ones return 0
        bound = 0
    if not bound or (settings.grpc_port and bound != settings.grpc_port):
        await server.stop(None)
        raise GrpcPortError(f"cannot listen for gRPC on {where} (another server on that port? choose one with "
                            "--grpc_port)")
    await server.start()
    return server


class GrpcServices:
    def __init__(self, settings, state):
        self.settings = settings
        self.state = state
        self.api_key = settings.api_key.encode() if settings.api_key else None

    def handlers(self) -> list:
        v2_methods = {
            "ServerLive": (self.server_live, v2_pb.ServerLiveRequest, v2_pb.ServerLiveResponse),
            "ServerReady": (self.server_ready, v2_pb.ServerReadyRequest, v2_pb.ServerReadyResponse),
            "ModelReady": (self.model_ready, v2_pb.ModelReadyRequest, v2_pb.ModelReadyResponse),
            "ServerMetadata": (self.server_metadata, v2_pb.ServerMetadataRequest, v2_pb.ServerMetadataResponse),
            "ModelMetadata": (self.model_metadata, v2_pb.ModelMetadataRequest, v2_pb.ModelMetadataResponse),
            "ModelInfer": (self.model_infer, v2_pb.ModelInferRequest, v2_pb.ModelInferResponse),
        }
        pipeline_methods = {"inference": (self.pipeline_inference, pipeline_pb.Request, pipeline_pb.Response)}
        return [grpc.method_handlers_generic_handler(
                    service, {name: self._unary(service, name, *spec) for name, spec in methods.items()})
                for service, methods in ((V2_SERVICE, v2_methods), (PIPELINE_SERVICE, pipeline_methods))]

    # ---------------------------------------------------------------- the boundary of every call

    def _unary(self, service: str, name: str, handler, request_class, response_class):
        method = f"/{service}/{name}"
        public = service == V2_SERVICE and name in PUBLIC_METHODS

        async def call(request, context):
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                if not public:
                    self._check_key(context)
                return await handler(request, context)
            except ServingError as err:
                code = grpc.StatusCode[err.grpc_code]
                trailing = (("retry-after", str(err.retry_after)),) if err.retry_after is not None else ()
                await context.abort(code, err.message, trailing_metadata=trailing)
            except asyncio.CancelledError:  # the client cancelled, or its deadline passed
                remaining = context.time_remaining()
                code = (grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0
                        else grpc.StatusCode.CANCELLED)
                raise
            except Exception:  # noqa: BLE001  (the client gets no traceback; the log does)
                logger.exception("unexpected error in %s", method)
                code = grpc.StatusCode.INTERNAL
                await context.abort(code, "internal error (see the server log)")
            finally:
                metrics.GRPC_REQUESTS.labels(method, code.name).inc()
                metrics.GRPC_LATENCY.labels(method, code.name).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(call, request_deserializer=request_class.FromString,
                                                   response_serializer=response_class.SerializeToString)

    def _check_key(self, context) -> None:
        if self.api_key is None:
            return
        given = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.api_key):
            raise ServingError("unauthorized", "missing or wrong API key: send the metadata "
                                               "`authorization: Bearer KEY`")

    # ---------------------------------------------------------------- Paddle Serving's pipeline RPC

    async def pipeline_inference(self, request, context):
        try:
            if request.name and request.name != self.settings.name:
                # Paddle Serving's check: an empty name (PipelineClient sends none) is any service
                raise ServingError("not_found", f"no service {request.name!r}: this server's pipeline is "
                                                f"{self.settings.name!r}")
            keys, values = list(request.key), list(request.value)
            for tensor in request.tensors:
                if tensor.elem_type != STRING_TENSOR:
                    raise ServingError("input", "this service takes images as key/value strings (base64 of the "
                                                f"file), or string tensors; tensor {tensor.name!r} has elem_type "
                                                f"{tensor.elem_type}")
                keys.append(tensor.name)
                values.append("".join(tensor.str_data))
            parsed = pipeline.parse_pairs(keys, values, request.logid, self.settings.max_images)
            reply = await pipeline_answer(self.state, parsed)
        except ServingError as err:
            if err.pipeline_status != 200:  # what the HTTP gateway refuses: a gRPC status
                raise
            reply = pipeline.error_reply(err)
        return pipeline_pb.Response(err_no=reply["err_no"], err_msg=reply["err_msg"], key=reply["key"],
                                    value=reply["value"])

    # ---------------------------------------------------------------- Open Inference Protocol

    async def server_live(self, request, context):
        return v2_pb.ServerLiveResponse(live=True)

    async def server_ready(self, request, context):
        return v2_pb.ServerReadyResponse(ready=not self.state.draining)

    async def model_ready(self, request, context):
        check_model(self.state, request.name, request.version or None)
        return v2_pb.ModelReadyResponse(ready=not self.state.draining)

    async def server_metadata(self, request, context):
        meta = v2.server_metadata()
        # binary_tensor_data is an HTTP extension: gRPC has raw contents of its own
        return v2_pb.ServerMetadataResponse(name=meta["name"], version=meta["version"])

    async def model_metadata(self, request, context):
        check_model(self.state, request.name, request.version or None)
        meta = self.state.metadata
        response = v2_pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                               platform=meta["platform"])
        for kind in ("inputs", "outputs"):
            for tensor in meta[kind]:
                getattr(response, kind).add(name=tensor["name"], datatype=tensor["datatype"],
                                            shape=tensor["shape"])
        return response

    async def model_infer(self, request, context):
        check_model(self.state, request.model_name, request.model_version or None)
        parsed = parse_infer_request(request, self.settings.max_images)
        outputs = await v2_outputs(self.state, parsed)
        return infer_response(self.state.deploy.model_name, request.id, outputs)


# -------------------------------------------------------------------- ModelInfer codec


def parse_infer_request(request, max_images: int) -> v2.InferRequest:
    """A ModelInferRequest as the HTTP codec's :class:`~.v2.InferRequest` (BYTES elements as bytes)."""
    if not request.inputs:
        raise ServingError("bad_request", "the request has no inputs: give one, 'image' (BYTES) or the model's "
                                          "FP32 input")
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise ServingError("bad_request", f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: give "
                                          "one per input, in input order")
    inputs = [_input_tensor(spec, raw[i] if raw else None, max_images) for i, spec in enumerate(request.inputs)]
    return v2.InferRequest(id=request.id or None, inputs=inputs, outputs=[(o.name, None) for o in request.outputs])


def _input_tensor(spec, raw: Optional[bytes], max_images: int) -> v2.Tensor:
    name, datatype, shape = spec.name, spec.datatype, list(spec.shape)
    if any(d < 0 for d in shape):
        raise ServingError("input", f"input {name!r}: shape {shape} has a negative dimension")
    tensor = v2.Tensor(name, datatype, shape, None)
    if raw is not None and spec.HasField("contents"):
        raise ServingError("bad_request", f"input {name!r} has contents and raw_input_contents: give one")
    if datatype == "BYTES":
        if tensor.count > max_images:
            raise v2.too_many_images(name, tensor.count, max_images)
        tensor.data = v2.bytes_elements(raw, name) if raw is not None else list(spec.contents.bytes_contents)
        sent = len(tensor.data)
    else:
        dtype = v2.DTYPES.get(datatype)
        if dtype is None:
            raise ServingError("input", f"input {name!r}: unknown datatype {datatype!r}")
        dtype = np.dtype(dtype).newbyteorder("<")
        if raw is not None:
            if len(raw) != tensor.count * dtype.itemsize:
                raise ServingError("input", f"input {name!r}: {len(raw)} bytes of raw contents for shape {shape} "
                                            f"of {datatype} (expected {tensor.count * dtype.itemsize})")
            tensor.data = np.frombuffer(raw, dtype=dtype).reshape(shape)
            return tensor
        field = CONTENTS_FIELDS.get(datatype)
        if field is None:
            raise ServingError("input", f"input {name!r}: {datatype} is sent as raw_input_contents only")
        values = getattr(spec.contents, field)
        sent = len(values)
        if sent == tensor.count:
            tensor.data = np.asarray(values, dtype=dtype).reshape(shape)
    if sent != tensor.count:
        raise ServingError("input", f"input {name!r}: shape {shape} has {tensor.count} elements but {sent} "
                                    "were sent")
    return tensor


def infer_response(model_name: str, request_id: str, outputs: List[tuple]):
    """A ModelInferResponse with every output as raw contents, in order (as Triton answers)."""
    response = v2_pb.ModelInferResponse(model_name=model_name, model_version=v2.VERSION, id=request_id)
    for name, datatype, array in outputs:
        response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
        if datatype == "BYTES":
            blob = v2.serialize_bytes(array)
        else:
            blob = np.ascontiguousarray(array, dtype=np.dtype(v2.DTYPES[datatype]).newbyteorder("<")).tobytes()
        response.raw_output_contents.append(blob)
    return response
