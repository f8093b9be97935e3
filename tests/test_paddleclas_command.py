"""The `paddleclas` command (PaddleClas's whl CLI) and ImageNet class names by default.

An HRNet_W18_C with 1000 classes and deterministic weights (conftest's
reference weights) stands in for PaddleClas's official file, which cannot be
downloaded here; the command exports it once from the .pdparams and predicts.
"""
import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from conftest import QUICK_START, apply_reference_weights
from ppcls_hrnet.runtime.postprocess import IMAGENET1K_LABEL_FILE

LINE = re.compile(r"filename: (?P<file>.+), top-(?P<k>\d+), class_ids: (?P<ids>\[[\d, ]*\]), "
                  r"scores: (?P<scores>\[[\d., e-]*\]), label_names: (?P<names>\[.*\])")


def imagenet_names():
    lines = IMAGENET1K_LABEL_FILE.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 1)[1] for line in lines]


def test_bundled_imagenet_names_are_paddleclas_list():
    names = imagenet_names()
    assert len(names) == 1000
    assert names[0] == "tench, Tinca tinca" and names[1] == "goldfish, Carassius auratus"
    assert names[999] == "toilet tissue, toilet paper, bathroom tissue"


def parse_lines(stdout):
    found = [LINE.fullmatch(line) for line in stdout.splitlines() if line.startswith("filename: ")]
    assert found and all(found), stdout
    return [{"file": m["file"], "k": int(m["k"]), "ids": json.loads(m["ids"]), "scores": json.loads(m["scores"]),
             "names": ast.literal_eval(m["names"])} for m in found]


def photo(path, seed=0, size=(375, 500)):
    """A smooth colour image (gradients + blobs), JPEG-encoded."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * xx + rng.uniform(0, 3)), np.cos(5 * yy + rng.uniform(0, 3)), xx * yy], -1)
    img = ((img - img.min()) / (np.ptp(img) + 1e-6) * 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope="module")
def imagenet_weights(tmp_path_factory):
    """HRNet_W18_C, 1000 classes, deterministic weights saved as a .pdparams."""
    import paddle

    from ppcls_hrnet.models import create_model

    path = tmp_path_factory.mktemp("w18") / "HRNet_W18_C_reference.pdparams"
    paddle.save(apply_reference_weights(create_model("HRNet_W18_C", class_num=1000)).state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def imagenet_export(imagenet_weights, tmp_path_factory):
    """One export of those weights, shared read-only (a test that edits it copies it first)."""
    from ppcls_hrnet.export.from_weights import export_from_weights

    return export_from_weights("HRNet_W18_C", str(imagenet_weights), cache_dir=str(tmp_path_factory.mktemp("cache")))


def run(args, env=None, timeout=600):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full_env)


def paddleclas_script():
    script = shutil.which("paddleclas")
    assert script, "the paddleclas console script is not installed: pip install -e ."
    return script


def test_paddleclas_script_is_ours():
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "paddleclas"]
    assert entry.value == "ppcls_hrnet.cli.paddleclas:main"
    (ours,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "ppcls-hrnet"]
    assert ours.value == "ppcls_hrnet.cli:main"


def test_paddleclas_model_name_prints_paddleclas_line_with_imagenet_names(imagenet_weights, tmp_path):
    image = photo(tmp_path / "photo.jpg")
    home = tmp_path / "home"
    result = run([paddleclas_script(), "--model_name=HRNet_W18_C", f"--pretrained={imagenet_weights}",
                  f"--infer_imgs={image}"], env={"PPCLS_HRNET_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    (line,) = parse_lines(result.stdout)
    names = imagenet_names()
    assert line["file"] == str(image) and line["k"] == 5 and len(line["ids"]) == 5
    assert line["names"] == [names[i] for i in line["ids"]]
    assert line["scores"] == sorted(line["scores"], reverse=True) and 0 < sum(line["scores"]) <= 1.0001
    assert result.stdout.splitlines()[-1] == "Predict complete!"
    # the export wrote the names into the deploy contract, so every predictor has them
    (exported,) = (home / "inference").iterdir()
    contract = yaml.safe_load((exported / "inference.yml").read_text())
    assert contract["PostProcess"]["label_list"] == names
    # the Python API on the same export agrees with the command
    import ppcls_hrnet

    (api,) = ppcls_hrnet.predict(str(image), inference_model_dir=exported)
    assert api["class_ids"] == line["ids"] and api["label_names"] == line["names"]


def test_paddleclas_whl_flags_on_an_exported_model(imagenet_export, tmp_path):
    """Every flag of PaddleClas's whl command (CPU values), through the installed script."""
    model_dir = imagenet_export
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(3):
        photo(images / f"p{seed}.jpg", seed)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{i} class_{i}\n" for i in range(1000)))
    result = run([paddleclas_script(), f"--inference_model_dir={model_dir}", f"--infer_imgs={images}",
                  "--use_gpu=False", "--gpu_mem=8000", "--enable_mkldnn=True", "--cpu_num_threads=2",
                  "--use_tensorrt=False", "--use_fp16=False", "--batch_size=2", "--topk=3",
                  f"--class_id_map_file={labels}", f"--save_dir={tmp_path / 'out'}", "--resize_short=256",
                  "--crop_size=224"])
    assert result.returncode == 0, result.stderr
    lines = parse_lines(result.stdout)
    assert [Path(line["file"]).name for line in lines] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    for line in lines:  # the given label file wins over the bundled ImageNet names
        assert line["k"] == 3 and line["names"] == [f"class_{i}" for i in line["ids"]]
    saved = json.loads((tmp_path / "out/predictions.json").read_text())
    assert [r["class_ids"] for r in saved["results"]] == [line["ids"] for line in lines]


