"""Weights alone (official, a path or a URL) -> a cached inference model.

What ``ppcls-hrnet --model_name=HRNet_W18_C --infer_imgs=...`` runs on: the
model is exported once per (model, weights, input size) with PaddleClas's
ImageNet preprocessing and reused from ``$PPCLS_HRNET_HOME/inference``.
The class count is read from the weights, so a model fine-tuned on 10
classes predicts 10 classes.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Optional

from ..base.home import home_subdir
from ..errors import WeightsError
from ..models.pretrained import read_state_dict, resolve_weights
from ..models.registry import create_model, get_spec
from ..runtime.contract import (DEPLOY_FILE, DeployConfigError, deploy_config_content, imagenet_transform_ops,
                                read_deploy_config)
from ..runtime.model_files import model_file_names
from .exporter import export_deployable

logger = logging.getLogger("ppcls_hrnet")


class NoWeightsError(WeightsError):
    """Predicting needs trained weights and none could be found."""


def export_from_weights(model_name: str, pretrained=True, *, use_ssld: bool = False,
                        resize_short: int = 256, crop_size: int = 224, topk: int = 5,
                        label_list=None, cache_dir: Optional[str] = None) -> Path:
    """The inference model directory for ``model_name`` with ``pretrained`` weights.

    pretrained: True (PaddleClas's official weights), a ``.pdparams`` path or
    an http(s) URL. Raises NoWeightsError, saying how to get weights, when
    none are available: predictions of random weights are never produced.
    """
    spec = get_spec(model_name)
    weights = _resolve_or_explain(resolve_weights, pretrained, spec, use_ssld)
    home = Path(cache_dir) / "inference" if cache_dir else home_subdir("inference")
    save_dir = home / f"{model_name}_{crop_size}_{resize_short}_{_digest(weights)}"
    if _usable(save_dir):  # checked before loading the weights: a cached run reads them only to hash
        logger.info("using the exported %s in %s", model_name, save_dir)
        return save_dir
    class_num = _class_num(read_state_dict(weights), model_name, weights)
    deploy = deploy_config_content(model_name, class_num, model_file_names(("pir", "legacy")), (3, crop_size, crop_size),
                                   imagenet_transform_ops(resize_short, crop_size), softmax=True,
                                   topk=topk, label_list=label_list, shape_source="--crop_size")
    model = create_model(model_name, class_num=class_num, pretrained=weights)
    logger.info("exporting %s (%d classes) to %s", model_name, class_num, save_dir)
    export_deployable(model, save_dir, deploy)
    return save_dir


def _resolve_or_explain(resolve_weights, pretrained, spec, use_ssld) -> str:
    try:
        return resolve_weights(pretrained, spec, use_ssld=use_ssld)
    except WeightsError as err:
        if pretrained is not True:
            raise
        raise NoWeightsError(
            f"no weights for {spec.name}: {err}\n"
            "Predictions of an untrained network would be random, so none are made. Get weights by:\n"
            "  --pretrained PATH_OR_URL   a .pdparams file (PaddleClas's official file, or "
            "output/<model>/best_model from `ppcls-hrnet train`)\n"
            "  --inference_model_dir DIR  a model exported with `ppcls-hrnet export`\n"
            "  or put the official file in the cache (PPCLS_HRNET_HOME, default ~/.cache/ppcls_hrnet/weights)"
        ) from None


def _class_num(state, model_name: str, path: str) -> int:
    weight = state.get("fc.weight")
    if weight is None or weight.ndim != 2:
        raise WeightsError(f"{path} has no classifier (fc.weight): it is a backbone-only file and "
                           f"cannot classify; fine-tune {model_name} with `ppcls-hrnet train` first")
    return int(weight.shape[1])


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _usable(save_dir: Path) -> bool:
    if not (save_dir / DEPLOY_FILE).is_file():
        return False
    try:
        deploy = read_deploy_config(save_dir)
    except DeployConfigError:
        return False
    return all(os.path.isfile(save_dir / name) for name in deploy.files.values())
