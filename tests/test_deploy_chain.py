"""The deploy chain on a trained Fashion-MNIST model, as a user runs it:

export -> deploy/python/predict_cls.py (oneDNN on/off, batch 1 and 4) -> the
CLI -> `ppcls-hrnet onnx` -> ONNX Runtime / OpenVINO -> `ppcls-hrnet quantize`
-> int8 on both. Every fp32 backend must give Paddle Inference's top-1 on all
1000 test images; int8 must stay close (its product target is tested on
the full 10k test set in test_quantize.py); the default precision (auto)
follows the model's recorded bf16 check.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ppcls_hrnet.cli import main
from ppcls_hrnet.data import read_label_list
from ppcls_hrnet.export.from_config import export_from_config
from ppcls_hrnet.runtime.contract import read_deploy_config
from ppcls_hrnet.runtime.precision import BF16_MIN_AGREEMENT

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chain(trained_fashion_model, tmp_path_factory):
    cfg, stats = trained_fashion_model
    model_dir = export_from_config(cfg, legacy=True, save_dir=tmp_path_factory.mktemp("chain") / "inference")
    data = cfg.DataLoader.Eval.dataset
    entries, _ = read_label_list(data.cls_label_path)
    # keyed by base name, as predict_cls.py prints it (PaddleClas's format); the names are unique
    labels = {Path(e.path).name: e.label for e in entries}
    image_dir = Path(data.image_root) / "images" / "test"
    assert len(list(image_dir.rglob("*.png"))) == len(labels) == 1000
    reference = predict_cls_top1(model_dir, image_dir, "Global.enable_mkldnn=True", "Global.batch_size=1")
    return dict(cfg=cfg, stats=stats, model_dir=model_dir, image_dir=image_dir, labels=labels,
                reference=reference)


def predict_cls_top1(model_dir, image_dir, *overrides):
    args = [sys.executable, str(ROOT / "deploy/python/predict_cls.py"), "-o", "Global.precision=fp32",
            "-o", f"Global.inference_model_dir={model_dir}", "-o", f"Global.infer_imgs={image_dir}"]
    for o in overrides:
        args += ["-o", o]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    top1 = {}
    for line in done.stdout.splitlines():
        name, rest = line.split(":\tclass id(s): [")
        top1[name] = int(rest.split(",")[0].rstrip("]"))
    return top1


def accuracy(top1, labels):
    return sum(top1[name] == label for name, label in labels.items()) / len(labels)


def test_predict_cls_reproduces_eval_accuracy(chain):
    # preprocessing from inference.yml == the training config's eval transforms
    assert abs(accuracy(chain["reference"], chain["labels"]) - chain["stats"]["top1"]) <= 0.002


@pytest.mark.parametrize("overrides", [
    ("Global.enable_mkldnn=True", "Global.batch_size=4"),
    ("Global.enable_mkldnn=False", "Global.batch_size=1"),
    ("Global.enable_mkldnn=False", "Global.batch_size=4"),
])
def test_predict_cls_onednn_and_batching_agree(chain, overrides):
    assert predict_cls_top1(chain["model_dir"], chain["image_dir"], *overrides) == chain["reference"]


def cli_top1(chain, tmp_path, *flags):
    out = tmp_path / "out"
    code = main(["--inference_model_dir", str(chain["model_dir"]), "--infer_imgs", str(chain["image_dir"]),
                 "--batch_size", "8", "--save_dir", str(out), *flags])
    assert code == 0
    saved = json.loads((out / "predictions.json").read_text())
    return saved, {Path(r["file_name"]).name: r["class_ids"][0] for r in saved["results"]}


@pytest.mark.parametrize("backend", ["paddle", "onnxruntime", "openvino", "auto"])
def test_cli_backends_give_paddles_top1(chain, tmp_path, backend, capsys):
    saved, top1 = cli_top1(chain, tmp_path, "--backend", backend, "--precision", "fp32")
    capsys.readouterr()
    assert saved["backend"] == ("openvino" if backend == "auto" else backend)
    assert top1 == chain["reference"]


def test_the_default_precision_follows_the_models_bf16_check(chain, tmp_path, capsys):
    """check-precision measures bf16 against fp32 on the test images and records it; the CLI's
    default (auto) then runs bf16 only when that agreement clears auto's bar, and within it."""
    import openvino

    model_dir = Path(shutil.copytree(chain["model_dir"], tmp_path / "inference"))
    data = chain["cfg"].DataLoader.Eval.dataset
    assert main(["check-precision", "--inference_model_dir", str(model_dir), "--eval_list", data.cls_label_path,
                 "--eval_root", data.image_root]) == 0
    capsys.readouterr()
    check = read_deploy_config(model_dir).precision_checks["bf16"]
    assert check["images"] == 1000
    native = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    bf16 = native and check["top1_agreement"] >= BF16_MIN_AGREEMENT
    for backend in ("openvino", "paddle"):
        saved, top1 = cli_top1(dict(chain, model_dir=model_dir), tmp_path / backend, "--backend", backend)
        capsys.readouterr()
        assert saved["precision"] == ("bf16" if bf16 else "fp32")
        agreement = sum(top1[n] == chain["reference"][n] for n in top1) / len(top1)
        assert agreement >= (BF16_MIN_AGREEMENT if bf16 else 1.0), agreement


def test_onnx_command_matches_paddle_on_the_test_images(chain, capsys):
    assert main(["onnx", "--inference_model_dir", str(chain["model_dir"]),
                 "--check_imgs", str(chain["image_dir"])]) == 0
    out = capsys.readouterr().out
    assert "on 1000 images" in out and "top-1 agreement 100.00%" in out


def test_int8_agrees_with_fp32(chain, tmp_path, capsys):
    data = chain["cfg"].DataLoader
    assert main(["quantize", "--inference_model_dir", str(chain["model_dir"]),
                 "--calib_list", data.Train.dataset.cls_label_path, "--calib_root", data.Train.dataset.image_root,
                 "--num_calib", "300",
                 "--eval_list", data.Eval.dataset.cls_label_path, "--eval_root", data.Eval.dataset.image_root]) == 0
    capsys.readouterr()
    fp32 = accuracy(chain["reference"], chain["labels"])
    for backend in ("onnxruntime", "openvino"):
        saved, top1 = cli_top1(chain, tmp_path / backend, "--backend", backend, "--precision", "int8")
        assert saved["precision"] == "int8"
        agreement = sum(top1[n] == chain["reference"][n] for n in top1) / len(top1)
        # The accuracy target (<= 0.5 point drop) is checked on the full 10k test
        # set (test_quantize.py). On these 1000 images of a barely trained model
        # (many near-ties) agreement was 98.6-99.2 % on an AMD EPYC without VNNI
        # and 97.7 % on a Xeon with VNNI (CI, 2026-12-03), so this chain check
        # asks for the int8 file the CLI wrote to be the calibrated one: a broken
        # calibration gives tens of points less.
        assert agreement >= 0.96, (backend, agreement)
        assert fp32 - accuracy(top1, chain["labels"]) <= 0.01, backend
