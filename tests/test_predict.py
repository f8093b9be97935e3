"""Image predictors over every backend, the PaddleClas-style CLI and API, predict_cls.py, `onnx`.

A small random-weight export (conftest.small_deploy) checks mechanics and
cross-backend agreement quickly; the trained Fashion-MNIST chain is in
test_deploy_chain.py.
"""
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import ppcls_hrnet
from ppcls_hrnet.cli import main
from ppcls_hrnet.errors import ConfigError, HRNetError
from ppcls_hrnet.runtime.contract import DeployConfigError, read_deploy_config
from ppcls_hrnet.runtime.engines.base import BackendUnavailableError
from ppcls_hrnet.runtime.options import RuntimeOptions
from ppcls_hrnet.runtime.backends import create_engine
from ppcls_hrnet.runtime.predictor import ClassificationPredictor

ROOT = Path(__file__).resolve().parents[1]
PREDICT_CLS = ROOT / "deploy/python/predict_cls.py"


@pytest.fixture
def model_copy(small_deploy, tmp_path):
    """A private copy of the export (tests here add files and rewrite inference.yml)."""
    model_dir, images, weights = small_deploy
    return Path(shutil.copytree(model_dir, tmp_path / "inference")), images, weights


def top1(results):
    return [r["class_ids"][0] for r in results]


def images_of(image_dir, n=8):
    return sorted(str(p) for p in Path(image_dir).rglob("*.png"))[:n]


# ------------------------------------------------------------------ backends


@pytest.mark.parametrize("options", [
    RuntimeOptions(backend="paddle", precision="fp32", enable_mkldnn=False),
    RuntimeOptions(backend="paddle", precision="fp32", model_format="legacy"),
    RuntimeOptions(backend="onnxruntime", precision="fp32"),
    RuntimeOptions(backend="openvino", precision="fp32"),
], ids=["paddle-onednn-off", "paddle-legacy-onednn", "onnxruntime", "openvino"])
def test_every_backend_gives_paddles_predictions(model_copy, options):
    model_dir, image_dir, _ = model_copy
    images = images_of(image_dir)
    reference = ClassificationPredictor(model_dir, RuntimeOptions(backend="paddle", precision="fp32"), batch_size=4)
    predictor = ClassificationPredictor(model_dir, options, batch_size=3)  # other batching, same answers
    expected, got = list(reference.predict(images)), list(predictor.predict(images))
    assert [r["file_name"] for r in got] == images
    assert top1(got) == top1(expected)
    for want, have in zip(expected, got):
        assert np.allclose(want["scores"], have["scores"], atol=2e-4)
    assert predictor.backend == options.backend


def test_auto_picks_openvino_for_fp32_on_cpu(model_copy):
    model_dir, _, _ = model_copy
    _, used = create_engine(read_deploy_config(model_dir), RuntimeOptions(precision="fp32"))
    assert used.backend == "openvino"


def test_auto_falls_back_when_openvino_is_missing(model_copy, monkeypatch):
    import importlib

    real_import = importlib.import_module

    def no_openvino(name, *args):
        if name == "openvino":
            raise ImportError("No module named 'openvino'")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_openvino)
    model_dir, _, _ = model_copy
    _, used = create_engine(read_deploy_config(model_dir), RuntimeOptions())
    assert used.backend == "paddle"
    with pytest.raises(BackendUnavailableError, match="openvino is not installed.*pip install"):
        create_engine(read_deploy_config(model_dir), RuntimeOptions(backend="openvino"))


