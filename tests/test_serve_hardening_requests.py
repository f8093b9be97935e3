"""`ppcls-hrnet serve` against requests that are cheap to send and costly or crashing to answer:
deeply nested JSON, images that preprocessing would blow up (a 2048x1 PNG resized by its short
side), a timed-out request whose images must not be computed, and what the replies tell.

One server (1 worker, --timeout 0.5) on the small model with PaddleClas's resize_short + crop
preprocessing, where an image's aspect ratio decides how big its resize is.
"""
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ppcls_hrnet.evaluation.server_process import running_server
from test_serve import MODEL, _multipart, _samples, assert_no_traceback, b64, bomb_png, call, images_of

TIMEOUT = 0.5
BUDGET = 16 * 32 * 32  # the default --max_resize_multiple times the 32x32 model input
NESTED = b"[" * 100_000


def png(width, height):
    return cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))[1].tobytes()


@pytest.fixture(scope="module")
def resize_short_model(small_deploy, tmp_path_factory):
    """The small model, preprocessing as PaddleClas's ImageNet models: short side to 32, then crop 32."""
    model_dir, _, _ = small_deploy
    model = Path(shutil.copytree(model_dir, tmp_path_factory.mktemp("hardening") / "model"))
    config = yaml.safe_load((model / "inference.yml").read_text())
    ops = config["PreProcess"]["transform_ops"]
    assert list(ops[1]) == ["ResizeImage"]
    ops[1:2] = [{"ResizeImage": {"resize_short": 32}}, {"CropImage": {"size": 32}}]
    (model / "inference.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return model


@pytest.fixture(scope="module")
def server(resize_short_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve_hardening") / "server.log"
    with running_server(["--inference_model_dir", str(resize_short_model), "--workers", "1", "--max_images", "8",
                         "--max_image_pixels", "40000000", "--timeout", str(TIMEOUT)], log_path=log) as process:
        yield process


@pytest.fixture(scope="module")
def good_image(small_deploy):
    return images_of(small_deploy[1], 1)[0].read_bytes()


def metrics(server):
    status, _, raw = call(server, "GET", "/metrics")
    assert status == 200
    return raw.decode()


def count(text, name, labels=""):
    return _samples(text, name).get(labels, 0.0)


def pipeline(server, images):
    keys = [f"image_{i}" for i in range(len(images))]
    status, _, raw = call(server, "POST", "/imagenet/prediction",
                          json.dumps({"key": keys, "value": [b64(i) for i in images]}))
    assert_no_traceback(raw)
    return status, json.loads(raw)


def wait_for_empty_queue(server, timeout=30.0):
    deadline = time.monotonic() + timeout
    while count(metrics(server), "ppcls_hrnet_queue_depth") != 0.0:
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


# ------------------------------------------------------------------ JSON the parser refuses


def test_nested_json_is_a_bad_request_on_both_routes(server, good_image):
    status, _, raw = call(server, "POST", "/imagenet/prediction", NESTED)
    assert_no_traceback(raw)
    reply = json.loads(raw)
    assert status == 400 and reply["err_no"] == 5000 and "nested too deeply" in reply["err_msg"]
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", NESTED)
    assert_no_traceback(raw)
    assert status == 400 and "nested too deeply" in json.loads(raw)["error"]
    # binary extension: the nesting in the JSON header
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", NESTED,
                          {"Inference-Header-Content-Length": str(len(NESTED))})
    assert status == 400 and "nested too deeply" in json.loads(raw)["error"]
    status, _, raw = call(server, "POST", "/imagenet/prediction", b"\xff\xfe\x00{")  # not UTF-anything JSON
    assert status == 400 and json.loads(raw)["err_no"] == 5000
    log = server.log()
    assert "RecursionError" not in log and "Traceback" not in log
    assert pipeline(server, [good_image])[1]["err_no"] == 0  # the worker still answers


# ------------------------------------------------------------------ the resize budget


@pytest.mark.parametrize("width, height, resized", [(2048, 1, "65536x32"), (1, 2048, "32x65536")])
def test_thin_image_is_refused_before_it_is_resized(server, width, height, resized):
    image = png(width, height)
    assert len(image) < 200  # a few bytes on the wire, 2 MP (6 MB) once resized
    status, reply = pipeline(server, [image])
    assert status == 200 and reply["err_no"] == 5000
    message = reply["err_msg"]
    assert f"ResizeImage would turn this {width}x{height} image into {resized} = 2,097,152 pixels" in message
    assert f"over the limit of {BUDGET:,} pixels" in message
    assert "16 x the model input 32x32" in message and "--max_resize_multiple" in message
    request = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [b64(image)]}]}
    status, _, raw = call(server, "POST", f"/v2/models/{MODEL}/infer", json.dumps(request))
    assert status == 400 and "--max_resize_multiple" in json.loads(raw)["error"]


def test_elongated_image_within_the_budget_is_predicted(server):
    status, reply = pipeline(server, [png(400, 40)])  # resized to 320x32: 10 x the input
    assert status == 200 and reply["err_no"] == 0


# ------------------------------------------------------------------ timed-out requests


def test_timed_out_request_images_are_dropped_not_computed(server, good_image):
    wait_for_empty_queue(server)
    before = metrics(server)
    slow = [bomb_png(6000)] * 8  # 36 MP each, ~0.4 s to decode: ~3 s of work, 0.3 MB of request
    start = time.monotonic()
    status, reply = pipeline(server, slow)
    assert status == 200 and reply["err_no"] == 6000, reply
    assert time.monotonic() - start < TIMEOUT + 2
    # the worker is free once the image in progress is done, not after the 8
    start = time.monotonic()
    status, reply = pipeline(server, [good_image])
    waited = time.monotonic() - start
    assert status == 200 and reply["err_no"] == 0
    assert waited < 2.0, f"the next request waited {waited:.2f} s"
    after = metrics(server)
    dropped = '{outcome="dropped"}'
    assert count(after, "ppcls_hrnet_images_total", dropped) - count(before, "ppcls_hrnet_images_total", dropped) == 8
    # one batch for the good request, none for the timed-out one
    assert count(after, "ppcls_hrnet_model_runs_total") - count(before, "ppcls_hrnet_model_runs_total") == 1


# ------------------------------------------------------------------ what the replies tell


def test_opencv_refusal_names_the_limit_in_force(server):
    """A TIFF (no header check of ours) over --max_image_pixels: the workers' OpenCV refuses it, and the
    message gives the workers' limit, not OpenCV's default."""
    tiff = cv2.imencode(".tiff", np.zeros((7000, 7000), np.uint8))[1].tobytes()  # 49 MP > 40 MP
    status, reply = pipeline(server, [tiff])
    assert status == 200 and reply["err_no"] == 5000
    assert "40,000,000 pixels" in reply["err_msg"] and "2**30" not in reply["err_msg"], reply["err_msg"]


def test_predict_reply_does_not_tell_where_the_model_is(server, resize_short_model, good_image):
    body, headers = _multipart([("image", "a.png", good_image)])
    status, _, raw = call(server, "POST", "/predict", body, headers)
    reply = json.loads(raw)
    assert status == 200 and {"model_name", "backend", "precision", "results"} == set(reply)
    assert str(resize_short_model) not in raw.decode() and "model_dir" not in reply
