"""`ppcls-hrnet serve` lifecycle: ready only after the model is loaded, a worker killed with
SIGKILL is replaced while requests keep succeeding, SIGTERM/SIGINT drain in-flight requests and
exit 0 (also with Paddle's own SIGTERM handler loaded), start-up errors stop with one line."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from ppcls_hrnet.evaluation.server_process import ServerProcess, checkout_env, free_port
from test_serve import _samples, b64, call, images_of
from test_serve_limits import slow_png, wait_until


def predict_ok(server, image: bytes, timeout=60) -> bool:
    status, _, raw = call(server, "POST", "/imagenet/prediction",
                          json.dumps({"key": ["image"], "value": [b64(image)]}), timeout=timeout)
    return status == 200 and json.loads(raw)["err_no"] == 0


def scrape(server, name):
    return _samples(call(server, "GET", "/metrics")[2].decode(), name)


@pytest.fixture(scope="module")
def image(small_deploy):
    return images_of(small_deploy[1], 1)[0].read_bytes()


def start(small_deploy, tmp_path, *extra):
    return ServerProcess(["--inference_model_dir", str(small_deploy[0]), *extra],
                         log_path=tmp_path / "server.log").start()


def test_killed_worker_is_replaced_and_requests_keep_succeeding(small_deploy, image, tmp_path):
    with start(small_deploy, tmp_path, "--workers", "2") as server:
        server.wait_ready()
        wait_until(lambda: scrape(server, "ppcls_hrnet_workers_ready") == {"": 2.0}, 60, "two ready workers")
        before = server.worker_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        # the other worker answers while the replacement loads: every request succeeds
        results = [predict_ok(server, image) for _ in range(20)]
        assert all(results), server.log()
        wait_until(lambda: len(server.worker_pids()) == 2 and before[0] not in server.worker_pids(), 60,
                   "a replacement worker")
        wait_until(lambda: scrape(server, "ppcls_hrnet_workers_ready") == {"": 2.0}, 60, "two ready workers")
        assert scrape(server, "ppcls_hrnet_worker_restarts_total") == {"": 1.0}
        assert len(scrape(server, "ppcls_hrnet_model_load_seconds")) == 2  # the dead worker's gauge is gone
        assert all(predict_ok(server, image) for _ in range(10))
        assert f"worker {before[0]} died (signal SIGKILL)" in server.log()
        assert server.stop() == 0


def test_killed_only_worker_requests_wait_for_its_replacement(small_deploy, image, tmp_path):
    with start(small_deploy, tmp_path, "--workers", "1") as server:
        server.wait_ready()
        (pid,) = server.worker_pids()
        os.kill(pid, signal.SIGKILL)
        # connections wait in the supervisor's socket until the new worker accepts them
        assert all(predict_ok(server, image, timeout=60) for _ in range(5)), server.log()
        assert server.worker_pids() != [pid]
        assert server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_in_flight_requests_and_exits_0(small_deploy, image, tmp_path, sig):
    slow = slow_png()  # ~1 s to decode
    with start(small_deploy, tmp_path, "--workers", "1", "--max_images", "3") as server:
        server.wait_ready()
        replies = {}

        def slow_request():
            replies["slow"] = call(server, "POST", "/imagenet/prediction",
                                   json.dumps({"key": ["a", "b", "c"], "value": [b64(slow)] * 3}), timeout=60)

        thread = threading.Thread(target=slow_request)
        thread.start()
        wait_until(lambda: scrape(server, "ppcls_hrnet_queue_depth") == {"": 1.0}, 20, "the request in flight")
        start_time = time.monotonic()
        code = server.stop(sig, timeout=60)
        thread.join(60)
        status, _, raw = replies["slow"]
        assert status == 200 and json.loads(raw)["err_no"] == 0  # finished, not cut off
        assert code == 0, server.log()
        assert time.monotonic() - start_time < 30
        assert "FatalError" not in server.log() and "Traceback" not in server.log()
        with pytest.raises(OSError):  # nothing listens any more
            socket.create_connection((server.host, server.port), timeout=2).close()


def test_paddle_backend_worker_stops_cleanly_on_sigterm(small_deploy, image, tmp_path):
    """Importing Paddle installs a SIGTERM handler that aborts ("FatalError: Termination signal");
    the worker must still drain and exit 0."""
    with start(small_deploy, tmp_path, "--workers", "1", "--backend", "paddle") as server:
        server.wait_ready(timeout=180)
        assert predict_ok(server, image)
        (pid,) = server.worker_pids()
        assert server.stop(signal.SIGTERM) == 0
        log = server.log()
        assert "on paddle" in log and "FatalError" not in log and "Termination signal" not in log
        assert f"worker {pid} died" not in log


def test_ready_only_once_the_model_is_loaded(small_deploy, tmp_path):
    """The first 200 from /v2/health/ready comes after a worker has loaded the model; before that the
    port accepts connections but nothing answers (or refuses)."""
    server = start(small_deploy, tmp_path, "--workers", "1", "--backend", "paddle")  # a slow load
    try:
        answered_before_load = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            loaded = "serving HRNet_W18_small_v1" in server.log()
            try:
                status = call(server, "GET", "/v2/health/ready", timeout=0.5)[0]
            except OSError:
                status = None
            if status == 200:
                break
            if status is not None and not loaded:
                answered_before_load.append(status)
            time.sleep(0.1)
        assert status == 200 and "serving HRNet_W18_small_v1" in server.log()
        assert answered_before_load == []
        assert len(scrape(server, "ppcls_hrnet_model_load_seconds")) == 1
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("case, message", [
    ("missing-model", "does not exist"),
    ("port-taken", "cannot listen on 127.0.0.1"),
    ("model-not-loadable", "cannot serve"),
    ("both-sources", "not both"),
])
def test_startup_errors_are_one_line_and_exit_2(small_deploy, tmp_path, case, message):
    port = free_port()
    args = ["--inference_model_dir", str(small_deploy[0]), "--port", str(port)]
    holder = None
    if case == "missing-model":
        args[1] = str(tmp_path / "nowhere")
    elif case == "port-taken":
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
    elif case == "model-not-loadable":
        args += ["--backend", "onnxruntime", "--precision", "int8"]  # no int8 model was made
    elif case == "both-sources":
        args += ["--model_name", "HRNet_W18_C"]
    try:
        result = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "serve", *args], env=checkout_env(),
                                capture_output=True, text=True, timeout=180)
    finally:
        if holder is not None:
            holder.close()
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    if case == "model-not-loadable":
        assert "quantize" in result.stderr  # the worker's own message reaches the user


@pytest.mark.slow
def test_model_name_and_weights_are_exported_once_then_served(small_deploy, image, tmp_path):
    """`serve --model_name NAME --pretrained W`, as `predict` takes them: exported (in a child
    process, cached in $PPCLS_HRNET_HOME) with PaddleClas's ImageNet preprocessing at 224."""
    weights = small_deploy[2]  # 10-class HRNet_W18_small_v1
    env = {"PPCLS_HRNET_HOME": str(tmp_path / "home")}
    with ServerProcess(["--model_name", "HRNet_W18_small_v1", "--pretrained", str(weights)], env=env,
                       log_path=tmp_path / "server.log") as server:
        server.wait_ready(timeout=300)
        status, _, raw = call(server, "GET", "/v2/models/HRNet_W18_small_v1")
        meta = json.loads(raw)
        assert status == 200 and {"name": "x", "datatype": "FP32", "shape": [-1, 3, 224, 224]} in meta["inputs"]
        assert {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]} in meta["outputs"]
        assert predict_ok(server, image)
        assert server.stop() == 0
    assert list((tmp_path / "home" / "inference").iterdir())  # the cached export


def test_sigterm_while_the_model_loads_exits_0(small_deploy, tmp_path):
    server = start(small_deploy, tmp_path, "--workers", "1", "--backend", "paddle")  # a slow load
    try:
        wait_until(lambda: server.worker_pids(), 60, "a worker process")
        time.sleep(0.5)
        assert "serving HRNet" not in server.log()  # still loading
        begun = time.monotonic()
        assert server.stop(signal.SIGTERM, timeout=60) == 0, server.log()
        assert time.monotonic() - begun < 20
        assert "Traceback" not in server.log()
    finally:
        server.stop(signal.SIGKILL, timeout=10)
