"""The HRNet family: one spec table, one model class, one registry.

Names are imported on first use, so the registry and the spec table (model
names, widths) can be read without importing Paddle.
"""
from ..base.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "hrnet": ("HRNet",),
    "registry": ("create_model", "get_spec", "list_models"),
    "spec": ("ARCH_TABLE", "FEATURE_STRIDES", "HRNetSpec", "StageSpec"),
})
