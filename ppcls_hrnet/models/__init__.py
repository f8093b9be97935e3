"""The HRNet family: one spec table, one model class, one registry.

Names are imported on first use, so the registry and the spec table (model
names, widths) can be read without importing Paddle.
"""
import importlib

_EXPORTS = {
    "hrnet": ("HRNet",),
    "registry": ("create_model", "get_spec", "list_models"),
    "spec": ("ARCH_TABLE", "FEATURE_STRIDES", "HRNetSpec", "StageSpec"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'ppcls_hrnet.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
