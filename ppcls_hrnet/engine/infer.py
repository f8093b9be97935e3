"""Dygraph inference on image files with the config's Infer transforms and Topk."""
from __future__ import annotations

import logging
from typing import List

import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from ..data import build_transforms
from ..preprocess.images import iter_image_batches, list_images
from ..errors import ConfigError
from ..runtime.postprocess import Topk, default_label_list
from .builders import build_model, require_trained_weights, set_device

logger = logging.getLogger("ppcls_hrnet")


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
    label_file = infer.PostProcess.get("class_id_map_file")
    post = Topk(infer.PostProcess.topk, label_file,
                label_list=None if label_file else default_label_list(cfg.Arch.class_num))
    paths = list_images(infer.infer_imgs)
    results = []
    batches = iter_image_batches(paths, transforms, infer.batch_size)
    for batch in tqdm(batches, total=-(-len(paths) // infer.batch_size), desc="infer", leave=False):
        for position, why in batch.errors.items():
            logger.error("skipping %s: %s", batch.sources[position], why)
        if batch.images is None:
            continue
        scores = F.softmax(model(paddle.to_tensor(batch.images))).numpy()
        for result in post(scores, batch.names):
            print(result)
            results.append(result)
    return results
