"""`ppcls-hrnet serve --grpc_port`: real clients through real loopback servers.

- Paddle Serving 0.9's own ``PipelineClient`` (the Python 3.8 venv of tests/test_paddle_serving.py)
  runs PaddleClas's ``pipeline_rpc_client.py`` unchanged but for its port, and gets the HTTP
  pipeline route's label and probability;
- ``tritonclient.grpc`` with its defaults gets the in-process predictor's top-k on real images;
- bad input gets the gRPC status (v2) or the err_no reply (Paddle Serving's RPC) a client expects,
  and the server keeps answering; ``/metrics`` counts the calls by method and code;
- with an API key: calls without it are UNAUTHENTICATED; a SIGKILLed worker is replaced and gRPC
  still answers; SIGTERM drains a call in flight.

Two servers: one per module for the protocol tests, one for auth and the lifecycle.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
tritongrpc = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

from ppcls_hrnet.evaluation.server_process import free_port, running_server  # noqa: E402
from ppcls_hrnet.runtime.options import RuntimeOptions  # noqa: E402
from ppcls_hrnet.runtime.predictor import ClassificationPredictor  # noqa: E402
from ppcls_hrnet.serving.messages import PIPELINE_SERVICE, V2_SERVICE  # noqa: E402
from ppcls_hrnet.serving.messages import pipeline as pipeline_pb  # noqa: E402
from ppcls_hrnet.serving.messages import v2 as v2_pb  # noqa: E402
from test_serve import _samples, b64, call, images_of  # noqa: E402
from test_serve_limits import slow_png, wait_until  # noqa: E402
from test_paddle_serving import serving_python  # noqa: E402,F401  (the Python 3.8 Paddle Serving venv)

ROOT = Path(__file__).resolve().parents[1]
MODEL = "HRNet_W18_small_v1"
KEY = "grpc-test-key"
MAX_IMAGES = 4
INFER = f"/{V2_SERVICE}/ModelInfer"
PIPELINE = f"/{PIPELINE_SERVICE}/inference"


def rpc(port, method, request, response_class, metadata=None, timeout=60):
    """One unary call on a fresh channel: (response, None) or (None, grpc.RpcError)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                                   response_deserializer=response_class.FromString)
        try:
            return stub(request, metadata=metadata, timeout=timeout), None
        except grpc.RpcError as err:
            return None, err


def pipeline_request(*images: bytes, keys=None, **fields):
    keys = keys or (["image"] if len(images) == 1 else [f"image_{i}" for i in range(len(images))])
    return pipeline_pb.Request(key=keys, value=[b64(i) for i in images], **fields)


def http_pipeline(server, *images, headers=None):
    keys = ["image"] if len(images) == 1 else [f"image_{i}" for i in range(len(images))]
    status, _, raw = call(server, "POST", "/imagenet/prediction",
                          json.dumps({"key": keys, "value": [b64(i) for i in images]}),
                          {"Content-Type": "application/json", **(headers or {})})
    assert status == 200, raw
    return json.loads(raw)


