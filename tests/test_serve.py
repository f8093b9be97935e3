"""`ppcls-hrnet serve`: a real server (2 worker processes) on a loopback port, both protocols,
the multipart route, metrics, and every request error; answers checked against the
in-process predictor on the same export.

One server per module (started once, bounded readiness polling, stopped in teardown);
the limits, auth and lifecycle tests have their own servers (test_serve_limits.py,
test_serve_lifecycle.py).
"""
import base64
import http.client
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from ppcls_hrnet.runtime.options import RuntimeOptions
from ppcls_hrnet.runtime.predictor import ClassificationPredictor
from ppcls_hrnet.evaluation.server_process import running_server

MODEL = "HRNet_W18_small_v1"
PIXEL_LIMIT = r"more pixels than allowed|over the limit of [\d,]+ pixels"


def call(server, method, path, body=None, headers=None, timeout=60):
    """(status, headers, body bytes) on a fresh connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def call_json(server, method, path, data=None, headers=None):
    body = None if data is None else json.dumps(data)
    status, response_headers, raw = call(server, method, path, body, {"Content-Type": "application/json",
                                                                       **(headers or {})})
    assert_no_traceback(raw)
    return status, response_headers, json.loads(raw)


def assert_no_traceback(raw: bytes):
    text = raw.decode("utf-8", "replace")
    assert "Traceback" not in text and 'File "' not in text and ".py\", line" not in text


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("utf8")


def images_of(image_dir, n):
    return sorted(Path(image_dir).rglob("*.png"))[:n]


def noise_png(side=48, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    ok, png = cv2.imencode(".png", rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    return png.tobytes()


def bomb_png(side=20000):
    """A tiny PNG that decodes to side x side pixels (400 MP for 20000): a decompression bomb."""
    import zlib

    row = b"\x00" + b"\x00" * side  # filter byte + one grey row
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def model(small_deploy):
    model_dir, image_dir, _ = small_deploy
    return model_dir, image_dir


@pytest.fixture(scope="module")
def reference(model):
    """The in-process predictor on the same export: what every answer must equal."""
    return ClassificationPredictor(model[0], RuntimeOptions(backend="openvino"), batch_size=8)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    model_dir, _ = model
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with running_server(["--inference_model_dir", str(model_dir), "--workers", "2", "--max_images", "8"],
                        log_path=log) as process:
        yield process


# ------------------------------------------------------------------ Paddle Serving pipeline


def test_pipeline_request_exactly_as_paddleclas_client_sends(server, model, reference):
    """PaddleClas deploy/paddleserving/pipeline_http_client.py: requests.post(url, data=json.dumps(data))."""
    requests = pytest.importorskip("requests")
    image = images_of(model[1], 1)[0]
    with open(image, "rb") as file:
        data = {"key": ["image"], "value": [b64(file.read())]}
    r = requests.post(url=f"{server.url}/imagenet/prediction", data=json.dumps(data), timeout=60)
    assert r.status_code == 200
    reply = r.json()
    (expected,) = reference.predict([str(image)])
    assert reply["err_no"] == 0 and reply["err_msg"] == ""
    assert reply["key"] == ["label", "prob"]
    # classification_web_service.py: str() of the top-1 label list and of the top-1 probability list
    assert reply["value"][0] == str([expected["label_names"][0].replace(",", "")])
    probs = eval(reply["value"][1], {})  # noqa: S307  (a Python list literal, as PaddleClas writes it)
    assert len(probs) == 1 and probs[0] == pytest.approx(expected["scores"][0], abs=1e-4)


def test_pipeline_several_images_are_one_batch_in_order(server, model, reference):
    images = images_of(model[1], 5)
    keys = [f"image_{i}" for i in range(len(images))]
    status, _, reply = call_json(server, "POST", "/imagenet/prediction",
                                 {"key": keys, "value": [b64(p.read_bytes()) for p in images], "logid": 7})
    expected = list(reference.predict([str(p) for p in images]))
    assert status == 200 and reply["err_no"] == 0
    assert eval(reply["value"][0], {}) == [e["label_names"][0] for e in expected]  # noqa: S307
    assert eval(reply["value"][1], {}) == pytest.approx([e["scores"][0] for e in expected], abs=1e-4)  # noqa: S307


@pytest.mark.parametrize("body, status, err_no, message", [
    ({"key": ["image"], "value": ["not base64 at all!"]}, 200, 5000, "not base64"),
    ({"key": ["image"], "value": [b64(b"these bytes are no image")]}, 200, 5000, "not a decodable image"),
    # OpenCV's limit (OPENCV_IO_MAX_IMAGE_PIXELS), or ppcls_hrnet.data's header check where it has one
    ({"key": ["image"], "value": [b64(bomb_png())]}, 200, 5000, PIXEL_LIMIT),
    ({"key": ["image", "image"], "value": ["AAAA", "AAAA"]}, 200, 5000, "its own key"),
    ({"key": ["image"], "value": []}, 200, 5000, '"key" has 1 entries but "value" has 0'),
    ({"key": [], "value": []}, 200, 5000, "no image"),
    ({"key": ["image"] * 9, "value": ["AAAA"] * 9}, 200, 5000, "at most 8"),
    ("{not json", 400, 5000, "not JSON"),
], ids=["bad-base64", "not-an-image", "decompression-bomb", "repeated-key", "key-value-mismatch", "empty",
        "too-many-images", "bad-json"])
def test_pipeline_errors_are_err_no_with_a_message(server, body, status, err_no, message):
    raw = body if isinstance(body, str) else json.dumps(body)
    got_status, _, reply_raw = call(server, "POST", "/imagenet/prediction", raw)
    assert_no_traceback(reply_raw)
    reply = json.loads(reply_raw)
    assert (got_status, reply["err_no"]) == (status, err_no)
    assert re.search(message, reply["err_msg"]), reply["err_msg"]
    assert reply["key"] == [] and reply["value"] == []


def test_pipeline_bad_image_among_good_fails_the_request_naming_it(server, model):
    good = b64(images_of(model[1], 1)[0].read_bytes())
    _, _, reply = call_json(server, "POST", "/imagenet/prediction",
                            {"key": ["a", "b"], "value": [good, b64(b"junk")]})
    assert reply["err_no"] == 5000 and "'b'" in reply["err_msg"] and "'a'" not in reply["err_msg"]


def test_pipeline_unknown_service_name_is_no_service(server, model):
    status, _, reply = call_json(server, "POST", "/resnet/prediction", {"key": ["image"], "value": ["AAAA"]})
    assert status == 200 and reply["err_no"] == 3002 and "/imagenet/prediction" in reply["err_msg"]


def test_pipeline_get_is_method_not_allowed(server):
    status, _, raw = call(server, "GET", "/imagenet/prediction")
    assert status == 405 and json.loads(raw)["err_no"] == 5000


# ------------------------------------------------------------------ Open Inference Protocol v2


def test_v2_tritonclient_with_default_settings(server, model, reference):
    httpclient = pytest.importorskip("tritonclient.http")
    client = httpclient.InferenceServerClient(f"{server.host}:{server.port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    metadata = client.get_model_metadata(MODEL)
    assert [i["name"] for i in metadata["inputs"]] == ["image", "x"]
    assert [o["name"] for o in metadata["outputs"]] == ["class_ids", "scores", "label_names", "probabilities"]

    images = images_of(model[1], 3)
    tensor = httpclient.InferInput("image", [len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array([p.read_bytes() for p in images], dtype=np.object_))
    result = client.infer(MODEL, [tensor])  # binary input, binary outputs: tritonclient's defaults
    expected = list(reference.predict([str(p) for p in images]))
    ids, scores, names = result.as_numpy("class_ids"), result.as_numpy("scores"), result.as_numpy("label_names")
    k = len(expected[0]["class_ids"])
    assert ids.dtype == np.int64 and ids.shape == (3, k) and scores.dtype == np.float32 and names.shape == (3, k)
    assert list(ids[:, 0]) == [e["class_ids"][0] for e in expected]
    assert np.allclose(scores[:, 0], [e["scores"][0] for e in expected], atol=1e-4)
    assert [n.decode() for n in names[:, 0]] == [e["label_names"][0] for e in expected]

    batch = np.stack([reference.transforms(p.read_bytes()) for p in images])
    tensor = httpclient.InferInput("x", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    probabilities = client.infer(MODEL, [tensor]).as_numpy("probabilities")
    assert probabilities.shape == (3, 10)
    assert np.allclose(probabilities, reference.engine.run(batch), atol=1e-4)


def test_v2_json_image_and_tensor(server, model, reference):
    image = images_of(model[1], 1)[0]
    (expected,) = reference.predict([str(image)])
    request = {"id": "r1", "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                       "data": [b64(image.read_bytes())]}],
               "outputs": [{"name": "label_names"}, {"name": "class_ids"}]}
    status, headers, reply = call_json(server, "POST", f"/v2/models/{MODEL}/infer", request)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert reply["id"] == "r1" and reply["model_name"] == MODEL
    assert [o["name"] for o in reply["outputs"]] == ["label_names", "class_ids"]
    assert reply["outputs"][1]["datatype"] == "INT64" and reply["outputs"][1]["data"] == expected["class_ids"]
    assert reply["outputs"][0]["data"] == expected["label_names"]

    batch = reference.transforms(image.read_bytes())[None]
    request = {"inputs": [{"name": "x", "shape": list(batch.shape), "datatype": "FP32",
                           "data": batch.tolist()}]}  # nested lists, as the spec allows
    status, _, reply = call_json(server, "POST", f"/v2/models/{MODEL}/versions/1/infer", request)
    (output,) = reply["outputs"]
    assert status == 200 and output["name"] == "probabilities" and output["shape"] == [1, 10]
    assert np.allclose(output["data"], reference.engine.run(batch)[0], atol=1e-4)


def _binary_request(inputs, outputs=None):
    """Triton's binary tensor extension by hand: JSON header + raw tensors."""
    header = {"inputs": [{k: v for k, v in spec.items() if k != "raw"} for spec in inputs]}
    if outputs:
        header["outputs"] = outputs
    head = json.dumps(header).encode()
    return head + b"".join(spec["raw"] for spec in inputs), {"Inference-Header-Content-Length": str(len(head))}


