"""The `-c CONFIG -o KEY=VALUE` arguments that train, eval, infer and export share."""
from __future__ import annotations

import argparse

from ..config import load_config


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="YAML config (PaddleClas schema)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o Global.epochs=2 (repeatable)")


def load(args):
    return load_config(args.config, args.override)
