"""Paddle Lite (`ppcls-hrnet lite`, `--backend lite`): .nb conversion for x86 and ARM,
the demo config from inference.yml, opt's ARM op report, the x86 .nb against
Paddle Inference, and the bad inputs, through the real CLI.

Needs a Python 3.7 (pyenv's, or PPCLS_HRNET_LITE_PYTHON): the helper venv
(paddlelite==2.12) is built once per session, or reused from
PPCLS_HRNET_LITE_VENV. Without Python 3.7 the tests skip, and fail under CI=true.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT = 900


def cli(*args, timeout=CLI_TIMEOUT, **env):
    environ = dict(os.environ, **env)
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([environ["PYTHONPATH"]] if environ.get("PYTHONPATH")
                                                          else []))
    return subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", *[str(a) for a in args]], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=timeout)


def error_line(done):
    lines = [l for l in done.stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture(scope="session")
def lite_helper(tmp_path_factory):
    """The helper venv's python (built here once, unless PPCLS_HRNET_LITE_VENV names a built one)."""
    from ppcls_hrnet.runtime.lite.env import LiteUnavailableError, VENV_ENV, ensure_helper_env, find_python37

    try:
        find_python37()
    except LiteUnavailableError as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Python 3.7 for the Paddle Lite tests: {err}")
        pytest.skip(str(err))
    if not os.environ.get(VENV_ENV):
        os.environ[VENV_ENV] = str(tmp_path_factory.mktemp("lite") / "lite-py37")
    return ensure_helper_env()


@pytest.fixture(scope="module")
def lite_model(small_deploy, lite_helper, tmp_path_factory):
    """small_deploy copied (this module adds files to its inference.yml), converted to x86 and arm."""
    model_dir, image_dir, _ = small_deploy
    copy = tmp_path_factory.mktemp("lite_model") / "inference"
    shutil.copytree(model_dir, copy)
    runs = {t: cli("lite", "--inference_model_dir", copy, "--valid_targets", t) for t in ("x86", "arm")}
    return copy, image_dir, runs


def test_conversion_writes_and_records_both_nb(lite_model):
    model_dir, _, runs = lite_model
    for target, done in runs.items():
        assert done.returncode == 0, done.stderr[-3000:]
        nb = model_dir / "lite" / f"inference_{target}.nb"
        assert nb.is_file() and nb.stat().st_size > 1_000_000
        assert f"wrote {nb}" in done.stdout
        assert f"converting inference.pdmodel to Paddle Lite ({target}) with opt" in done.stderr
    files = yaml.safe_load((model_dir / "inference.yml").read_text())["files"]
    assert files["lite_x86"] == "lite/inference_x86.nb" and files["lite_arm"] == "lite/inference_arm.nb"
    assert files["lite_arm_config"] == "lite/inference_arm_config.txt" and files["lite_labels"] == "lite/labels.txt"
    from ppcls_hrnet.runtime.contract import read_deploy_config

    assert read_deploy_config(model_dir).model_file("lite_x86").is_file()


def test_demo_config_comes_from_inference_yml(lite_model):
    from ppcls_hrnet.runtime.contract import read_deploy_config
    from ppcls_hrnet.export.lite import read_demo_config

    model_dir, _, _ = lite_model
    deploy = read_deploy_config(model_dir)
    config = read_demo_config(model_dir / "lite" / "inference_arm_config.txt")
    # PaddleClas's deploy/lite config.txt keys
    for key in ("clas_model_file", "label_path", "resize_short_size", "crop_size", "num_threads", "batch_size",
                "topk", "precision", "runtime_device", "visualize", "enable_benchmark"):
        assert key in config
    assert config["clas_model_file"] == "inference_arm.nb" and config["label_path"] == "labels.txt"
    assert config["precision"] == "FP32" and config["runtime_device"] == "arm_cpu"
    ops = {name: params for op in deploy.transform_ops for name, params in op.items()}
    assert int(config["resize_width"]) == ops["ResizeImage"]["size"] == 32
    assert int(config["input_height"]) == deploy.input_shape[2]
    assert int(config["topk"]) == deploy.topk
    np.testing.assert_allclose([float(v) for v in config["mean"].split()], ops["NormalizeImage"]["mean"])
    np.testing.assert_allclose([float(v) for v in config["std"].split()], ops["NormalizeImage"]["std"])
    labels = (model_dir / "lite" / "labels.txt").read_text().splitlines()
    assert labels == [f"{i} {name}" for i, name in enumerate(deploy.label_list)]