def test_onnx_is_converted_once_and_recorded(model_copy):
    model_dir, _, _ = model_copy
    assert "onnx" not in read_deploy_config(model_dir).files
    engine, _ = create_engine(read_deploy_config(model_dir), RuntimeOptions(backend="onnxruntime"))
    deploy = read_deploy_config(model_dir)
    assert deploy.files["onnx"] == "inference.onnx" and engine.source == str(model_dir / "inference.onnx")
    stamp = (model_dir / "inference.onnx").stat().st_mtime_ns
    create_engine(deploy, RuntimeOptions(backend="onnxruntime"))
    assert (model_dir / "inference.onnx").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("options, message", [
    (dict(use_tensorrt=True), r"TensorRT needs a GPU build of Paddle.*CPU-only"),
    (dict(use_gpu=True), r"use_gpu needs a GPU build of Paddle.*CPU-only"),
    (dict(backend="paddle", use_gpu=True, precision="fp16"), r"CPU-only"),
    (dict(precision="fp16"), r"fp16 needs a GPU"),
    (dict(precision="int8"), r"no int8 model.*ppcls-hrnet quantize"),
    (dict(backend="paddle", precision="int8"), r"paddle on CPU runs fp32, bf16, not int8"),
    (dict(backend="openvino", use_gpu=True), r"openvino does not run on GPU"),
])
def test_impossible_runtime_requests_say_why(model_copy, options, message):
    model_dir, _, _ = model_copy
    with pytest.raises(BackendUnavailableError, match=message):
        create_engine(read_deploy_config(model_dir), RuntimeOptions(**options))


@pytest.mark.parametrize("options, message", [
    (dict(backend="tensorrt"), "backend must be auto or one of"),
    (dict(precision="int4"), "precision must be one of"),
    (dict(backend="onnxruntime", use_tensorrt=True), "use_tensorrt runs through Paddle Inference"),
    (dict(use_gpu=True, precision="int8"), "int8 on GPU runs through TensorRT: add --use_tensorrt"),
])
def test_bad_runtime_options(options, message):
    with pytest.raises(ConfigError, match=message):
        RuntimeOptions(**options)


# -------------------------------------------------------------- bad inputs


def test_corrupt_image_is_reported_in_place_and_the_rest_predicted(model_copy, tmp_path):
    model_dir, image_dir, _ = model_copy
    good = images_of(image_dir, 4)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(Path(good[0]).read_bytes()[:40])  # a truncated PNG
    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="paddle"), batch_size=2)
    results = list(predictor.predict([good[0], str(corrupt), *good[1:]]))
    assert [r["file_name"] for r in results] == [good[0], str(corrupt), *good[1:]]
    assert "not a decodable image" in results[1]["error"] and "class_ids" not in results[1]
    assert all("class_ids" in r for i, r in enumerate(results) if i != 1)
    assert predictor.times.images == 4 and predictor.times.failures == 1


class _ImageServer(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def image_server(small_deploy):
    _, image_dir, _ = small_deploy
    handler = lambda *a, **k: _ImageServer(*a, directory=str(image_dir), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", image_dir
    server.shutdown()


def test_urls_are_predicted_and_unreadable_ones_reported(model_copy, image_server):
    model_dir, _, _ = model_copy
    base, image_dir = image_server
    local = images_of(image_dir, 1)[0]
    url = f"{base}/{Path(local).relative_to(image_dir).as_posix()}"
    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="paddle"))
    by_url, missing, by_path = predictor.predict([url, f"{base}/no/such.png", local])
    assert by_url["class_ids"] == by_path["class_ids"] and by_url["file_name"] == url
    assert "HTTP 404" in missing["error"]


def test_missing_model_dir_and_dir_without_inference_yml(tmp_path, small_deploy):
    with pytest.raises(DeployConfigError, match="does not exist.*ppcls-hrnet export"):
        ClassificationPredictor(tmp_path / "nowhere")
    no_yml = Path(shutil.copytree(small_deploy[0], tmp_path / "no_yml"))
    (no_yml / "inference.yml").unlink()
    with pytest.raises(DeployConfigError, match="has no inference.yml.*Re-export"):
        ClassificationPredictor(no_yml)


def test_crop_size_must_fit_the_exported_input(model_copy):
    model_dir, _, _ = model_copy
    with pytest.raises(DeployConfigError, match=r"ResizeImage resizes to a fixed size.*--resize_short"):
        ClassificationPredictor(model_dir, resize_short=40)


# ------------------------------------------------------------------- the CLI


