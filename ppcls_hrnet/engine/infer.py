"""Dygraph inference on image files with the config's Infer transforms and Topk."""
from __future__ import annotations

import logging
from typing import List

import numpy as np
import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from ..data import DataError, build_transforms
from ..data.images import list_images
from ..errors import ConfigError
from ..postprocess import Topk
from .builders import build_model, require_trained_weights, set_device

logger = logging.getLogger("ppcls_hrnet")


def _decode_batch(transforms, paths):
    """Preprocessed images of the readable paths; unreadable ones are reported, not fatal."""
    images, kept = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                images.append(transforms(f.read()))
            kept.append(path)
        except (OSError, DataError) as e:
            logger.error("skipping %s: %s", path, e)
    return images, kept


@paddle.no_grad()
def run_infer(cfg) -> List[dict]:
    infer = cfg.get("Infer")
    if not infer or not infer.get("infer_imgs"):
        raise ConfigError("infer needs Infer.infer_imgs (an image, a folder): -o Infer.infer_imgs=PATH")
    set_device(cfg)
    require_trained_weights(cfg, "infer")
    model = build_model(cfg)
    model.eval()
    transforms = build_transforms(infer.transforms)
    post = Topk(infer.PostProcess.topk, infer.PostProcess.get("class_id_map_file"))
    paths = list_images(infer.infer_imgs)
    results = []
    for start in tqdm(range(0, len(paths), infer.batch_size), desc="infer", leave=False):
        images, kept = _decode_batch(transforms, paths[start:start + infer.batch_size])
        if not images:
            continue
        scores = F.softmax(model(paddle.to_tensor(np.stack(images)))).numpy()
        for result in post(scores, kept):
            print(result)
            results.append(result)
    return results