@pytest.mark.parametrize("case, status, message", [
    ("wrong-shape", 400, "the model takes [-1, 3, 32, 32]"),
    ("wrong-datatype", 400, "must be FP32"),
    ("unknown-input", 400, "unknown input 'pixels'"),
    ("two-inputs", 400, "give one input"),
    ("bad-base64", 400, "not base64"),
    ("not-an-image", 400, "element 1: not a decodable image"),
    ("unknown-output", 400, "unknown output 'boxes'"),
    ("binary-size-mismatch", 400, "999 bytes for shape [1, 3, 32, 32] of FP32 (expected 12288)"),
    ("bad-header-length", 400, "Inference-Header-Content-Length"),
    ("unknown-model", 404, "unknown model 'ResNet50'"),
    ("unknown-version", 404, "unknown version '7'"),
    ("not-json", 400, "not JSON"),
])
def test_v2_errors(server, model, case, status, message):
    good = b64(images_of(model[1], 1)[0].read_bytes())
    zeros = np.zeros((1, 3, 32, 32), np.float32)
    path, body, headers = f"/v2/models/{MODEL}/infer", None, {}
    image_input = {"name": "image", "shape": [1], "datatype": "BYTES", "data": [good]}
    if case == "wrong-shape":
        body = {"inputs": [{"name": "x", "shape": [1, 3, 30, 32], "datatype": "FP32",
                            "data": [0.0] * (3 * 30 * 32)}]}
    elif case == "wrong-datatype":
        body = {"inputs": [{"name": "x", "shape": [1, 3, 32, 32], "datatype": "INT32", "data": [0] * 3072}]}
    elif case == "unknown-input":
        body = {"inputs": [dict(image_input, name="pixels")]}
    elif case == "two-inputs":
        body = {"inputs": [image_input, dict(image_input, name="x")]}
    elif case == "bad-base64":
        body = {"inputs": [dict(image_input, data=["%%%"])]}
    elif case == "not-an-image":
        body = {"inputs": [dict(image_input, shape=[2], data=[good, b64(b"junk")])]}
    elif case == "unknown-output":
        body = {"inputs": [image_input], "outputs": [{"name": "boxes"}]}
    elif case == "binary-size-mismatch":
        body, headers = _binary_request([{"name": "x", "shape": [1, 3, 32, 32], "datatype": "FP32",
                                          "parameters": {"binary_data_size": 999}, "raw": zeros.tobytes()}])
    elif case == "bad-header-length":
        body, headers = b'{"inputs": []}', {"Inference-Header-Content-Length": "500"}
    elif case == "unknown-model":
        path, body = "/v2/models/ResNet50/infer", {"inputs": [image_input]}
    elif case == "unknown-version":
        path, body = f"/v2/models/{MODEL}/versions/7/infer", {"inputs": [image_input]}
    elif case == "not-json":
        body = b"{{{"
    raw_body = body if isinstance(body, bytes) else json.dumps(body)
    got, _, raw = call(server, "POST", path, raw_body, headers)
    assert_no_traceback(raw)
    assert got == status and message in json.loads(raw)["error"], raw


