"""Export from a config: inference model + inference.yml, and the deploy contract round trip."""
import numpy as np
import pytest
import yaml

from conftest import QUICK_START, fashion_overrides
from ppcls_hrnet.config import load_config
from ppcls_hrnet.data import read_label_list
from ppcls_hrnet.errors import ConfigError
from ppcls_hrnet.runtime.contract import DeployConfigError, read_deploy_config
from ppcls_hrnet.export.from_config import export_from_config
from ppcls_hrnet.runtime.paddle.engine import PaddleInferenceEngine


@pytest.mark.slow
def test_trained_fashion_mnist_model_beats_chance_by_far(trained_fashion_model):
    _, stats = trained_fashion_model
    # 10 balanced classes: chance is 0.10; a broken pipeline cannot reach 0.70
    assert stats["samples"] == 1000
    assert stats["top1"] >= 0.70, stats


@pytest.mark.slow
def test_export_reproduces_eval_accuracy_in_paddle_inference(trained_fashion_model, tmp_path):
    cfg, stats = trained_fashion_model
    out = export_from_config(cfg, legacy=True, save_dir=tmp_path / "inference")
    deploy = read_deploy_config(out)
    assert deploy.model_name == "HRNet_W18_small_v1" and deploy.class_num == 10
    assert deploy.input_shape == [-1, 3, 32, 32]
    assert deploy.softmax is True
    assert deploy.label_list[0] == "T-shirt/top" and deploy.label_list[9] == "Ankle boot"
    assert [next(iter(op)) for op in deploy.transform_ops] == [
        "DecodeImage", "ResizeImage", "NormalizeImage", "ToCHWImage"]
    assert sorted(p.name for p in out.iterdir()) == [
        "inference.json", "inference.pdiparams", "inference.pdiparams.info", "inference.pdmodel",
        "inference.yml"]

    data = cfg.DataLoader.Eval.dataset
    entries, _ = read_label_list(data.cls_label_path)
    transforms = deploy.build_transforms()  # preprocessing from inference.yml only
    images = np.stack([transforms(open(f"{data.image_root}/{e.path}", "rb").read()) for e in entries])
    labels = np.array([e.label for e in entries])
    for fmt in ("pir", "legacy"):
        engine = PaddleInferenceEngine(out, model_format=fmt)
        probs = np.concatenate([engine.run(images[i:i + 128]) for i in range(0, len(images), 128)])
        assert np.allclose(probs.sum(1), 1, atol=1e-4)  # Softmax appended at export
        accuracy = float((probs.argmax(1) == labels).mean())
        assert abs(accuracy - stats["top1"]) <= 0.002, (fmt, accuracy, stats["top1"])


def _config(tmp_path, *extra):
    return load_config(QUICK_START, fashion_overrides(tmp_path) + list(extra))


def test_export_needs_weights(tmp_path):
    with pytest.raises(ConfigError, match="export needs trained weights"):
        export_from_config(_config(tmp_path))


def test_export_checks_transforms_against_image_shape(tmp_path):
    cfg = _config(tmp_path, "Global.image_shape=[3,64,64]", "Global.pretrained_model=somewhere")
    with pytest.raises(ConfigError, match=r"produce images of shape \[3, 32, 32\].*\[3, 64, 64\]"):
        export_from_config(cfg)


def test_export_refuses_training_augmentation_in_infer_transforms(tmp_path):
    cfg = _config(tmp_path, "Global.pretrained_model=somewhere")
    cfg.Infer.transforms.insert(1, {"RandFlipImage": {"flip_code": 1}})
    with pytest.raises(ConfigError, match=r"training augmentation \(RandFlipImage\).*deterministic"):
        export_from_config(cfg)


def test_deploy_config_errors(tmp_path):
    with pytest.raises(DeployConfigError, match="does not exist"):
        read_deploy_config(tmp_path / "missing")
    with pytest.raises(DeployConfigError, match="has no inference.yml.*ppcls-hrnet export"):
        read_deploy_config(tmp_path)
    (tmp_path / "inference.yml").write_text(yaml.safe_dump({"model_name": "x"}))
    with pytest.raises(DeployConfigError, match="not a valid inference.yml"):
        read_deploy_config(tmp_path)