def test_arm_report_every_op_supported(lite_model):
    from ppcls_hrnet.export.lite import model_ops_report

    model_dir, _, runs = lite_model
    assert "opt --print_model_ops on arm:" in runs["arm"].stdout and "all supported" in runs["arm"].stdout
    report = model_ops_report(model_dir, "arm")
    assert report.supported and report.unsupported() == []
    assert {"conv2d", "batch_norm", "pool2d"} <= set(report.ops)
    assert report.ops["conv2d"]["kARM"]


def test_parse_ops_report_sees_unsupported():
    from ppcls_hrnet.export.lite import parse_ops_report

    text = ("OPs in the input model include:\n"
            "                                        OP_name  kARM  kHost\n"
            "                                         conv2d     Y       \n"
            "                                           tile            Y\n"
            "                                       weird_op              \n")
    report = parse_ops_report(text)
    assert report.ops == {"conv2d": {"kARM": True, "kHost": False}, "tile": {"kARM": False, "kHost": True},
                          "weird_op": {"kARM": False, "kHost": False}}
    assert report.unsupported() == ["weird_op"] and not report.supported


def test_backend_lite_matches_paddle_inference(lite_model):
    from ppcls_hrnet.preprocess.images import list_images
    from ppcls_hrnet.api import create_predictor

    model_dir, image_dir, _ = lite_model
    images = [str(p) for p in list_images([str(image_dir)])]
    assert len(images) == 12
    lite = create_predictor(inference_model_dir=model_dir, backend="lite", batch_size=4)
    paddle = create_predictor(inference_model_dir=model_dir, backend="paddle", precision="fp32", batch_size=4)
    assert lite.backend == "lite"
    a, b = list(lite.predict(images)), list(paddle.predict(images))
    assert [r["class_ids"][0] for r in a] == [r["class_ids"][0] for r in b]
    np.testing.assert_allclose([r["scores"] for r in a], [r["scores"] for r in b], atol=1e-3)
    # raw outputs, batch 1 and 4, and a second run does not overwrite the first's result
    batch = np.stack([lite.transforms(Path(p).read_bytes()) for p in images[:4]])
    first = lite.engine.run(batch)
    kept = first.copy()
    lite.engine.run(batch[::-1].copy())
    np.testing.assert_array_equal(first, kept)
    reference = paddle.engine.run(batch)
    assert np.abs(first - reference).max() / np.abs(reference).max() < 1e-4
    np.testing.assert_allclose(lite.engine.run(batch[:1]), first[:1], rtol=1e-4, atol=1e-6)
    lite.engine.close()
    assert lite.engine._process.poll() is not None


def test_predict_cli_backend_lite(lite_model):
    model_dir, image_dir, _ = lite_model
    done = cli("predict", "--inference_model_dir", model_dir, "--backend", "lite", "--infer_imgs", image_dir,
               "--batch_size", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("class_ids:") == 12


# ---------------------------------------------------------------- bad inputs


def test_pir_only_export_says_export_with_legacy(small_deploy, tmp_path, lite_helper):
    model_dir, _, _ = small_deploy
    pir_only = tmp_path / "pir_only"
    shutil.copytree(model_dir, pir_only)
    (pir_only / "inference.pdmodel").unlink()
    done = cli("lite", "--inference_model_dir", pir_only, "--valid_targets", "arm")
    assert done.returncode == 2
    line = error_line(done)
    assert "no legacy program (inference.pdmodel)" in line and "--legacy" in line


def test_no_python37_is_one_clear_line(small_deploy, tmp_path):
    model_dir, _, _ = small_deploy
    done = cli("lite", "--inference_model_dir", model_dir, "--valid_targets", "arm",
               PPCLS_HRNET_LITE_PYTHON="/nonexistent", PPCLS_HRNET_LITE_VENV=str(tmp_path / "venv"))
    assert done.returncode == 2
    line = error_line(done)
    assert "PPCLS_HRNET_LITE_PYTHON=/nonexistent does not run" in line and "Python 3.7" in line
    assert not (tmp_path / "venv").exists()


def test_unknown_target_is_one_clear_line(small_deploy):
    model_dir, _, _ = small_deploy
    done = cli("lite", "--inference_model_dir", model_dir, "--valid_targets", "riscv")
    assert done.returncode == 2
    line = error_line(done)
    assert "unknown --valid_targets 'riscv'" in line and "arm, x86, arm,opencl" in line


def test_int8_is_refused_with_the_reason(small_deploy):
    model_dir, _, _ = small_deploy
    done = cli("lite", "--inference_model_dir", model_dir, "--valid_targets", "arm", "--quant_model")
    assert done.returncode == 2
    assert "wrong outputs" in error_line(done)


def test_fp16_is_arm_only(small_deploy):
    model_dir, _, _ = small_deploy
    done = cli("lite", "--inference_model_dir", model_dir, "--valid_targets", "x86", "--enable_fp16")
    assert done.returncode == 2
    assert "ARM option" in error_line(done)


def test_backend_lite_without_x86_nb_says_how_to_make_it(small_deploy):
    model_dir, image_dir, _ = small_deploy
    done = cli("predict", "--inference_model_dir", model_dir, "--backend", "lite", "--infer_imgs", image_dir)
    assert done.returncode == 2
    line = error_line(done)
    assert "no x86 Paddle Lite model" in line and "--valid_targets x86" in line


def test_arm_fp16_conversion(lite_model, tmp_path):
    model_dir, _, _ = lite_model
    done = cli("lite", "--inference_model_dir", model_dir, "--valid_targets", "arm", "--enable_fp16",
               "--optimize_out", tmp_path / "fp16" / "model", "--print_model_ops", "false")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "fp16" / "model.nb").is_file()
    from ppcls_hrnet.export.lite import read_demo_config

    assert read_demo_config(tmp_path / "fp16" / "model_config.txt")["precision"] == "FP16"
    assert "not recorded" in done.stderr