def test_v2_binary_by_hand_matches_json(server, model, reference):
    images = images_of(model[1], 2)
    raw = b"".join(struct.pack("<I", len(p.read_bytes())) + p.read_bytes() for p in images)
    body, headers = _binary_request([{"name": "image", "shape": [2, 1], "datatype": "BYTES",
                                      "parameters": {"binary_data_size": len(raw)}, "raw": raw}],
                                    outputs=[{"name": "scores", "parameters": {"binary_data": True}},
                                             {"name": "class_ids", "parameters": {"binary_data": False}}])
    status, response_headers, reply = call(server, "POST", f"/v2/models/{MODEL}/infer", body, headers)
    assert status == 200
    size = int(response_headers["inference-header-content-length"])
    header = json.loads(reply[:size])
    scores_spec, ids_spec = header["outputs"]
    scores = np.frombuffer(reply[size:], "<f4").reshape(scores_spec["shape"])
    expected = list(reference.predict([str(p) for p in images]))
    assert scores_spec["parameters"]["binary_data_size"] == len(reply) - size
    assert ids_spec["data"][::ids_spec["shape"][1]] == [e["class_ids"][0] for e in expected]
    assert np.allclose(scores[:, 0], [e["scores"][0] for e in expected], atol=1e-4)


def test_v2_health_and_metadata(server):
    assert call_json(server, "GET", "/v2/health/live")[0] == 200
    assert call_json(server, "GET", "/v2/health/ready")[2] == {"ready": True}
    status, _, meta = call_json(server, "GET", f"/v2/models/{MODEL}")
    assert status == 200 and meta["name"] == MODEL and meta["versions"] == ["1"]
    assert {"name": "x", "datatype": "FP32", "shape": [-1, 3, 32, 32]} in meta["inputs"]
    assert call_json(server, "GET", "/v2")[2]["extensions"] == ["binary_tensor_data"]
    assert call_json(server, "GET", "/v2/models/ResNet50")[0] == 404


