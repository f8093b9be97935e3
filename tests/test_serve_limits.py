"""`ppcls-hrnet serve` limits and API key, on one server with tight settings:
body size (413), images per request, decoded pixels, the bounded queue (503 + Retry-After),
the per-request timeout, and `Authorization: Bearer` on every route but health."""
import json
import re
import threading
import time

import numpy as np
import pytest

from ppcls_hrnet.evaluation.server_process import running_server
from test_serve import MODEL, PIXEL_LIMIT, _multipart, _samples, assert_no_traceback, b64, bomb_png, call, images_of

KEY = "s3cret-key-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}


def slow_png(side=6000):
    """A legal image that takes 0.35-0.5 s to decode (36 MP, 2.4 MB) on our CPUs. The slow requests send
    it twice, 7x the server's --timeout 0.1, so a faster CPU still times out (one image against
    --timeout 0.3 did not time out on one CI machine)."""
    import cv2

    img = np.zeros((side, side, 3), np.uint8)
    img[::7, ::5] = 200
    return cv2.imencode(".png", img)[1].tobytes()


@pytest.fixture(scope="module")
def slow_image():
    return slow_png()


@pytest.fixture(scope="module")
def server(small_deploy, tmp_path_factory):
    model_dir, _, _ = small_deploy
    log = tmp_path_factory.mktemp("serve_limits") / "server.log"
    with running_server(["--inference_model_dir", str(model_dir), "--workers", "1", "--max_body_mb", "8",
                         "--max_images", "2", "--max_image_pixels", "40000000", "--max_queue", "1",
                         "--timeout", "0.1"],
                        env={"PPCLS_HRNET_API_KEY": KEY}, log_path=log) as process:
        yield process


def metric(server, name):
    status, _, raw = call(server, "GET", "/metrics", headers=AUTH)
    assert status == 200
    return _samples(raw.decode(), name)


