"""PaddleClas-style YAML configs: load, ``_BASE_`` inheritance, ``-o`` overrides, schema check.

    cfg = load_config("configs/ImageNet/HRNet/HRNet_W18_C.yaml", ["Global.epochs=2"])
    cfg.Global.epochs, cfg["Arch"]["name"], cfg.get_path("DataLoader.Train.sampler.batch_size")

The schema (every key, type and default) is the table in ``schema.py``.
"""
from .config import Config
from .load import load_config, validate_config
from .schema import PREDICT_SCHEMA, TRAIN_SCHEMA, TRANSFORM_OPS

__all__ = ["Config", "load_config", "validate_config", "TRAIN_SCHEMA", "PREDICT_SCHEMA", "TRANSFORM_OPS"]
