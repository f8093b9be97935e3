"""A cold start that never imports Paddle, and OpenVINO's compiled-model cache.

Predicting on OpenVINO or ONNX Runtime from an exported model must not import
Paddle (most of a cold start's time); the timing itself is a benchmark
(benchmarks/cold_start.py, docs/benchmarks.md), not a test.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import QUICK_START, fashion_overrides

PROBE = """
import json, sys
from ppcls_hrnet.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "paddle": sorted(m for m in sys.modules if m == "paddle" or m.startswith("paddle."))}))
"""


def predict_in_fresh_process(*args):
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result


@pytest.fixture
def model_copy(small_deploy, tmp_path):
    model_dir, images, weights = small_deploy
    return Path(shutil.copytree(model_dir, tmp_path / "inference")), images, weights


@pytest.mark.parametrize("backend", ["openvino", "auto"])
def test_openvino_prediction_does_not_import_paddle(model_copy, backend):
    model_dir, image_dir, _ = model_copy
    report, result = predict_in_fresh_process("--inference_model_dir", str(model_dir), "--infer_imgs",
                                              str(image_dir), "--backend", backend)
    assert report["code"] == 0
    assert report["paddle"] == []
    assert "on openvino" in result.stderr  # auto chose OpenVINO, as the README says
    assert result.stdout.count("filename: ") == 12


def test_onnxruntime_prediction_of_a_converted_model_does_not_import_paddle(model_copy):
    from ppcls_hrnet.runtime.paddle.onnx import ensure_onnx

    model_dir, image_dir, _ = model_copy
    ensure_onnx(model_dir)  # converting runs paddle2onnx (and Paddle); predicting afterwards does not
    report, result = predict_in_fresh_process("--inference_model_dir", str(model_dir), "--infer_imgs",
                                              str(image_dir), "--backend", "onnxruntime")
    assert report["code"] == 0 and report["paddle"] == []
    assert result.stdout.count("filename: ") == 12


def test_paddle_backend_still_imports_paddle(model_copy):
    """The probe can fail: the Paddle Inference backend does import Paddle."""
    model_dir, image_dir, _ = model_copy
    report, _ = predict_in_fresh_process("--inference_model_dir", str(model_dir), "--infer_imgs",
                                         str(image_dir), "--backend", "paddle")
    assert report["code"] == 0 and "paddle" in report["paddle"]


def test_openvino_cache_is_filled_reused_and_never_stale(small_deploy, tmp_path):
    """The second engine loads the compiled blob; after a re-export rewrites the
    weights in the same folder the cache must not serve the old model."""
    import paddle

    from ppcls_hrnet.config import load_config
    from ppcls_hrnet.runtime.contract import read_deploy_config
    from ppcls_hrnet.export.from_config import export_from_config
    from ppcls_hrnet.models import create_model
    from ppcls_hrnet.runtime.engines.openvino import OpenVINOEngine
    from ppcls_hrnet.runtime.options import RuntimeOptions
    from ppcls_hrnet.runtime.backends import create_engine

    model_dir, image_dir, _ = small_deploy
    model_dir = Path(shutil.copytree(model_dir, tmp_path / "inference"))
    cache = tmp_path / "ov_cache"
    batch = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    first = OpenVINOEngine(model_dir / "inference.pdmodel", cache_dir=cache).run(batch)
    blobs = sorted(cache.iterdir())
    assert blobs, "OpenVINO wrote nothing to its cache"
    again = OpenVINOEngine(model_dir / "inference.pdmodel", cache_dir=cache).run(batch)
    assert sorted(cache.iterdir()) == blobs  # served from the cache, nothing new compiled
    np.testing.assert_array_equal(first, again)

    # same graph, new weights, same folder (a re-export)
    paddle.seed(123)
    weights = tmp_path / "other.pdparams"
    paddle.save(create_model("HRNet_W18_small_v1", class_num=10).state_dict(), str(weights))
    data = image_dir.parents[1]
    cfg = load_config(QUICK_START, fashion_overrides(data) + [f"Global.pretrained_model={weights}"])
    export_from_config(cfg, legacy=True, save_dir=model_dir)
    cached = OpenVINOEngine(model_dir / "inference.pdmodel", cache_dir=cache).run(batch)
    paddle_out, _ = create_engine(read_deploy_config(model_dir), RuntimeOptions(backend="paddle", precision="fp32"))
    expected = paddle_out.run(batch)
    assert np.abs(first - expected).max() > 1e-3  # the new weights do change the output
    np.testing.assert_allclose(cached, expected, rtol=1e-4, atol=1e-5)


def test_openvino_cache_defaults_to_the_home_folder(model_copy, tmp_path, monkeypatch):
    from ppcls_hrnet.runtime.engines.openvino import OpenVINOEngine

    model_dir, _, _ = model_copy
    monkeypatch.setenv("PPCLS_HRNET_HOME", str(tmp_path / "home"))
    OpenVINOEngine(model_dir / "inference.pdmodel")
    assert list((tmp_path / "home/openvino_cache").iterdir())
    # a home that cannot be written only costs compile time
    blocked = tmp_path / "file_not_dir"
    blocked.write_text("")
    monkeypatch.setenv("PPCLS_HRNET_HOME", str(blocked))
    engine = OpenVINOEngine(model_dir / "inference.pdmodel")
    assert engine.run(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 10)