def image_input(*images: bytes):
    tensor = tritongrpc.InferInput("image", [len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array(list(images), dtype=np.object_))
    return tensor


def not_png():
    return b"these bytes are no image"


@pytest.fixture(scope="module")
def images(small_deploy):
    return [p.read_bytes() for p in images_of(small_deploy[1], MAX_IMAGES)]


@pytest.fixture(scope="module")
def image_paths(small_deploy):
    return images_of(small_deploy[1], MAX_IMAGES)


@pytest.fixture(scope="module")
def reference(small_deploy):
    """The in-process predictor on the same export with the server's backend and precision (auto)."""
    return ClassificationPredictor(small_deploy[0], RuntimeOptions(backend="openvino"), batch_size=8)


@pytest.fixture(scope="module")
def server(small_deploy, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve_grpc") / "server.log"
    grpc_port = free_port()
    with running_server(["--inference_model_dir", str(small_deploy[0]), "--workers", "2", "--backend", "openvino",
                         "--max_images", str(MAX_IMAGES), "--grpc_port", str(grpc_port)],
                        log_path=log) as process:
        process.grpc_port = grpc_port
        yield process


@pytest.fixture
def triton(server):
    client = tritongrpc.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}")
    yield client
    client.close()


# ------------------------------------------------------------------ Open Inference Protocol (tritonclient.grpc)


def test_tritonclient_grpc_gets_the_in_process_predictors_top_k(server, triton, image_paths, reference):
    assert triton.is_server_live() and triton.is_server_ready() and triton.is_model_ready(MODEL)
    assert triton.is_model_ready(MODEL, model_version="1")
    metadata = triton.get_model_metadata(MODEL, as_json=True)
    assert metadata["name"] == MODEL and metadata["versions"] == ["1"]
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]][0] == ("image", "BYTES")
    assert {o["name"] for o in metadata["outputs"]} >= {"class_ids", "scores", "label_names"}
    assert triton.get_server_metadata(as_json=True)["name"] == "ppcls-hrnet"

    result = triton.infer(MODEL, [image_input(*[p.read_bytes() for p in image_paths])], request_id="r1")
    expected = list(reference.predict([str(p) for p in image_paths]))
    assert result.get_response().id == "r1"
    ids, scores, names = result.as_numpy("class_ids"), result.as_numpy("scores"), result.as_numpy("label_names")
    assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == scores.shape == names.shape
    assert ids.shape[0] == len(image_paths)
    for row, e in enumerate(expected):
        assert ids[row].tolist() == e["class_ids"]
        np.testing.assert_allclose(scores[row], e["scores"], atol=1e-4)
        assert [n.decode() for n in names[row]] == e["label_names"]
    # one requested output only
    only = triton.infer(MODEL, [image_input(image_paths[0].read_bytes())],
                        outputs=[tritongrpc.InferRequestedOutput("scores")])
    assert only.as_numpy("class_ids") is None and only.as_numpy("scores").shape[0] == 1


def test_tritonclient_grpc_fp32_tensor_gets_the_models_output(server, triton, reference):
    batch = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    tensor = tritongrpc.InferInput(reference.deploy.input_name, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    result = triton.infer(MODEL, [tensor])
    (output,) = [o.name for o in result.get_response().outputs]
    np.testing.assert_allclose(result.as_numpy(output), reference.engine.run(batch), atol=1e-4)


def _infer_request(inputs, raw=(), model=MODEL, **fields):
    request = v2_pb.ModelInferRequest(model_name=model, raw_input_contents=list(raw), **fields)
    for spec in inputs:
        request.inputs.add(**spec)
    return request


def _bytes_raw(*elements):
    return b"".join(len(e).to_bytes(4, "little") + e for e in elements)


BAD_V2 = {
    "not an image": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES", shape=[1])],
                                                 [_bytes_raw(not_png())]),
                     "INVALID_ARGUMENT", "not a decodable image"),
    "image as FP32": (lambda imgs: _infer_request([dict(name="image", datatype="FP32", shape=[1])],
                                                  [b"\0\0\0\0"]),
                      "INVALID_ARGUMENT", "must be BYTES"),
    "wrong tensor shape": (lambda imgs: _infer_request([dict(name="x", datatype="FP32", shape=[1, 3, 8, 8])],
                                                       [bytes(4 * 3 * 8 * 8)]),
                           "INVALID_ARGUMENT", "has shape [1, 3, 8, 8]"),
    "shape and data disagree": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES", shape=[2])],
                                                            [_bytes_raw(imgs[0])]),
                                "INVALID_ARGUMENT", "has 2 elements but 1 were sent"),
    "too many images": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES",
                                                          shape=[MAX_IMAGES + 1])],
                                                    [_bytes_raw(*[imgs[0]] * (MAX_IMAGES + 1))]),
                        "RESOURCE_EXHAUSTED", "--max_images"),
    "unknown input": (lambda imgs: _infer_request([dict(name="photo", datatype="BYTES", shape=[1])],
                                                  [_bytes_raw(imgs[0])]),
                      "INVALID_ARGUMENT", "unknown input 'photo'"),
    "unknown model": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES", shape=[1])],
                                                  [_bytes_raw(imgs[0])], model="resnet"),
                      "NOT_FOUND", "unknown model 'resnet'"),
    "unknown version": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES", shape=[1])],
                                                    [_bytes_raw(imgs[0])], model_version="7"),
                        "NOT_FOUND", "unknown version '7'"),
    "unknown output": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES", shape=[1])],
                                                   [_bytes_raw(imgs[0])], outputs=[dict(name="boxes")]),
                       "INVALID_ARGUMENT", "unknown output 'boxes'"),
    "no input": (lambda imgs: _infer_request([]), "INVALID_ARGUMENT", "no inputs"),
    "raw contents for two inputs": (lambda imgs: _infer_request([dict(name="image", datatype="BYTES", shape=[1])],
                                                                [_bytes_raw(imgs[0])] * 2),
                                    "INVALID_ARGUMENT", "2 raw_input_contents for 1 inputs"),
}