def test_paddleclas_unknown_model_without_paddleclas_is_one_line(tmp_path):
    from ppcls_hrnet.cli.paddleclas import paddleclas_main

    # asked the way the command asks (tests/data/ on sys.path holds a data folder named paddleclas)
    if paddleclas_main() is not None:
        pytest.skip("PaddleClas is installed here: other models are handed to it")
    result = run([paddleclas_script(), "--model_name=MobileNetV3_small_x1_0", f"--infer_imgs={tmp_path}"],
                 timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: MobileNetV3_small_x1_0 is not one of the HRNet models this paddleclas command")
    assert "HRNet_W18_C" in line and "SE_HRNet_W64_C" in line and "pip install paddleclas" in line
    near = run([paddleclas_script(), "--model_name", "HRNet_W18", f"--infer_imgs={tmp_path}"], timeout=120)
    assert near.returncode == 2 and "did you mean HRNet_W18_C" in near.stderr


def test_paddleclas_hands_other_models_to_paddleclas(tmp_path):
    """With PaddleClas importable (a stand-in package recording its argv), a
    non-HRNet name goes to it unchanged; HRNet names stay ours."""
    fake = tmp_path / "site" / "paddleclas"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "paddleclas.py").write_text(
        "import json, os, sys\n"
        "def main():\n"
        "    with open(os.environ['ARGV_RECORD'], 'w') as f:\n"
        "        json.dump(sys.argv, f)\n"
        "    print('Predict complete!')\n")
    record = tmp_path / "argv.json"
    env = {"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")]),
           "ARGV_RECORD": str(record)}
    argv = ["--model_name=ResNet50", "--infer_imgs", "docs/demo.jpg", "--topk=3", "--use_gpu=False"]
    result = run([paddleclas_script(), *argv], env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(record.read_text()) == ["paddleclas", *argv]
    # an HRNet name is ours even then: no weights reachable -> our message, PaddleClas not called
    record.unlink()
    ours = run([paddleclas_script(), "--model_name=HRNet_W30_C", f"--infer_imgs={tmp_path}"],
               env={**env, "PPCLS_HRNET_WEIGHTS_BASE": "http://127.0.0.1:9/",
                    "PPCLS_HRNET_HOME": str(tmp_path / "home")}, timeout=300)
    assert ours.returncode == 2 and not record.exists()
    assert "HRNet_W30_C" in ours.stderr and "Traceback" not in ours.stderr


def test_old_export_without_names_gets_imagenet_names(imagenet_export, tmp_path):
    """A 1000-class inference.yml written before names were bundled (label_list
    null) still prints names; a 10-class model prints none."""
    from ppcls_hrnet.runtime.predictor import ClassificationPredictor

    model_dir = Path(shutil.copytree(imagenet_export, tmp_path / "old_export"))
    contract = yaml.safe_load((model_dir / "inference.yml").read_text())
    contract["PostProcess"]["label_list"] = None
    (model_dir / "inference.yml").write_text(yaml.safe_dump(contract))
    image = photo(tmp_path / "a.jpg")
    (result,) = ClassificationPredictor(model_dir).predict(str(image))
    names = imagenet_names()
    assert result["label_names"] == [names[i] for i in result["class_ids"]]


def test_dygraph_infer_of_a_1000_class_model_prints_imagenet_names(tmp_path):
    import paddle

    from ppcls_hrnet.config import load_config
    from ppcls_hrnet.engine.infer import run_infer
    from ppcls_hrnet.models import create_model

    weights = tmp_path / "w.pdparams"
    paddle.seed(1)
    paddle.save(create_model("HRNet_W18_small_v1", class_num=1000).state_dict(), str(weights))
    image = photo(tmp_path / "a.jpg", size=(40, 48))
    cfg = load_config(QUICK_START, ["Arch.class_num=1000", f"Global.pretrained_model={weights}",
                                    f"Infer.infer_imgs={image}", "Infer.PostProcess.class_id_map_file=null"])
    (result,) = run_infer(cfg)
    names = imagenet_names()
    assert result["label_names"] == [names[i] for i in result["class_ids"]]
