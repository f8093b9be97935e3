"""`ppcls-hrnet train`: train, or resume with ``-o Global.checkpoints=...``, from a config."""
from __future__ import annotations

import argparse
import logging

from ..engine.trainer import train
from .config_command import add_config_arguments, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    # test_tipc's benchmark_train mode passes it to tools/train.py
    p.add_argument("--profiler_options", default=None, metavar="OPTIONS",
                   help="PaddleClas's profiler flag: accepted, not applied (a warning says so)")


def run(args) -> int:
    if args.profiler_options:
        logging.getLogger("ppcls_hrnet").warning(
            "--profiler_options %r is accepted for PaddleClas's test_tipc but not applied: training runs "
            "without Paddle's profiler (time steps with the log's batch_cost/reader_cost)", args.profiler_options)
    train(load(args))
    return 0
