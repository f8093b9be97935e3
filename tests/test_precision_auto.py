"""``--precision auto``: bf16 where the engine computes it natively and the model keeps its answers, else fp32.

The CPU's capability list is faked with ``PPCLS_HRNET_CPU_CAPABILITIES`` (what
another CPU's engine would report); without it, what OpenVINO and Paddle say
about this CPU decides. Every surface is checked through its real entry point:
the predictor, the CLI's start-up line, the server's /v2/models and /metrics,
check-precision's record in inference.yml.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import make_fashion_subset
from ppcls_hrnet.evaluation.server_process import running_server
from ppcls_hrnet.runtime.backends import BACKENDS, create_engine
from ppcls_hrnet.runtime.contract import read_deploy_config, record_precision_check
from ppcls_hrnet.runtime.options import RuntimeOptions
from ppcls_hrnet.runtime.precision import BF16_MIN_AGREEMENT, CAPABILITIES_ENV
from ppcls_hrnet.runtime.predictor import ClassificationPredictor

WITH_BF16 = "FP32,BF16,INT8"
WITHOUT_BF16 = "FP32 int8"  # spaces and lower case are read too


@pytest.fixture
def model_copy(small_deploy, tmp_path):
    model_dir, images, _ = small_deploy
    return Path(shutil.copytree(model_dir, tmp_path / "inference")), images


def images_of(image_dir, n=4):
    return sorted(str(p) for p in Path(image_dir).rglob("*.png"))[:n]


def openvino_has_bf16() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


# ------------------------------------------------------------------ the rule, per backend

@pytest.mark.parametrize("name", list(BACKENDS))
@pytest.mark.parametrize("capabilities", [WITH_BF16, WITHOUT_BF16])
def test_each_backend_resolves_auto_from_the_capability_list(small_deploy, monkeypatch, name, capabilities):
    monkeypatch.setenv(CAPABILITIES_ENV, capabilities)
    backend = BACKENDS[name]
    deploy = read_deploy_config(small_deploy[0])
    used = backend.resolve(deploy, RuntimeOptions(backend=name))
    native = "BF16" in capabilities and "bf16" in backend.cpu_precisions
    assert (used.backend, used.precision) == (name, "bf16" if native else "fp32")
    # asked for by name, a precision is never changed
    assert backend.resolve(deploy, RuntimeOptions(backend=name, precision="fp32")).precision == "fp32"
    # GPU: auto is fp32 whatever the CPU has
    gpu = backend.resolve(deploy, RuntimeOptions(backend=name, use_gpu=True))
    assert gpu.precision == "fp32"
    # Paddle's bf16 is oneDNN's: without oneDNN it has none, whatever the CPU
    assert backend.resolve(deploy, RuntimeOptions(backend=name, enable_mkldnn=False)).precision == (
        "bf16" if native and name != "paddle" else "fp32")


def test_without_an_override_the_engine_is_asked(small_deploy, monkeypatch):
    monkeypatch.delenv(CAPABILITIES_ENV, raising=False)
    _, used = create_engine(read_deploy_config(small_deploy[0]), RuntimeOptions(backend="openvino"))
    assert used.precision == ("bf16" if openvino_has_bf16() else "fp32")


@pytest.mark.parametrize("capabilities, precision", [(WITH_BF16, "bf16"), (WITHOUT_BF16, "fp32")])
def test_auto_runs_exactly_the_precision_it_names(small_deploy, monkeypatch, capabilities, precision):
    """auto's scores are those of the engine asked for by that precision, to the bit."""
    model_dir, image_dir = small_deploy[:2]
    images = images_of(image_dir)
    monkeypatch.setenv(CAPABILITIES_ENV, capabilities)
    auto = ClassificationPredictor(model_dir, RuntimeOptions(), batch_size=4)
    named = ClassificationPredictor(model_dir, RuntimeOptions(precision=precision), batch_size=4)
    assert (auto.backend, auto.options.precision) == ("openvino", precision)
    assert [r["scores"] for r in auto.predict(images)] == [r["scores"] for r in named.predict(images)]


def test_a_model_whose_bf16_check_failed_runs_fp32(model_copy, monkeypatch, caplog):
    model_dir, _ = model_copy
    monkeypatch.setenv(CAPABILITIES_ENV, WITH_BF16)
    record_precision_check(model_dir, "bf16", {"top1_agreement": BF16_MIN_AGREEMENT - 0.005, "images": 1000,
                                               "reference": "openvino fp32"})
    caplog.set_level("INFO", logger="ppcls_hrnet")
    for name in ("openvino", "paddle"):
        _, used = create_engine(read_deploy_config(model_dir), RuntimeOptions(backend=name))
        assert used.precision == "fp32"
    assert "bf16 changed the top-1 class of 1.00 % of 1000 images" in caplog.text
    # asked for by name, bf16 still runs
    assert create_engine(read_deploy_config(model_dir), RuntimeOptions(precision="bf16"))[1].precision == "bf16"
    record_precision_check(model_dir, "bf16", {"top1_agreement": BF16_MIN_AGREEMENT, "images": 1000})
    assert create_engine(read_deploy_config(model_dir), RuntimeOptions())[1].precision == "bf16"