def wait_until(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


@pytest.fixture(autouse=True)
def idle(server):
    """Each test starts with the queue empty (a timed-out job finishes in the background)."""
    wait_until(lambda: metric(server, "ppcls_hrnet_queue_depth") == {"": 0.0}, what="an empty queue")


def pipeline(server, values, headers=AUTH):
    keys = [f"image_{i}" for i in range(len(values))]
    status, response_headers, raw = call(server, "POST", "/imagenet/prediction",
                                         json.dumps({"key": keys, "value": [b64(v) for v in values]}), headers)
    assert_no_traceback(raw)
    return status, response_headers, json.loads(raw)


# ------------------------------------------------------------------ API key


def test_api_key_required_on_every_route_but_health(server, small_deploy):
    image = images_of(small_deploy[1], 1)[0].read_bytes()
    status, headers, reply = pipeline(server, [image], headers={})
    assert status == 401 and reply["err_no"] == 5000 and "API key" in reply["err_msg"]
    assert headers["www-authenticate"].startswith("Bearer")
    assert pipeline(server, [image], headers={"Authorization": "Bearer wrong"})[0] == 401
    assert pipeline(server, [image], headers={"Authorization": KEY})[0] == 401  # no scheme
    for method, path in [("GET", "/metrics"), ("GET", f"/v2/models/{MODEL}"), ("GET", f"/v2/models/{MODEL}/ready"),
                         ("POST", f"/v2/models/{MODEL}/infer"), ("POST", "/predict"), ("GET", "/v2"),
                         ("GET", "/no/such/route")]:
        status, _, raw = call(server, method, path, b"{}" if method == "POST" else None)
        assert status == 401, (method, path)
        assert "API key" in json.loads(raw)["error"]
    assert call(server, "GET", "/v2/health/live")[0] == 200
    assert call(server, "GET", "/v2/health/ready")[0] == 200
    status, _, reply = pipeline(server, [image])
    assert status == 200 and reply["err_no"] == 0


def test_tritonclient_with_the_key(server, small_deploy):
    httpclient = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(f"{server.host}:{server.port}")
    tensor = httpclient.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([images_of(small_deploy[1], 1)[0].read_bytes()], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="API key"):
        client.infer(MODEL, [tensor])
    # a copy: tritonclient adds its Inference-Header-Content-Length to the dict it is given
    assert client.infer(MODEL, [tensor], headers=dict(AUTH)).as_numpy("class_ids").shape[0] == 1


# ------------------------------------------------------------------ sizes and counts


def test_body_over_the_limit_is_413_before_it_is_read(server):
    body = b"x" * (9 << 20)
    status, _, raw = call(server, "POST", "/imagenet/prediction", body, AUTH)
    assert status == 413 and json.loads(raw)["err_no"] == 5000 and "8 MB" in json.loads(raw)["err_msg"]
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", body, AUTH)
    assert status == 413 and "--max_body_mb" in json.loads(raw)["error"]


def test_chunked_body_over_the_limit_is_413(server):
    import http.client

    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        chunks = (b"y" * (1 << 20) for _ in range(10))  # 10 MB without a Content-Length
        conn.request("POST", f"/v2/models/{MODEL}/infer", body=chunks, headers=AUTH, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413 and "--max_body_mb" in json.loads(response.read())["error"]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered 413 and closed while we were still sending: also a refusal
    finally:
        conn.close()
    assert call(server, "GET", "/v2/health/ready")[0] == 200


def test_images_per_request(server, small_deploy):
    images = [p.read_bytes() for p in images_of(small_deploy[1], 3)]
    status, _, reply = pipeline(server, images)
    assert status == 200 and reply["err_no"] == 5000 and "at most 2 (--max_images)" in reply["err_msg"]
    assert pipeline(server, images[:2])[2]["err_no"] == 0
    request = {"inputs": [{"name": "image", "shape": [3], "datatype": "BYTES", "data": [b64(i) for i in images]}]}
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", json.dumps(request), AUTH)
    assert status == 400 and "at most 2 images" in json.loads(raw)["error"]
    zeros = {"inputs": [{"name": "x", "shape": [3, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 9216}]}
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", json.dumps(zeros), AUTH)
    assert status == 400 and "at most 2" in json.loads(raw)["error"]
    body, headers = _multipart([("image", f"{i}.png", data) for i, data in enumerate(images)])
    status, _, raw = call(server, "POST", "/predict", body, {**headers, **AUTH})
    assert status == 400 and "at most 2" in json.loads(raw)["error"]


def test_decoded_pixels_over_the_limit_are_refused_not_decoded(server):
    status, _, reply = pipeline(server, [bomb_png(7000)])  # 49 MP > 40 MP, 50 kB on the wire
    assert status == 200 and reply["err_no"] == 5000 and re.search(PIXEL_LIMIT, reply["err_msg"])
    assert "40000000" in reply["err_msg"] or "40,000,000" in reply["err_msg"]  # --max_image_pixels reached it
    assert metric(server, "ppcls_hrnet_images_total")['{outcome="rejected"}'] >= 1


# ------------------------------------------------------------------ queue and timeout


def test_timeout_then_full_queue_then_recovery(server, slow_image, small_deploy):
    replies = {}

    def slow_request():
        replies["slow"] = pipeline(server, [slow_image, slow_image])

    thread = threading.Thread(target=slow_request)
    thread.start()
    try:
        # the slow job holds the worker's only queue slot (--max_queue 1) for ~0.8 s
        wait_until(lambda: metric(server, "ppcls_hrnet_queue_depth") == {"": 1.0}, what="the slow job queued")
        status, headers, reply = pipeline(server, [images_of(small_deploy[1], 1)[0].read_bytes()])
        assert status == 503 and headers["retry-after"] == "1"
        assert reply["err_no"] == 3001 and "--max_queue 1" in reply["err_msg"]
        request = {"inputs": [{"name": "x", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}]}
        status, headers, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", json.dumps(request), AUTH)
        assert status == 503 and headers["retry-after"] == "1" and "busy" in json.loads(raw)["error"]
    finally:
        thread.join(30)
    status, _, reply = replies["slow"]
    assert status == 200 and reply["err_no"] == 6000 and "0.1 s" in reply["err_msg"]  # --timeout 0.1
    wait_until(lambda: metric(server, "ppcls_hrnet_queue_depth") == {"": 0.0}, what="the queue drained")
    assert pipeline(server, [images_of(small_deploy[1], 1)[0].read_bytes()])[2]["err_no"] == 0


def test_v2_timeout_is_504(server, slow_image):
    request = {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": [b64(slow_image)] * 2}]}
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", json.dumps(request), AUTH)
    assert status == 504 and "--timeout" in json.loads(raw)["error"]
