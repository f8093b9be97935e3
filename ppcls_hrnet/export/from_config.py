"""`ppcls-hrnet export`: trained weights + config -> inference model + inference.yml."""
from __future__ import annotations

import logging
from pathlib import Path

from ..engine.builders import build_model, require_trained_weights, set_device
from ..deploy_contract import build_deploy_config, write_deploy_config
from .exporter import export_inference_model
from .model_files import MODEL_SUFFIXES, PARAMS_SUFFIX

logger = logging.getLogger("ppcls_hrnet")


def export_from_config(cfg, legacy: bool = False, save_dir=None) -> Path:
    require_trained_weights(cfg, "export")
    save_dir = Path(save_dir or cfg.Global.save_inference_dir)
    formats = ("pir", "legacy") if legacy else ("pir",)
    files = {fmt: "inference" + MODEL_SUFFIXES[fmt] for fmt in formats}
    files["params"] = "inference" + PARAMS_SUFFIX
    softmax = bool(cfg.Arch.infer_add_softmax)
    # checked before the (slow) export, so a config mistake costs nothing
    deploy = build_deploy_config(cfg, files, softmax)
    set_device(cfg)
    model = build_model(cfg)
    written = export_inference_model(
        model, save_dir, image_shape=cfg.Global.image_shape, add_softmax=softmax, formats=formats,
        extra_writers=[lambda staging: write_deploy_config(staging, deploy)],
    )
    logger.info("exported %s: %s", cfg.Arch.name, ", ".join(sorted(str(p.name) for p in written.values())))
    return save_dir
