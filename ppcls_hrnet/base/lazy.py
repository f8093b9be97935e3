"""Package namespaces whose names are imported on first use.

``ppcls_hrnet.models`` and ``ppcls_hrnet.export`` re-export names from their
submodules; importing them eagerly would import Paddle, which a predictor on
OpenVINO or ONNX Runtime never needs.
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, Tuple


def lazy_exports(package: str, exports: Dict[str, Tuple[str, ...]]) -> Tuple[Callable, List[str]]:
    """(module ``__getattr__``, ``__all__``) for ``{submodule: (names, ...)}``."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module_of[name]}", package), name)

    return __getattr__, list(module_of)
