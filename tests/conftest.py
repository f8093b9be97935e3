import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from reference_weights import reference_weights  # noqa: E402  (fixture data from PaddleClas)

os.environ.setdefault("POLYGRAPHY_AUTOINSTALL_DEPS", "0")


@pytest.fixture(scope="session", autouse=True)
def _private_home(tmp_path_factory):
    """Downloads, cached exports and OpenVINO's compiled-model cache go to a
    temporary PPCLS_HRNET_HOME, never the user's ~/.cache (tests that check
    the home set their own with monkeypatch)."""
    previous = os.environ.get("PPCLS_HRNET_HOME")
    os.environ["PPCLS_HRNET_HOME"] = str(tmp_path_factory.mktemp("ppcls_hrnet_home"))
    yield
    if previous is None:
        os.environ.pop("PPCLS_HRNET_HOME", None)
    else:
        os.environ["PPCLS_HRNET_HOME"] = previous


def fixture_manifest(name):
    """PaddleClas's [key, shape] list for `name`, or None when there is no fixture."""
    path = DATA / f"{name}.keys.json"
    return json.loads(path.read_text()) if path.exists() else None


def apply_reference_weights(model):
    """Load the fixture's deterministic weights, built from the model's own keys.

    Random init with untrained BN statistics is numerically unstable, so
    cross-backend comparisons use these well-conditioned weights instead.
    """
    import paddle

    manifest = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in reference_weights(manifest).items()})
    model.eval()
    return model


@pytest.fixture(scope="session")
def reference_inputs():
    return np.load(DATA / "inputs.npy")


FASHION_SOURCE = Path("/usr/share/datasets/fashion-mnist")
QUICK_START = Path(__file__).resolve().parents[1] / "configs/quick_start/HRNet_W18_small_v1_fashion_mnist.yaml"


def make_fashion_subset(out_dir, n_train, n_test):
    """An ImageNet-style Fashion-MNIST subset from Debian's dataset-fashion-mnist."""
    if not FASHION_SOURCE.is_dir():
        message = "Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from ppcls_hrnet.data import convert_fashion_mnist

    convert_fashion_mnist(str(out_dir), limit_train=n_train, limit_test=n_test, progress=False)
    return out_dir


def fashion_overrides(root, size=32):
    """Point the quick-start config at `root` and use size x size images."""
    return [
        f"DataLoader.Train.dataset.image_root={root}",
        f"DataLoader.Train.dataset.cls_label_path={root}/train_list.txt",
        f"DataLoader.Eval.dataset.image_root={root}",
        f"DataLoader.Eval.dataset.cls_label_path={root}/test_list.txt",
        f"DataLoader.Train.dataset.transform_ops.1.ResizeImage.size={size}",
        f"DataLoader.Eval.dataset.transform_ops.1.ResizeImage.size={size}",
        f"Infer.transforms.1.ResizeImage.size={size}",
        f"Infer.PostProcess.class_id_map_file={root}/label_names.txt",
        f"Global.image_shape=[3,{size},{size}]",
    ]


@pytest.fixture(scope="session")
def trained_fashion_model(tmp_path_factory):
    """HRNet_W18_small_v1 trained for a few minutes on 3000 real Fashion-MNIST
    images (shared by the export and deploy tests). Returns (cfg, eval stats)."""
    from ppcls_hrnet.config import load_config
    from ppcls_hrnet.engine.trainer import Trainer

    data = make_fashion_subset(tmp_path_factory.mktemp("fashion3k"), 3000, 1000)
    out = tmp_path_factory.mktemp("fashion3k_train")
    cfg = load_config(QUICK_START, fashion_overrides(data) + [
        f"Global.output_dir={out}", "Global.epochs=4", "Global.print_batch_step=20",
        f"Global.save_inference_dir={out}/inference"])
    stats = Trainer(cfg).fit()
    cfg = load_config(QUICK_START, fashion_overrides(data) + [
        f"Global.output_dir={out}", f"Global.save_inference_dir={out}/inference",
        f"Global.pretrained_model={out}/HRNet_W18_small_v1/latest"])
    return cfg, stats


@pytest.fixture(autouse=True)
def _ppcls_logger_propagates():
    """The CLI gives the package logger its own handler and stops propagation
    (right for a process); tests that ran it must not hide logs from caplog."""
    import logging

    yield
    logger = logging.getLogger("ppcls_hrnet")
    logger.propagate = True
    logger.handlers.clear()


@pytest.fixture(scope="session")
def small_deploy(tmp_path_factory):
    """A quickly exported model (HRNet_W18_small_v1, 10 classes, 32x32, PIR + legacy +
    inference.yml, random weights: for mechanics, not accuracy) and 12 real
    Fashion-MNIST test images. Returns (model_dir, image_dir, weights_file)."""
    import paddle

    from ppcls_hrnet.config import load_config
    from ppcls_hrnet.export.from_config import export_from_config
    from ppcls_hrnet.models import create_model

    root = tmp_path_factory.mktemp("small_deploy")
    data = make_fashion_subset(root / "data", 10, 12)
    paddle.seed(0)
    weights = root / "random.pdparams"
    paddle.save(create_model("HRNet_W18_small_v1", class_num=10).state_dict(), str(weights))
    cfg = load_config(QUICK_START, fashion_overrides(data) + [f"Global.pretrained_model={weights}"])
    model_dir = export_from_config(cfg, legacy=True, save_dir=root / "inference")
    return model_dir, data / "images" / "test", weights
