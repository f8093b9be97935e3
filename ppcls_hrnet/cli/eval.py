"""`ppcls-hrnet eval`: top-k of ``Global.pretrained_model`` on ``DataLoader.Eval``."""
from __future__ import annotations

from ..engine.evaluator import run_eval
from .config_command import add_config_arguments as add_arguments, load

__all__ = ["add_arguments", "run"]


def run(args) -> int:
    run_eval(load(args))
    return 0