def test_unknown_route_is_a_json_404_and_the_server_still_answers(server, model):
    status, _, raw = call(server, "GET", "/no/such/route")
    assert status == 404 and json.loads(raw)["error"] == "no route GET /no/such/route"
    status, _, reply = call_json(server, "POST", "/imagenet/prediction",
                                 {"key": ["image"], "value": [b64(images_of(model[1], 1)[0].read_bytes())]})
    assert status == 200 and reply["err_no"] == 0


# ------------------------------------------------------------------ multipart /predict


def _multipart(files):
    boundary = "ppclsboundary7d93"
    parts = []
    for field, name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_predict_multipart_answers_what_predict_save_dir_writes(server, model, reference, tmp_path):
    from ppcls_hrnet.cli import main

    images = images_of(model[1], 3)
    main(["predict", "--inference_model_dir", str(model[0]), "--infer_imgs", *map(str, images),
          "--backend", "openvino", "--save_dir", str(tmp_path)])
    written = json.loads((tmp_path / "predictions.json").read_text())
    body, headers = _multipart([("image", p.name, p.read_bytes()) for p in images])
    status, _, raw = call(server, "POST", "/predict", body, headers)
    reply = json.loads(raw)
    assert status == 200
    # the same document, but the server does not tell where its model files are
    assert "model_dir" in written and "model_dir" not in reply
    assert set(reply) == set(written) - {"model_dir"} and reply["model_name"] == written["model_name"] == MODEL
    assert [r["file_name"] for r in reply["results"]] == [p.name for p in images]
    for got, want in zip(reply["results"], written["results"]):
        assert set(got) == set(want)
        assert got["class_ids"][0] == want["class_ids"][0] and got["label_names"][0] == want["label_names"][0]


def test_predict_multipart_bad_file_is_its_own_error(server, model):
    good = images_of(model[1], 1)[0]
    body, headers = _multipart([("image", "good.png", good.read_bytes()), ("image", "bad.jpg", b"junk")])
    status, _, raw = call(server, "POST", "/predict", body, headers)
    results = json.loads(raw)["results"]
    assert status == 200 and "error" not in results[0] and "not a decodable image" in results[1]["error"]
    body, headers = _multipart([("image", "bad.jpg", b"junk")])
    status, _, raw = call(server, "POST", "/predict", body, headers)
    assert status == 400 and "error" in json.loads(raw)["results"][0]
    status, _, raw = call(server, "POST", "/predict", b"{}", {"Content-Type": "application/json"})
    assert status == 400 and "multipart/form-data" in json.loads(raw)["error"]


# ------------------------------------------------------------------ metrics


