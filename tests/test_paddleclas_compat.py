"""PaddleClas's own deploy config and TIPC inference step run deploy/python/predict_cls.py.

The files are PaddleClas's, kept as test data in tests/data/paddleclas/ (see
its README). The model is HRNet_W18_small_v1 with 1000 classes and
deterministic weights (conftest.apply_reference_weights), exported the way
``ppcls-hrnet --model_name`` does (ImageNet preprocessing, 256 -> 224): the
predictions are meaningless but fixed, so every run must print the same
classes as the in-process predictor, with ImageNet's names.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import paddleclas_tipc as tipc
from conftest import apply_reference_weights
from ppcls_hrnet.config import PREDICT_SCHEMA, load_config, validate_config
from ppcls_hrnet.errors import ConfigError
from ppcls_hrnet.runtime.postprocess import IMAGENET1K_LABEL_FILE, default_label_list

ROOT = Path(__file__).resolve().parents[1]
PADDLECLAS = ROOT / "tests" / "data" / "paddleclas"
INFERENCE_CLS = PADDLECLAS / "inference_cls.yaml"  # PaddleClas's deploy/configs/inference_cls.yaml
OUR_INFERENCE_CLS = ROOT / "deploy" / "configs" / "inference_cls.yaml"
PREDICT_CLS = ROOT / "deploy" / "python" / "predict_cls.py"
FALLBACK = ("class_id_map_file ../ppcls/utils/imagenet1k_label_list.txt does not exist; using the ImageNet-1k "
            f"names bundled with ppcls_hrnet ({IMAGENET1K_LABEL_FILE})")


@pytest.fixture(scope="module")
def imagenet_model(tmp_path_factory):
    """(model dir, a photo, the in-process predictor's top-5 ids for it)."""
    import paddle

    from ppcls_hrnet.export.from_weights import export_from_weights
    from ppcls_hrnet.models import create_model
    from ppcls_hrnet.runtime.options import RuntimeOptions
    from ppcls_hrnet.runtime.predictor import ClassificationPredictor

    root = tmp_path_factory.mktemp("imagenet_model")
    weights = root / "HRNet_W18_small_v1_reference.pdparams"
    paddle.save(apply_reference_weights(create_model("HRNet_W18_small_v1", class_num=1000)).state_dict(),
                str(weights))
    model_dir = export_from_weights("HRNet_W18_small_v1", pretrained=str(weights), cache_dir=str(root / "cache"))
    photo = root / "photo.jpg"
    ys, xs = np.mgrid[0:300, 0:400]
    image = np.stack([xs * 255 // 400, ys * 255 // 300, (xs + ys) % 256], axis=-1).astype(np.uint8)
    cv2.imwrite(str(photo), image)
    reference = ClassificationPredictor(model_dir, RuntimeOptions(backend="paddle", enable_mkldnn=False))
    (result,) = reference.predict(str(photo))
    return model_dir, photo, result["class_ids"]


def run_predict_cls(config, overrides, cwd):
    """deploy/python/predict_cls.py as PaddleClas users run it, on this checkout's package."""
    args = [sys.executable, str(PREDICT_CLS), "-c", str(config)]
    for o in overrides:
        args += ["-o", o]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def predicted_lines(stdout):
    """{file base name, as PaddleClas prints it: (class ids, label names)} from its output lines."""
    found = {}
    for line in stdout.splitlines():
        name, _, rest = line.partition(":\tclass id(s): ")
        ids, _, rest = rest.partition(", score(s): ")
        _, _, names = rest.partition(", label_name(s): ")
        found[name] = (yaml.safe_load(ids), yaml.safe_load(names))
    return found


# ----------------------------------------------------- PaddleClas's inference_cls.yaml


def test_paddleclas_inference_cls_yaml_runs_unchanged(imagenet_model, tmp_path):
    model_dir, photo, expected = imagenet_model
    shutil.copy(photo, tmp_path / "photo.jpg")
    assert not (tmp_path.parent / "ppcls").exists()  # ../ppcls/utils/imagenet1k_label_list.txt is absent
    done = run_predict_cls(INFERENCE_CLS, [f"Global.inference_model_dir={model_dir}",
                                           "Global.infer_imgs=photo.jpg", "Global.use_gpu=False"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert predicted_lines(done.stdout) == {"photo.jpg": (expected, [default_label_list(1000)[i] for i in expected])}
    assert FALLBACK in done.stderr  # said so (and ran this checkout's package: its resources path)
    assert "PreProcess in the config is the model's own" in done.stderr  # PaddleClas's = inference.yml's
    assert "1 images in 1 batches" in done.stderr  # its enable_benchmark: True


def test_paddleclas_deploy_keys_are_accepted():
    cfg = load_config(INFERENCE_CLS, ["Global.use_gpu=False"], schema=PREDICT_SCHEMA)
    g = cfg.Global
    assert (g.enable_benchmark, g.benchmark, g.cpu_num_threads, g.enable_mkldnn, g.gpu_mem) == (True, None, 10, True, 8000)
    assert cfg.PostProcess.Topk == {"topk": 5, "class_id_map_file": "../ppcls/utils/imagenet1k_label_list.txt",
                                    "delimiter": None}
    assert cfg.PostProcess.SavePreLabel == {"save_dir": "./pre_label/"}
    assert "MultiLabelThreshOutput" not in cfg.PostProcess and "IndexProcess" not in cfg  # no trace of refused keys
    # keys PaddleClas's predictor reads beyond this file, and ours
    cfg = load_config(INFERENCE_CLS, ["Global.use_int8=False", "Global.model_name=HRNet", "Global.use_xpu=False",
                                      "Global.save_log_path=./log.txt", "PostProcess.Topk.delimiter=' '"],
                      schema=PREDICT_SCHEMA)
    assert cfg.Global.save_log_path == "./log.txt" and cfg.PostProcess.Topk.delimiter == " "


def test_save_log_path_gets_the_benchmark_summary(imagenet_model, tmp_path):
    model_dir, photo, expected = imagenet_model
    log = tmp_path / "logs" / "infer.log"
    base = [f"Global.inference_model_dir={model_dir}", f"Global.infer_imgs={photo}", "Global.use_gpu=False"]
    done = run_predict_cls(INFERENCE_CLS, base + [f"Global.save_log_path={log}", "Global.model_name=W18s"],
                           tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = yaml.safe_load(log.read_text().split("\n", 1)[1])
    assert summary["model_name"] == "W18s" and summary["images"] == 1 and summary["batch_size"] == 1
    assert summary["cpu_num_threads"] == 10 and summary["enable_mkldnn"] is True
    assert summary["data_shape"] == [3, 224, 224] and summary["inference_time(ms/img)"] > 0
    # benchmark: False wins over the file's enable_benchmark: True; no log then
    log.unlink()
    done = run_predict_cls(INFERENCE_CLS, base + [f"Global.save_log_path={log}", "Global.benchmark=False"],
                           tmp_path)
    assert done.returncode == 0 and not log.exists()
    assert "ms/img" not in done.stderr and "is written only with Global.benchmark: True" in done.stderr
    assert predicted_lines(done.stdout)[photo.name][0] == expected


def test_preprocess_that_differs_is_reported_and_not_applied(imagenet_model, tmp_path):
    model_dir, photo, expected = imagenet_model
    done = run_predict_cls(INFERENCE_CLS, [
        f"Global.inference_model_dir={model_dir}", f"Global.infer_imgs={photo}", "Global.use_gpu=False",
        "PreProcess.transform_ops.1.CropImage.size=192"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("PreProcess in the config differs from the model's and is ignored" in done.stderr
            and "op 2: the config has {'CropImage': {'size': 192}}, the model {'CropImage': {'size': 224}}"
            in done.stderr)
    assert predicted_lines(done.stdout)[photo.name][0] == expected  # fed as exported


# ------------------------------------------------------------- TIPC inference step


def tipc_inference_overrides():
    """Every -o of the file's inference step, with the CPU choice (use_gpu False)."""
    overrides = []
    for key, value in tipc.settings(tipc.read_sections()["inference"]):
        values = tipc.choices(value)
        if key == "Global.use_gpu":
            assert "False" in values
            values = ["False"]
        assert len(values) == 1, (key, value)  # a new choice: decide which runs on CPU
        overrides.append(f"{key}={values[0]}")
    return overrides


def test_tipc_inference_flags_are_all_taken():
    assert [o.split("=")[0] for o in tipc_inference_overrides()] == [
        "Global.use_gpu", "Global.enable_mkldnn", "Global.cpu_num_threads", "Global.batch_size",
        "Global.use_tensorrt", "Global.use_fp16", "Global.inference_model_dir", "Global.infer_imgs",
        "Global.save_log_path", "Global.benchmark"]
    for config in (INFERENCE_CLS, OUR_INFERENCE_CLS):
        cfg = load_config(config, tipc_inference_overrides(), schema=PREDICT_SCHEMA)
        assert cfg.Global.save_log_path is None and cfg.Global.benchmark is False
        assert cfg.Global.cpu_num_threads == 1 and cfg.Global.enable_mkldnn is False


@pytest.mark.parametrize("config", [INFERENCE_CLS, OUR_INFERENCE_CLS], ids=["paddleclas_config", "our_config"])
def test_tipc_inference_step_predicts(imagenet_model, tmp_path, config):
    """TIPC runs `cd deploy; python python/predict_cls.py -c configs/inference_cls.yaml -o ...`
    with the model in ../inference and the image under ../dataset: that layout, the file's values."""
    model_dir, photo, expected = imagenet_model
    script, _, config_arg = tipc.command(tipc.read_sections()["inference"], "inference").partition(" -c ")
    assert (script, config_arg) == ("python/predict_cls.py", "configs/inference_cls.yaml")
    assert PREDICT_CLS == ROOT / "deploy" / script
    overrides = tipc_inference_overrides()
    values = dict(o.split("=", 1) for o in overrides)
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / values["Global.inference_model_dir"]).symlink_to(model_dir, target_is_directory=True)
    image = deploy / values["Global.infer_imgs"]
    image.parent.mkdir(parents=True)
    shutil.copy(photo, image)
    done = run_predict_cls(config, overrides, deploy)
    assert done.returncode == 0, done.stderr[-3000:]
    names = [default_label_list(1000)[i] for i in expected]
    assert predicted_lines(done.stdout) == {Path(values["Global.infer_imgs"]).name: (expected, names)}
    assert "ms/img" not in done.stderr  # benchmark: False
    if config == INFERENCE_CLS:
        assert FALLBACK in done.stderr


# ------------------------------------------------------------ what is refused


def test_typo_still_fails_with_a_suggestion(tmp_path):
    done = run_predict_cls(INFERENCE_CLS, ["Global.enable_benchmrk=False", "Global.inference_model_dir=x"],
                           tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Global.enable_benchmrk: unknown key. Did you mean Global.enable_benchmark," in done.stderr
    assert "(set by -o Global.enable_benchmrk=False)" in done.stderr
    for override, message in [
        ("PostProcess.Topk.class_id_map_fil=x", "PostProcess.Topk.class_id_map_fil: unknown key. "
                                                 "Did you mean PostProcess.Topk.class_id_map_file?"),
        ("Global.save_log_pth=x", "Global.save_log_pth: unknown key. Did you mean Global.save_log_path?"),
        ("PostProces.Topk.topk=1", "PostProces: unknown key. Did you mean PostProcess, PreProcess? "),  # not DetPostProcess
        # refused keys are never offered as corrections
        ("Global.treshold=0.5", "Global.treshold: unknown key. Valid keys here: infer_imgs,"),
    ]:
        with pytest.raises(ConfigError) as info:
            load_config(INFERENCE_CLS, [override], schema=PREDICT_SCHEMA)
        assert message in str(info.value)
    assert "threshold" not in str(info.value)


def test_a_postprocess_we_do_not_have_fails_clearly(tmp_path):
    # PaddleClas's deploy/configs/inference_cls_multilabel.yaml, unchanged
    done = run_predict_cls(PADDLECLAS / "inference_cls_multilabel.yaml", ["Global.use_gpu=False"], tmp_path)
    assert done.returncode == 2 and not done.stdout and "Traceback" not in done.stderr
    assert ("PostProcess.MultiLabelThreshOutput: PaddleClas's MultiLabelThreshOutput post-processing "
            "(multi-label: every class scoring over a threshold) is not implemented in ppcls-hrnet") in done.stderr
    assert "PostProcess.main_indicator: 'MultiLabelThreshOutput' is not one of: Topk." in done.stderr


# PaddleClas's deploy/configs/* post-processing sections other than Topk (keys and values as data)
OTHER_POSTPROCESS = {
    "ThreshOutput": {"threshold": 0.5, "label_0": "nobody", "label_1": "someone"},  # PULC/person_exists
    "ScoreOutput": {"decimal_places": 2},  # practical_models/aesthetic_score_predictor
    "PersonAttribute": {"threshold": 0.5, "glasses_threshold": 0.3, "hold_threshold": 0.6},  # inference_attr
    "VehicleAttribute": {"color_threshold": 0.5, "type_threshold": 0.5},  # PULC/vehicle_attribute
    "TableAttribute": {"source_threshold": 0.5, "number_threshold": 0.5, "color_threshold": 0.5,
                       "clarity_threshold": 0.5, "obstruction_threshold": 0.5, "angle_threshold": 0.5},
    "FaceAttribute": {"threshold": 0.65},  # deploy/python/postprocess.py
    "Binarize": {"method": "round"},  # inference_general_binary (RecPostProcess)
}


@pytest.mark.parametrize("name", list(OTHER_POSTPROCESS))
def test_every_other_postprocess_is_refused_by_name(name):
    data = yaml.safe_load(INFERENCE_CLS.read_text())
    data["PostProcess"][name] = OTHER_POSTPROCESS[name]
    with pytest.raises(ConfigError) as info:
        validate_config(data, schema=PREDICT_SCHEMA)
    assert f"PostProcess.{name}: PaddleClas's {name} post-processing" in str(info.value)
    assert "main_indicator: Topk" in str(info.value)


def test_pp_shitu_config_fails_naming_each_key(tmp_path):
    # PaddleClas's deploy/configs/inference_general.yaml (detection + retrieval), unchanged
    with pytest.raises(ConfigError) as info:
        load_config(PADDLECLAS / "inference_general.yaml", schema=PREDICT_SCHEMA)
    message = str(info.value)
    for key in ("Global.det_inference_model_dir", "Global.rec_inference_model_dir", "Global.rec_nms_thresold",
                "Global.image_shape", "Global.threshold", "Global.max_det_results", "Global.label_list",
                "DetPreProcess", "DetPostProcess", "RecPreProcess", "RecPostProcess", "IndexProcess"):
        assert f"\n  {key}: PaddleClas's PP-ShiTu setting for" in message, key
    assert "unknown key" not in message


@pytest.mark.parametrize("override, message", [
    ("Global.use_xpu=True", "Global.use_xpu: ppcls-hrnet's predictors run on CPU"),
    ("Global.use_npu=True", "Global.use_npu: ppcls-hrnet's predictors run on CPU"),
    ("PostProcess.Topk.delimiter='\t'", "PostProcess.Topk.delimiter: '\\t': class_id_map_file is read as"),
    ("Global.enable_benchmark=maybe", "Global.enable_benchmark: expected bool, got 'maybe' (str)"),
])
def test_settings_we_cannot_honour_are_refused(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(INFERENCE_CLS, [override], schema=PREDICT_SCHEMA)
    assert message in str(info.value)


def test_use_int8_means_precision_int8(imagenet_model, tmp_path):
    model_dir, photo, _ = imagenet_model
    base = [f"Global.inference_model_dir={model_dir}", f"Global.infer_imgs={photo}", "Global.use_gpu=False",
            "Global.use_int8=True"]
    done = run_predict_cls(INFERENCE_CLS, base + ["Global.precision=fp32"], tmp_path)
    assert done.returncode == 2 and "Global.use_int8 contradicts Global.precision='fp32'" in done.stderr
    done = run_predict_cls(INFERENCE_CLS, base + ["Global.backend=auto"], tmp_path)
    assert done.returncode == 2 and "no int8 model" in done.stderr and "ppcls-hrnet quantize" in done.stderr


def test_tipc_benchmark_profiler_flag_is_accepted_by_train(tmp_path):
    """train_benchmark_params passes `--profiler_options ...` to tools/train.py:
    it parses (a missing config is then the error, not an unknown flag) and says it is not applied."""
    (line,) = [l for l in tipc.read_sections()["train_benchmark_params"] if l.startswith("--profiler_options:")]
    value = line.split(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "tools/train.py"), "-c", str(tmp_path / "missing.yaml"),
                           "--profiler_options", value], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unrecognized arguments" not in done.stderr
    assert "--profiler_options" in done.stderr and "not applied" in done.stderr
    assert "missing.yaml" in done.stderr.strip().splitlines()[-1]