def test_cli_predicts_like_paddleclas_and_saves_json(model_copy, tmp_path, capsys):
    model_dir, image_dir, _ = model_copy
    corrupt = tmp_path / "bad.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    code = main([f"--inference_model_dir={model_dir}", "--infer_imgs", str(image_dir), str(corrupt),
                 "--backend=paddle", "--enable_mkldnn=False", "--batch_size=4", "--topk=3",
                 f"--save_dir={tmp_path / 'out'}"])
    out, err = capsys.readouterr()
    assert code == 1  # one input failed; the others were predicted
    lines = [line for line in out.splitlines() if line.startswith("filename: ")]
    assert len(lines) == 12
    assert re.fullmatch(r"filename: \S+, top-3, class_ids: \[\d+, \d+, \d+\], scores: \[.*\], "
                        r"label_names: \['.*'\]", lines[0]), lines[0]
    assert out.splitlines()[-1] == "Predict complete!"
    assert "bad.jpg" in err and "1 of 13 inputs could not be predicted" in err
    saved = json.loads((tmp_path / "out/predictions.json").read_text())
    assert saved["backend"] == "paddle" and saved["model_name"] == "HRNet_W18_small_v1"
    assert len(saved["results"]) == 13 and saved["results"][-1]["error"]
    assert all(len(r["class_ids"]) == 3 for r in saved["results"][:-1])
    shown = {line.split(", ")[0][len("filename: "):]: line.split(", top-3, ")[1].split("]")[0] + "]"
             for line in lines}
    for result in saved["results"][:-1]:
        assert shown[result["file_name"]] == f"class_ids: {result['class_ids']}"


