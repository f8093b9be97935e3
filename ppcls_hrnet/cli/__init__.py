"""The command line, on top of every other layer; nothing in the package imports it.

``ppcls-hrnet COMMAND`` (:mod:`.main`, one module per command) and
PaddleClas's ``paddleclas`` command (:mod:`.paddleclas`).
"""
from .main import build_parser, main, run_as_tool

__all__ = ["main", "build_parser", "run_as_tool"]