# ---------------------------------------------------- the trained model (slow)


@pytest.mark.slow
def test_trained_fashion_mnist_lite_x86_matches_paddle_on_1000_images(trained_fashion_model, lite_helper,
                                                                      tmp_path_factory):
    from ppcls_hrnet.preprocess.images import list_images
    from ppcls_hrnet.export.from_config import export_from_config
    from ppcls_hrnet.export.lite import model_ops_report
    from ppcls_hrnet.api import create_predictor

    cfg, _ = trained_fashion_model
    model_dir = export_from_config(cfg, legacy=True, save_dir=tmp_path_factory.mktemp("lite_chain") / "inference")
    for target in ("x86", "arm"):
        done = cli("lite", "--inference_model_dir", model_dir, "--valid_targets", target)
        assert done.returncode == 0, done.stderr[-3000:]
        assert (model_dir / "lite" / f"inference_{target}.nb").is_file()
    report = model_ops_report(model_dir, "arm")
    assert report.supported and report.unsupported() == [], report.text[-2000:]
    image_dir = Path(cfg.DataLoader.Eval.dataset.image_root) / "images" / "test"
    images = [str(p) for p in list_images([str(image_dir)])]
    assert len(images) >= 1000
    lite = create_predictor(inference_model_dir=model_dir, backend="lite", batch_size=16)
    paddle = create_predictor(inference_model_dir=model_dir, backend="paddle", precision="fp32", batch_size=16)
    a = {r["file_name"]: r["class_ids"][0] for r in lite.predict(images)}
    b = {r["file_name"]: r["class_ids"][0] for r in paddle.predict(images)}
    assert len(a) == len(b) == len(images)
    assert a == b


def test_a_crashed_helper_is_one_clear_error(lite_model):
    from ppcls_hrnet.runtime.lite.engine import LiteEngine, LiteRunError
    from ppcls_hrnet.runtime.engines.base import ModelLoadError

    model_dir, _, _ = lite_model
    broken = model_dir / "lite" / "broken.nb"
    broken.write_bytes(b"not a model")
    with pytest.raises((ModelLoadError, LiteRunError), match="Paddle Lite|helper"):
        LiteEngine(broken, [-1, 3, 32, 32])
    engine = LiteEngine(model_dir / "lite" / "inference_x86.nb", [-1, 3, 32, 32])
    engine._process.kill()
    engine._process.wait()
    with pytest.raises(LiteRunError, match="not running|exited"):
        engine.run(np.zeros((1, 3, 32, 32), np.float32))


def test_helper_env_stamp_marks_a_complete_venv(tmp_path, monkeypatch, lite_helper):
    """Built once (venv, pip, import check), then reused while the stamp names the same pins."""
    import ppcls_hrnet.runtime.lite.env as helper_env

    calls = []
    monkeypatch.setenv(helper_env.VENV_ENV, str(tmp_path / "venv"))

    def fake_run(cmd, what, timeout):
        calls.append(what)
        if "venv" in what:  # a stand-in venv: python is the helper's real one
            (tmp_path / "venv" / "bin").mkdir(parents=True)
            (tmp_path / "venv" / "bin" / "python").symlink_to(lite_helper)

    monkeypatch.setattr(helper_env, "_run", fake_run)
    first = helper_env.ensure_helper_env()
    assert calls == ["python3.7 -m venv", "pip install paddlelite==2.12", "import paddlelite.lite"]
    assert helper_env.ensure_helper_env() == first and len(calls) == 3  # the stamp marks it complete
    (tmp_path / "venv" / helper_env.STAMP).write_text("paddlelite==2.11 numpy\n")  # other pins: rebuilt
    helper_env.ensure_helper_env()
    assert len(calls) == 6
