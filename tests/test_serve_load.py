"""benchmarks/serve_load.py, short and bounded (CI): a few seconds of 4 loopback clients against
1 and 2 workers and the in-process predictor on the small export, at fp32 and auto; no failed or
lost request."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ppcls_hrnet.evaluation.server_process import checkout_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_short_load_run_has_no_failed_or_lost_requests(small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    out = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--inference_model_dir", str(model_dir),
         "--images", str(image_dir), "--duration", "4", "--rounds", "2", "--warmup", "1", "--concurrency", "4",
         "--workers", "1", "2", "--precisions", "fp32", "auto", "--work_dir", str(tmp_path / "work"),
         "--json", str(out)],
        env=checkout_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    import openvino

    auto = "bf16" if "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "fp32"
    names = [run["name"] for run in report["runs"]]
    assert len(names) == 6 and names[0].startswith("in-process") and "2 workers" in names[2]
    assert [(run["precision"], run["resolved"]) for run in report["runs"]] == [("fp32", "fp32")] * 3 + [
        ("auto", auto)] * 3
    assert [run["protocol"] for run in report["runs"]] == ["in-process", "pipeline", "pipeline"] * 2  # the default
    for run in report["runs"]:
        assert run["requests"] > 10, run  # the clients really ran
        assert run["failed"] == 0 and run["lost"] == 0, run
        assert run["p50"] <= run["p99"]
    assert "| configuration | protocol | precision | workers | images/s |" in result.stdout


@pytest.mark.slow
def test_short_load_run_over_every_protocol(small_deploy, tmp_path):
    """HTTP v2 (binary tensors), gRPC v2 (tritonclient.grpc) and Paddle Serving's pipeline RPC against
    one worker: every answer checked against the in-process predictor's top-1."""
    model_dir, image_dir, _ = small_deploy
    out = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--inference_model_dir", str(model_dir),
         "--images", str(image_dir), "--duration", "3", "--rounds", "1", "--warmup", "1", "--concurrency", "4",
         "--workers", "1", "--precisions", "fp32", "--protocols", "http_v2", "grpc_v2", "pipeline_rpc",
         "--work_dir", str(tmp_path / "work"), "--json", str(out)],
        env=checkout_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [run["protocol"] for run in runs] == ["in-process", "http_v2", "grpc_v2", "pipeline_rpc"]
    for run in runs:
        assert run["requests"] > 5 and run["failed"] == 0 and run["lost"] == 0, run