@pytest.mark.parametrize("case", sorted(BAD_V2))
def test_v2_bad_input_gets_the_grpc_status_and_the_server_keeps_answering(server, triton, images, case):
    build, code, message = BAD_V2[case]
    reply, err = rpc(server.grpc_port, INFER, build(images), v2_pb.ModelInferResponse)
    assert reply is None and err.code().name == code, (err.code(), err.details())
    assert message in err.details() and "Traceback" not in err.details()
    assert triton.infer(MODEL, [image_input(images[0])]).as_numpy("class_ids").shape[0] == 1


def test_tritonclient_sees_the_status_and_message(server, triton):
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(MODEL, [image_input(not_png())])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "not a decodable image" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        triton.get_model_metadata("resnet")
    assert caught.value.status() == "StatusCode.NOT_FOUND"


def test_typed_contents_work_like_raw_contents(server, images):
    raw, _ = rpc(server.grpc_port, INFER, _infer_request([dict(name="image", datatype="BYTES", shape=[2])],
                                                         [_bytes_raw(*images[:2])]), v2_pb.ModelInferResponse)
    typed = _infer_request([dict(name="image", datatype="BYTES", shape=[2])])
    typed.inputs[0].contents.bytes_contents.extend(images[:2])
    reply, err = rpc(server.grpc_port, INFER, typed, v2_pb.ModelInferResponse)
    assert err is None and list(reply.raw_output_contents) == list(raw.raw_output_contents)
    assert [o.name for o in reply.outputs] == ["class_ids", "scores", "label_names"]


def test_a_message_over_max_body_mb_is_resource_exhausted(server, triton, images):
    big = _infer_request([dict(name="image", datatype="BYTES", shape=[1])], [_bytes_raw(bytes(21 << 20))])
    reply, err = rpc(server.grpc_port, INFER, big, v2_pb.ModelInferResponse)
    assert reply is None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert triton.infer(MODEL, [image_input(images[0])]).as_numpy("class_ids").shape[0] == 1


def test_a_call_past_its_deadline_stops_its_job_and_the_server_keeps_answering(server, triton, images):
    def metric(name):
        return _samples(call(server, "GET", "/metrics")[2].decode(), name)

    dropped = '{outcome="dropped"}'
    before = metric("ppcls_hrnet_images_total").get(dropped, 0)
    slow = slow_png()  # ~0.4 s to decode: the first is decoding when the deadline passes
    request = _infer_request([dict(name="image", datatype="BYTES", shape=[MAX_IMAGES])],
                             [_bytes_raw(*[slow] * MAX_IMAGES)])
    reply, err = rpc(server.grpc_port, INFER, request, v2_pb.ModelInferResponse, timeout=0.2)
    assert reply is None and err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err
    wait_until(lambda: metric("ppcls_hrnet_queue_depth") == {"": 0.0}, 20, "the job stopped")
    # stopped after the image in progress: the others are never computed
    assert metric("ppcls_hrnet_images_total").get(dropped, 0) - before >= MAX_IMAGES - 2
    assert triton.infer(MODEL, [image_input(images[0])]).as_numpy("class_ids").shape[0] == 1