def test_bad_precision_names_auto_among_the_choices():
    from ppcls_hrnet.errors import ConfigError

    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, fp16, bf16, int8"):
        RuntimeOptions(precision="fp64")


# ------------------------------------------------------------------ the CLI

def _cli(args, capabilities=None, **kwargs):
    env = dict(os.environ)
    env.pop(CAPABILITIES_ENV, None)
    if capabilities:
        env[CAPABILITIES_ENV] = capabilities
    return subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, **kwargs)


def _startup_line(stderr):
    return next(line for line in stderr.splitlines() if re.search(r" on \w+ \(", line))


@pytest.mark.parametrize("capabilities, precision", [(WITH_BF16, "bf16"), (WITHOUT_BF16, "fp32")])
def test_cli_names_the_precision_auto_chose(small_deploy, tmp_path, capabilities, precision):
    model_dir, image_dir = small_deploy[:2]
    common = ["predict", "--inference_model_dir", str(model_dir), "--infer_imgs", str(image_dir)]
    auto = _cli([*common, "--save_dir", str(tmp_path / "auto")], capabilities)
    assert auto.returncode == 0, auto.stderr
    assert f"on openvino ({precision}, " in _startup_line(auto.stderr)
    named = _cli([*common, "--precision", precision, "--save_dir", str(tmp_path / "named")], capabilities)
    assert named.returncode == 0, named.stderr
    assert auto.stdout == named.stdout.replace(str(tmp_path / "named"), str(tmp_path / "auto"))
    saved = json.loads((tmp_path / "auto" / "predictions.json").read_text())
    assert saved["precision"] == precision


def test_cli_fp32_is_fp32_whatever_the_cpu(small_deploy):
    model_dir, image_dir = small_deploy[:2]
    run = _cli(["predict", "--inference_model_dir", str(model_dir), "--infer_imgs", str(image_dir),
                "--precision", "fp32"], WITH_BF16)
    assert run.returncode == 0 and "on openvino (fp32, " in _startup_line(run.stderr)


# ------------------------------------------------------------------ the server

@pytest.mark.parametrize("capabilities, precision", [(WITH_BF16, "bf16"), (WITHOUT_BF16, "fp32")])
def test_server_reports_the_precision_in_metadata_metrics_and_log(small_deploy, tmp_path, capabilities,
                                                                  precision):
    import urllib.request

    env = {CAPABILITIES_ENV: capabilities}
    with running_server(["--inference_model_dir", str(small_deploy[0]), "--workers", "1"], env=env,
                        log_path=tmp_path / "server.log") as server:
        with urllib.request.urlopen(f"{server.url}/v2/models/HRNet_W18_small_v1", timeout=30) as reply:
            meta = json.load(reply)
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as reply:
            metrics = reply.read().decode()
        log = server.log()
    assert meta["parameters"] == {"backend": "openvino", "precision": precision}
    assert (f'ppcls_hrnet_model_info{{backend="openvino",model="HRNet_W18_small_v1",precision="{precision}"}} 1.0'
            in metrics)
    assert re.search(rf"worker \d+ ready \(openvino, {precision}, ", log), log


# ------------------------------------------------------------------ check-precision

def test_check_precision_measures_records_and_auto_obeys(model_copy, tmp_path):
    """Real engines on real Fashion-MNIST images; the record then decides what auto runs."""
    model_dir, _ = model_copy
    data = make_fashion_subset(tmp_path / "fm", 10, 40)
    run = _cli(["check-precision", "--inference_model_dir", str(model_dir),
                "--eval_list", str(data / "test_list.txt")])
    assert run.returncode == 0, run.stderr
    check = yaml.safe_load((model_dir / "inference.yml").read_text())["PrecisionCheck"]["bf16"]
    assert check["images"] == 40 and check["reference"] == "openvino fp32"
    assert 0.0 <= check["top1_agreement"] <= 1.0
    assert f"{check['top1_agreement'] * 100:.2f} % of the images" in run.stdout
    for engine in ("openvino-bf16", "paddle-bf16"):
        assert engine in run.stdout
    # the record rules: below the bar auto runs fp32 (startup line), at it bf16
    record_precision_check(model_dir, "bf16", dict(check, top1_agreement=0.9))
    images = ["--infer_imgs", str(data / "images" / "test")]
    low = _cli(["predict", "--inference_model_dir", str(model_dir), *images], WITH_BF16)
    assert "on openvino (fp32, " in _startup_line(low.stderr) and "auto needs at most 0.5 %" in low.stderr
    record_precision_check(model_dir, "bf16", dict(check, top1_agreement=1.0))
    high = _cli(["predict", "--inference_model_dir", str(model_dir), *images], WITH_BF16)
    assert "on openvino (bf16, " in _startup_line(high.stderr)


def test_check_precision_without_a_list_is_one_line(model_copy, tmp_path):
    run = _cli(["check-precision", "--inference_model_dir", str(model_copy[0]),
                "--eval_list", str(tmp_path / "missing.txt")])
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "missing.txt" in run.stderr
    assert "PrecisionCheck" not in (model_copy[0] / "inference.yml").read_text()
