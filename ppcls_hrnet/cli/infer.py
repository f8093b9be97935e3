"""`ppcls-hrnet infer`: predict ``Infer.infer_imgs`` with the dygraph model of a config."""
from __future__ import annotations

from ..engine.infer import run_infer
from .config_command import add_config_arguments as add_arguments, load

__all__ = ["add_arguments", "run"]


def run(args) -> int:
    run_infer(load(args))
    return 0