def _samples(text, name):
    """{labels string: value} of one metric's samples."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)  # label values may hold braces
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_metrics_count_requests_by_route_and_status(server, model):
    def scrape():
        status, headers, raw = call(server, "GET", "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        return raw.decode()

    route = 'method="POST",route="/{service}/prediction",status="200"'
    before = scrape()
    good = {"key": ["image"], "value": [b64(images_of(model[1], 1)[0].read_bytes())]}
    for _ in range(4):
        assert call_json(server, "POST", "/imagenet/prediction", good)[2]["err_no"] == 0
    call(server, "GET", "/nowhere")
    after = scrape()

    def count(text, metric, labels):
        return _samples(text, metric).get("{" + labels + "}", 0.0)

    assert count(after, "ppcls_hrnet_requests_total", route) - count(before, "ppcls_hrnet_requests_total", route) == 4
    assert (count(after, "ppcls_hrnet_request_duration_seconds_count", route)
            - count(before, "ppcls_hrnet_request_duration_seconds_count", route)) == 4
    assert count(after, "ppcls_hrnet_requests_total", 'method="GET",route="unmatched",status="404"') >= 1
    assert _samples(after, "ppcls_hrnet_queue_depth") == {"": 0.0}
    assert _samples(after, "ppcls_hrnet_workers_ready") == {"": 2.0}
    loads = _samples(after, "ppcls_hrnet_model_load_seconds")
    assert len(loads) == 2 and all(0 < v < 120 for v in loads.values())  # one per worker (pid label)
    assert _samples(after, "ppcls_hrnet_images_total")['{outcome="predicted"}'] >= 4


# ------------------------------------------------------------------ a predictor that fails


def test_predictor_errors_never_reach_the_client_as_a_traceback(small_deploy, caplog):
    """In process (Starlette's TestClient): a predictor raising an unexpected exception gives the
    protocol's internal error, the traceback goes to the server log only."""
    from starlette.testclient import TestClient

    from ppcls_hrnet.serving.app import create_app
    from ppcls_hrnet.serving.settings import ServeSettings

    model_dir, image_dir, _ = small_deploy
    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="openvino"))

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /srv/models/private.key")

    predictor.predict_encoded = broken
    predictor.engine.run = broken
    app = create_app(ServeSettings(model_dir=str(model_dir)), predictor)
    image = b64(images_of(image_dir, 1)[0].read_bytes())
    with TestClient(app, raise_server_exceptions=False) as client:
        pipeline = client.post("/imagenet/prediction", content=json.dumps({"key": ["image"], "value": [image]}))
        v2 = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": [
            {"name": "x", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}]})
        upload = client.post("/predict", files={"image": ("a.png", b"\x89PNG")})
        health = client.get("/v2/health/ready")
    assert pipeline.status_code == 200 and pipeline.json()["err_no"] == 10000
    assert v2.status_code == 500 and v2.json() == {"error": "internal error (see the server log)"}
    assert upload.status_code == 500
    for response in (pipeline, v2, upload):
        assert_no_traceback(response.content)
        assert b"secret" not in response.content and b"RuntimeError" not in response.content
    assert health.status_code == 200
    assert "secret detail" in caplog.text and "Traceback" in caplog.text  # the log has it


def test_neither_supervisor_nor_openvino_workers_load_paddle(server):
    """`serve` is Paddle-optional: the supervisor never imports it, OpenVINO workers neither."""
    pids = [server.process.pid, *server.worker_pids()]
    assert len(pids) == 3
    for pid in pids:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libpaddle" not in maps, pid
    assert "openvino" in Path(f"/proc/{pids[1]}/maps").read_text()  # the check can fail: workers map OpenVINO


def test_defaults_loopback_paddleclas_port_and_name(monkeypatch):
    from ppcls_hrnet.cli import build_parser
    from ppcls_hrnet.cli.serve import settings_from_args
    from ppcls_hrnet.base.cpus import available_cpus

    monkeypatch.delenv("PPCLS_HRNET_API_KEY", raising=False)
    settings = settings_from_args(build_parser("serve").parse_args(["serve", "--inference_model_dir", "m"]))
    assert (settings.host, settings.port, settings.name) == ("127.0.0.1", 18080, "imagenet")
    assert settings.workers == min(2, available_cpus()) and settings.api_key is None
    assert settings.math_threads == max(1, available_cpus() // settings.workers)
    assert settings.openvino_pinning is (False if settings.workers > 1 else None)
    assert settings.max_body_bytes == 20 << 20
    monkeypatch.setenv("PPCLS_HRNET_API_KEY", "sekret-xyz")
    settings = settings_from_args(build_parser("serve").parse_args(["serve", "--inference_model_dir", "m"]))
    assert settings.api_key == "sekret-xyz" and "sekret-xyz" not in repr(settings)