def test_cli_errors_for_missing_model_dir_and_no_weights(tmp_path, capsys, monkeypatch):
    assert main(["--inference_model_dir", str(tmp_path / "nope"), "--infer_imgs", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    # official weights unreachable (a closed local port stands in for no network)
    monkeypatch.setenv("PPCLS_HRNET_WEIGHTS_BASE", "http://127.0.0.1:9/")
    monkeypatch.setenv("PPCLS_HRNET_HOME", str(tmp_path / "home"))
    assert main(["--model_name=HRNet_W18_C", f"--infer_imgs={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "no weights for HRNet_W18_C" in err and "none are made" in err and "--pretrained" in err
    assert "class_ids" not in err


def test_model_name_with_weights_exports_once_and_predicts(small_deploy, tmp_path, monkeypatch):
    model_dir, image_dir, weights = small_deploy
    monkeypatch.setenv("PPCLS_HRNET_HOME", str(tmp_path / "home"))
    images = images_of(image_dir, 3)
    kwargs = dict(model_name="HRNet_W18_small_v1", pretrained=str(weights), resize_short=32, crop_size=32,
                  backend="paddle")
    results = ppcls_hrnet.predict(images, **kwargs)
    exported = list((tmp_path / "home/inference").iterdir())
    assert len(exported) == 1 and (exported[0] / "inference.yml").is_file()
    deploy = read_deploy_config(exported[0])
    assert deploy.class_num == 10 and deploy.input_shape == [-1, 3, 32, 32]  # class count from the weights
    stamp = (exported[0] / "inference.pdiparams").stat().st_mtime_ns
    again = ppcls_hrnet.predict(images, **kwargs)
    assert (exported[0] / "inference.pdiparams").stat().st_mtime_ns == stamp  # reused, not re-exported
    assert top1(results) == top1(again)
    # same weights, same model: the ImageNet-style preprocessing differs from the
    # Fashion-MNIST config's (crop + ImageNet mean/std), so compare shapes only
    assert all(len(r["class_ids"]) == 5 for r in results)


def test_model_name_exports_at_the_models_native_size(tmp_path, monkeypatch):
    import paddle
    from ppcls_hrnet.models import create_model

    monkeypatch.setenv("PPCLS_HRNET_HOME", str(tmp_path / "home"))
    weights = tmp_path / "EffHRNet_H4_random.pdparams"
    paddle.seed(0)
    paddle.save(create_model("EffHRNet_H4", class_num=3).state_dict(), str(weights))
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8))
    results = ppcls_hrnet.predict(str(image), model_name="EffHRNet_H4", pretrained=str(weights), backend="paddle")
    deploy = read_deploy_config(next((tmp_path / "home/inference").iterdir()))
    assert deploy.input_shape == [-1, 3, 128, 128]  # EffHRNet_H4's native size, not 224
    ops = {name: params for op in deploy.transform_ops for name, params in op.items()}
    assert ops["ResizeImage"]["resize_short"] == 146 and ops["CropImage"]["size"] == 128
    assert len(results) == 1 and len(results[0]["class_ids"]) == 3


def test_predict_api_needs_a_model(tmp_path):
    with pytest.raises(ConfigError, match="give model_name"):
        ppcls_hrnet.predict(str(tmp_path))
    with pytest.raises(ConfigError, match="pretrained applies to model_name"):
        ppcls_hrnet.predict(str(tmp_path), inference_model_dir=tmp_path, pretrained="w.pdparams")


# ------------------------------------------------------------ predict_cls.py


def run_predict_cls(*overrides):
    args = [sys.executable, str(PREDICT_CLS), "-c", str(ROOT / "deploy/configs/inference_cls.yaml")]
    for o in overrides:
        args += ["-o", o]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def test_predict_cls_prints_paddleclas_lines(model_copy):
    model_dir, image_dir, _ = model_copy
    done = run_predict_cls(f"Global.inference_model_dir={model_dir}", f"Global.infer_imgs={image_dir}",
                           "Global.batch_size=4", "Global.benchmark=True", "PostProcess.Topk.topk=2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 12
    names = sorted(line.split(":\t")[0] for line in lines)
    assert names == sorted(p.name for p in Path(image_dir).rglob("*.png"))  # base names, as PaddleClas prints
    assert re.fullmatch(r"\S+\.png:\tclass id\(s\): \[\d+, \d+\], score\(s\): \[\d\.\d\d, \d\.\d\d\], "
                        r"label_name\(s\): \['.+', '.+'\]", lines[0]), lines[0]
    assert "ms/img" in done.stderr  # benchmark: True


def test_predict_cls_config_errors(model_copy, tmp_path):
    model_dir, image_dir, _ = model_copy
    done = run_predict_cls(f"Global.inference_model_dir={model_dir}", f"Global.infer_imgs={image_dir}",
                           "Global.backend=openvno")
    assert done.returncode == 2 and "Did you mean openvino?" in done.stderr
    done = run_predict_cls(f"Global.inference_model_dir={tmp_path}", f"Global.infer_imgs={image_dir}")
    assert done.returncode == 2 and "has no inference.yml" in done.stderr
    assert "Traceback" not in done.stderr


# -------------------------------------------------------------- ppcls-hrnet onnx


def test_onnx_command_converts_records_and_checks(model_copy, capsys):
    model_dir, image_dir, _ = model_copy
    assert main(["onnx", "--inference_model_dir", str(model_dir), "--opset_version", "13",
                 "--check_imgs", str(image_dir)]) == 0
    out = capsys.readouterr().out
    assert "opset 13, input ['N', 3, 32, 32]" in out  # dynamic batch
    assert "on 12 images" in out and "top-1 agreement 100.00%" in out
    diff = float(out.split("max |diff| ")[1].split()[0])
    assert diff < 1e-4
    assert read_deploy_config(model_dir).files["onnx"] == "inference.onnx"
    import onnx

    assert onnx.load(str(model_dir / "inference.onnx")).opset_import[0].version == 13


def test_onnx_command_reports_paddle2onnx_failure(model_copy, capsys):
    model_dir, _, _ = model_copy
    (model_dir / "inference.json").write_text("{ not a program")
    assert main(["onnx", "--inference_model_dir", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert "error: paddle2onnx could not convert" in err and "Traceback" not in err
    assert not (model_dir / "inference.onnx").exists()
    assert "onnx" not in yaml.safe_load((model_dir / "inference.yml").read_text())["files"]