# ------------------------------------------------------------------ Paddle Serving's pipeline RPC


def test_pipeline_rpc_answers_as_the_http_pipeline_route(server, images):
    for batch in ([images[0]], images[:3]):
        reply, err = rpc(server.grpc_port, PIPELINE, pipeline_request(*batch, logid=5), pipeline_pb.Response)
        assert err is None, err
        http = http_pipeline(server, *batch)
        assert (reply.err_no, reply.err_msg, list(reply.key)) == (0, "", ["label", "prob"])
        assert list(reply.value) == http["value"]
        assert len(reply.tensors) == 0


def test_pipeline_rpc_takes_string_tensors_and_ignores_the_profile_switch(server, images):
    plain, _ = rpc(server.grpc_port, PIPELINE, pipeline_request(images[0]), pipeline_pb.Response)
    # PipelineClient.predict(..., pack_tensor_format=True): the base64 string as a string tensor (elem_type 12)
    request = pipeline_pb.Request()
    request.tensors.add(name="image", elem_type=12, str_data=[b64(images[0])])
    tensor_reply, err = rpc(server.grpc_port, PIPELINE, request, pipeline_pb.Response)
    assert err is None and list(tensor_reply.value) == list(plain.value)
    # PipelineClient.predict(..., profile=True) adds key "pipeline.profile": "1"
    profiled = pipeline_request(images[0])
    profiled.key.append("pipeline.profile")
    profiled.value.append("1")
    reply, err = rpc(server.grpc_port, PIPELINE, profiled, pipeline_pb.Response)
    assert err is None and reply.err_no == 0 and list(reply.value) == list(plain.value)


