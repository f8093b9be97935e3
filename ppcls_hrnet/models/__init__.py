from .hrnet import HRNet
from .registry import create_model, get_spec, list_models
from .spec import ARCH_TABLE, FEATURE_STRIDES, HRNetSpec, StageSpec

__all__ = ["HRNet", "create_model", "get_spec", "list_models", "ARCH_TABLE",
           "FEATURE_STRIDES", "HRNetSpec", "StageSpec"]
