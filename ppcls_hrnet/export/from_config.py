"""`ppcls-hrnet export`: trained weights + config -> inference model + inference.yml."""
from __future__ import annotations

import logging
from pathlib import Path

from ..engine.builders import build_model, require_trained_weights, set_device
from ..runtime.contract import build_deploy_config
from ..runtime.model_files import model_file_names
from .exporter import export_deployable

logger = logging.getLogger("ppcls_hrnet")


def export_from_config(cfg, legacy: bool = False, save_dir=None) -> Path:
    require_trained_weights(cfg, "export")
    save_dir = Path(save_dir or cfg.Global.save_inference_dir)
    formats = ("pir", "legacy") if legacy else ("pir",)
    softmax = bool(cfg.Arch.infer_add_softmax)
    # checked before the (slow) export, so a config mistake costs nothing
    deploy = build_deploy_config(cfg, model_file_names(formats), softmax)
    set_device(cfg)
    model = build_model(cfg)
    written = export_deployable(model, save_dir, deploy)
    logger.info("exported %s: %s", cfg.Arch.name, ", ".join(sorted(str(p.name) for p in written.values())))
    return save_dir