BAD_PIPELINE = {
    "not an image": (lambda imgs: pipeline_request(not_png()), 5000, "not a decodable image"),
    "not base64": (lambda imgs: pipeline_pb.Request(key=["image"], value=["%%% not base64"]), 5000, "not base64"),
    "too many images": (lambda imgs: pipeline_request(*[imgs[0]] * (MAX_IMAGES + 1)), 5000, "--max_images"),
    "no image": (lambda imgs: pipeline_pb.Request(), 5000, "no image"),
    "keys and values differ": (lambda imgs: pipeline_pb.Request(key=["a", "b"], value=[b64(imgs[0])]), 5000,
                               '"key" has 2 entries but "value" has 1'),
    "repeated key": (lambda imgs: pipeline_request(imgs[0], imgs[1], keys=["image", "image"]), 5000,
                     "its own key"),
    "other service name": (lambda imgs: pipeline_request(imgs[0], name="ocr"), 3002, "no service 'ocr'"),
    "number tensor": (lambda imgs: pipeline_pb.Request(tensors=[pipeline_pb.Tensor(name="x", elem_type=1,
                                                                                   float_data=[1.0])]),
                      5000, "elem_type 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_PIPELINE))
def test_pipeline_rpc_bad_input_gets_an_err_no_reply_and_the_server_keeps_answering(server, images, case):
    build, err_no, message = BAD_PIPELINE[case]
    reply, err = rpc(server.grpc_port, PIPELINE, build(images), pipeline_pb.Response)
    assert err is None, err  # Paddle Serving answers its own errors in the reply, status OK
    assert reply.err_no == err_no and message in reply.err_msg, reply
    assert list(reply.key) == [] and list(reply.value) == []
    good, _ = rpc(server.grpc_port, PIPELINE, pipeline_request(images[0]), pipeline_pb.Response)
    assert good.err_no == 0


def test_the_service_name_is_checked_only_when_given(server, images):
    reply, _ = rpc(server.grpc_port, PIPELINE, pipeline_request(images[0], name="imagenet", method="prediction"),
                   pipeline_pb.Response)
    assert reply.err_no == 0


# ------------------------------------------------------------------ PaddleClas's pipeline_rpc_client.py


# PaddleClas's client connects to 127.0.0.1:9993 (its config.yml's rpc_port) and reads daisy.jpg in its
# folder; only the port is changed, where PipelineClient.connect receives it.
RUN_PADDLECLAS_CLIENT = r"""
import runpy, sys
from paddle_serving_server.pipeline import PipelineClient
port = sys.argv[2]
connect = PipelineClient.connect
PipelineClient.connect = lambda self, endpoints: connect(self, [e.replace(":9993", ":" + port) for e in endpoints])
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def run_paddleclas_rpc_client(python, port, image: bytes, work_dir: Path):
    """PaddleClas's deploy/paddleserving/pipeline_rpc_client.py with Paddle Serving 0.9's PipelineClient;
    what it printed, parsed back into a Response."""
    from google.protobuf import text_format

    (work_dir / "daisy.jpg").write_bytes(image)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy",
                                                                   "grpc_proxy")}
    client = ROOT / "deploy" / "paddleserving" / "pipeline_rpc_client.py"
    done = subprocess.run([python, "-c", RUN_PADDLECLAS_CLIENT, str(client), str(port)], cwd=work_dir,
                          capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    printed = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("PipelineClient::"))
    return text_format.Parse(printed, pipeline_pb.Response()), printed


def test_paddleclas_pipeline_rpc_client_gets_the_http_routes_label_and_prob(serving_python, server, images,
                                                                          tmp_path):
    reply, printed = run_paddleclas_rpc_client(serving_python, server.grpc_port, images[1], tmp_path)
    http = http_pipeline(server, images[1])
    assert reply.err_no == 0 and list(reply.key) == ["label", "prob"], printed
    assert list(reply.value) == http["value"], printed
    label, prob = (eval(v, {}) for v in reply.value)  # noqa: S307  (Python list literals, as PaddleClas writes them)
    assert len(label) == len(prob) == 1 and 0.0 <= prob[0] <= 1.0


def test_the_pipeline_proto_is_paddle_servings(serving_python, tmp_path):
    """Our pipeline_service.proto, field for field, is the one Paddle Serving 0.9 compiled in."""
    from google.protobuf import descriptor_pb2

    code = ("import sys; from paddle_serving_server.pipeline.proto import pipeline_service_pb2 as p; "
            "sys.stdout.buffer.write(p.DESCRIPTOR.serialized_pb)")
    done = subprocess.run([serving_python, "-c", code], capture_output=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = descriptor_pb2.FileDescriptorProto.FromString(done.stdout)
    ours = descriptor_pb2.FileDescriptorProto()
    pipeline_pb.DESCRIPTOR.CopyToProto(ours)

    def shape(file):
        messages = {m.name: [(f.name, f.number, f.label, f.type, f.type_name) for f in m.field]
                    for m in file.message_type}
        services = {s.name: [(m.name, m.input_type, m.output_type) for m in s.method] for s in file.service}
        return file.package, file.syntax, messages, services

    assert shape(ours) == shape(theirs)


def test_committed_descriptors_match_the_protos(request, tmp_path):
    """descriptors.py is what `python -m ppcls_hrnet.serving.protos.generate` makes (with this Python's
    grpcio-tools when installed, else the Paddle Serving venv's)."""
    try:
        import grpc_tools  # noqa: F401
        python = sys.executable
    except ImportError:
        python = request.getfixturevalue("serving_python")
    done = subprocess.run([python, "-m", "ppcls_hrnet.serving.protos.generate", "--check"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr


# ------------------------------------------------------------------ metrics


def test_metrics_count_grpc_calls_by_method_and_code(server, images):
    def counts():
        return _samples(call(server, "GET", "/metrics")[2].decode(), "ppcls_hrnet_grpc_requests_total")

    ok = f'{{code="OK",method="{INFER}"}}'
    bad = f'{{code="NOT_FOUND",method="{INFER}"}}'
    pipeline_ok = f'{{code="OK",method="{PIPELINE}"}}'
    before = counts()
    for _ in range(2):
        rpc(server.grpc_port, INFER, BAD_V2["unknown model"][0](images), v2_pb.ModelInferResponse)
    rpc(server.grpc_port, INFER, _infer_request([dict(name="image", datatype="BYTES", shape=[1])],
                                                [_bytes_raw(images[0])]), v2_pb.ModelInferResponse)
    rpc(server.grpc_port, PIPELINE, pipeline_request(images[0]), pipeline_pb.Response)
    after = counts()
    assert after.get(bad, 0) - before.get(bad, 0) == 2
    assert after.get(ok, 0) - before.get(ok, 0) == 1
    assert after.get(pipeline_ok, 0) - before.get(pipeline_ok, 0) == 1
    latency = _samples(call(server, "GET", "/metrics")[2].decode(), "ppcls_hrnet_grpc_request_duration_seconds_count")
    assert latency[ok] >= 1


def test_every_error_kind_has_a_grpc_status_code():
    from ppcls_hrnet.serving.errors import KINDS, ServingError

    for kind in KINDS:
        assert isinstance(grpc.StatusCode[ServingError(kind, "x").grpc_code], grpc.StatusCode)


def test_typed_numeric_contents_parse_like_raw_ones():
    from ppcls_hrnet.serving.errors import ServingError
    from ppcls_hrnet.serving.grpc_server import parse_infer_request

    batch = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    typed = _infer_request([dict(name="x", datatype="FP32", shape=list(batch.shape))])
    typed.inputs[0].contents.fp32_contents.extend(batch.ravel().tolist())
    raw = _infer_request([dict(name="x", datatype="FP32", shape=list(batch.shape))], [batch.tobytes()])
    for request in (typed, raw):
        (tensor,) = parse_infer_request(request, 4).inputs
        assert tensor.data.dtype == np.float32 and np.array_equal(tensor.data, batch)
    half = _infer_request([dict(name="x", datatype="FP16", shape=[1])])
    with pytest.raises(ServingError, match="raw_input_contents only"):
        parse_infer_request(half, 4)
    short = _infer_request([dict(name="x", datatype="FP32", shape=[2])])
    short.inputs[0].contents.fp32_contents.append(1.0)
    with pytest.raises(ServingError, match="has 2 elements but 1 were sent"):
        parse_infer_request(short, 4)
    wrong_size = _infer_request([dict(name="x", datatype="FP32", shape=[2])], [b"\0" * 7])
    with pytest.raises(ServingError, match="7 bytes of raw contents"):
        parse_infer_request(wrong_size, 4)


def test_messages_and_tritonclient_share_a_process():
    """tritonclient registers inference.* in protobuf's default pool; ours live in a private one."""
    from tritonclient.grpc import service_pb2

    ours = v2_pb.ModelInferRequest(model_name=MODEL, id="7")
    ours.inputs.add(name="image", datatype="BYTES", shape=[1])
    theirs = service_pb2.ModelInferRequest.FromString(ours.SerializeToString())
    assert (theirs.model_name, theirs.id, theirs.inputs[0].name) == (MODEL, "7", "image")


# ------------------------------------------------------------------ auth and lifecycle (a server of their own)


@pytest.fixture(scope="module")
def keyed_server(small_deploy, tmp_path_factory):
    """2 workers, an API key, 3 images per request: for auth, respawn and the drain (the last test stops it)."""
    log = tmp_path_factory.mktemp("serve_grpc_keyed") / "server.log"
    grpc_port = free_port()
    with running_server(["--inference_model_dir", str(small_deploy[0]), "--workers", "2", "--max_images", "3",
                         "--grpc_port", str(grpc_port)], env={"PPCLS_HRNET_API_KEY": KEY},
                        log_path=log) as process:
        process.grpc_port = grpc_port
        yield process


AUTH = (("authorization", f"Bearer {KEY}"),)


def keyed_metrics(server, name):
    return _samples(call(server, "GET", "/metrics", headers={"Authorization": f"Bearer {KEY}"})[2].decode(), name)


def test_calls_without_the_key_are_unauthenticated(keyed_server, images):
    port = keyed_server.grpc_port
    infer = _infer_request([dict(name="image", datatype="BYTES", shape=[1])], [_bytes_raw(images[0])])
    for metadata in (None, (("authorization", "Bearer wrong"),), (("authorization", KEY),)):
        for method, request, response in ((INFER, infer, v2_pb.ModelInferResponse),
                                          (PIPELINE, pipeline_request(images[0]), pipeline_pb.Response),
                                          (f"/{V2_SERVICE}/ModelMetadata", v2_pb.ModelMetadataRequest(name=MODEL),
                                           v2_pb.ModelMetadataResponse)):
            reply, err = rpc(port, method, request, response, metadata=metadata)
            assert reply is None and err.code() == grpc.StatusCode.UNAUTHENTICATED, (method, metadata)
            assert "authorization: Bearer KEY" in err.details()
    # probes need no key, as /v2/health/*
    live, err = rpc(port, f"/{V2_SERVICE}/ServerLive", v2_pb.ServerLiveRequest(), v2_pb.ServerLiveResponse)
    assert err is None and live.live
    reply, err = rpc(port, INFER, infer, v2_pb.ModelInferResponse, metadata=AUTH)
    assert err is None and reply.outputs[0].name == "class_ids"
    client = tritongrpc.InferenceServerClient(url=f"127.0.0.1:{port}")
    try:
        result = client.infer(MODEL, [image_input(images[0])], headers={"authorization": f"Bearer {KEY}"})
        assert result.as_numpy("class_ids").shape[0] == 1
    finally:
        client.close()
    assert keyed_metrics(keyed_server, "ppcls_hrnet_grpc_requests_total")[
        f'{{code="UNAUTHENTICATED",method="{INFER}"}}'] >= 3


def test_killed_worker_is_replaced_and_grpc_keeps_answering(keyed_server, images):
    port = keyed_server.grpc_port
    request = pipeline_request(images[0])
    before = keyed_server.worker_pids()
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    # a fresh channel per call: each is a new connection, which the kernel gives to a listening worker
    answered = 0
    deadline = time.monotonic() + 60
    while answered < 10 and time.monotonic() < deadline:
        reply, err = rpc(port, PIPELINE, request, pipeline_pb.Response, metadata=AUTH, timeout=30)
        if err is None:
            assert reply.err_no == 0
            answered += 1
        else:  # a connection queued on the killed worker's socket is reset: UNAVAILABLE, retried
            assert err.code() == grpc.StatusCode.UNAVAILABLE, err
    assert answered == 10, keyed_server.log()
    wait_until(lambda: len(keyed_server.worker_pids()) == 2 and before[0] not in keyed_server.worker_pids(), 60,
               "a replacement worker")
    wait_until(lambda: keyed_metrics(keyed_server, "ppcls_hrnet_workers_ready") == {"": 2.0}, 60,
               "two ready workers")
    assert keyed_metrics(keyed_server, "ppcls_hrnet_worker_restarts_total") == {"": 1.0}
    # the replacement listens on the gRPC port too: every one of 20 new connections is answered
    for _ in range(20):
        reply, err = rpc(port, PIPELINE, request, pipeline_pb.Response, metadata=AUTH, timeout=30)
        assert err is None and reply.err_no == 0, err


def test_sigterm_drains_an_in_flight_grpc_call(keyed_server):
    """The last test of the keyed server: it stops it."""
    slow = slow_png()  # ~0.4 s to decode, three of them
    replies = {}

    def slow_call():
        request = _infer_request([dict(name="image", datatype="BYTES", shape=[3])], [_bytes_raw(*[slow] * 3)])
        replies["slow"] = rpc(keyed_server.grpc_port, INFER, request, v2_pb.ModelInferResponse, metadata=AUTH,
                              timeout=60)

    thread = threading.Thread(target=slow_call)
    thread.start()
    wait_until(lambda: keyed_metrics(keyed_server, "ppcls_hrnet_queue_depth") == {"": 1.0}, 20, "the call in flight")
    start = time.monotonic()
    code = keyed_server.stop(signal.SIGTERM, timeout=60)
    thread.join(60)
    reply, err = replies["slow"]
    assert err is None, (err, keyed_server.log())  # finished, not cut off
    assert reply.outputs[0].shape[0] == 3
    assert code == 0, keyed_server.log()
    assert time.monotonic() - start < 30
    assert "Traceback" not in keyed_server.log()
    # nothing listens on the gRPC port any more
    _, err = rpc(keyed_server.grpc_port, f"/{V2_SERVICE}/ServerLive", v2_pb.ServerLiveRequest(),
                 v2_pb.ServerLiveResponse, timeout=5)
    assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------------ start-up errors


@pytest.mark.parametrize("case, message", [
    ("grpc-port-taken", "cannot listen for gRPC on 127.0.0.1"),
    # a second server on the port with SO_REUSEPORT (as each worker listens): the bind alone would succeed
    ("grpc-port-shared", "cannot listen for gRPC on 127.0.0.1"),
    ("grpc-port-is-the-http-port", "give gRPC a port of its own"),
])
def test_grpc_startup_errors_are_one_line_and_exit_2(small_deploy, case, message):
    from ppcls_hrnet.evaluation.server_process import checkout_env

    port, grpc_port = free_port(), free_port()
    holder = None
    if case in ("grpc-port-taken", "grpc-port-shared"):
        holder = socket.socket()
        if case == "grpc-port-shared":
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", grpc_port))
        holder.listen(1)
    else:
        grpc_port = port
    try:
        result = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "serve", "--inference_model_dir",
                                 str(small_deploy[0]), "--port", str(port), "--grpc_port", str(grpc_port)],
                                env=checkout_env(), capture_output=True, text=True, timeout=180)
    finally:
        if holder is not None:
            holder.close()
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------ against Paddle Serving itself


@pytest.mark.slow
def test_paddleclas_rpc_client_prints_the_same_from_the_bundle_and_from_us(serving_python, small_deploy, tmp_path):
    """PaddleClas's pipeline_rpc_client.py against Paddle Serving 0.9's own pipeline (Paddle 2.6, its rpc_port)
    and against `ppcls-hrnet serve --grpc_port`, same model and image: the same reply (label equal,
    probability within 1e-4), printed in the same shape."""
    sys.path.insert(0, str(ROOT / "deploy" / "paddleserving"))
    from bundle import PaddleServingBundle

    from ppcls_hrnet.export.serving import write_serving_confs

    model_dir = tmp_path / "inference"
    import shutil

    shutil.copytree(small_deploy[0], model_dir)
    write_serving_confs(model_dir)
    image = images_of(small_deploy[1], 3)[2].read_bytes()
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    with PaddleServingBundle(model_dir, python=serving_python) as bundle:
        theirs, their_text = run_paddleclas_rpc_client(serving_python, bundle.rpc_port, image, tmp_path / "theirs")
    grpc_port = free_port()
    # fp32, as Paddle Serving runs it (--precision auto may pick bf16, which can flip a near tie)
    with running_server(["--inference_model_dir", str(model_dir), "--workers", "1", "--precision", "fp32",
                         "--grpc_port", str(grpc_port)]):
        ours, our_text = run_paddleclas_rpc_client(serving_python, grpc_port, image, tmp_path / "ours")
    print("Paddle Serving:\n" + their_text + "\nppcls-hrnet serve:\n" + our_text)
    assert theirs.err_no == ours.err_no == 0
    assert list(theirs.key) == list(ours.key) == ["label", "prob"]
    assert theirs.value[0] == ours.value[0]
    assert eval(ours.value[1], {}) == pytest.approx(eval(theirs.value[1], {}), abs=1e-4)  # noqa: S307
    assert [line.split(":")[0] for line in their_text.split("\n")] == [line.split(":")[0] for line in
                                                                      our_text.split("\n")]
