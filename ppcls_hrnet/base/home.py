"""Where ppcls-hrnet keeps what it downloads, exports and compiles.

``$PPCLS_HRNET_HOME`` (default ``~/.cache/ppcls_hrnet``) holds ``weights/``
(downloaded .pdparams), ``inference/`` (models exported by ``--model_name``)
and ``openvino_cache/`` (OpenVINO's compiled-model cache, so a second run
skips compilation). Paddle-free.
"""
from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "PPCLS_HRNET_HOME"


def home_dir() -> Path:
    return Path(os.path.expanduser(os.environ.get(HOME_ENV) or os.path.join("~", ".cache", "ppcls_hrnet")))


def home_subdir(name: str) -> Path:
    """``$PPCLS_HRNET_HOME/<name>`` (not created here)."""
    return home_dir() / name
