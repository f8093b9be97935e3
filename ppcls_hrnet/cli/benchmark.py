"""`ppcls-hrnet benchmark`: CPU latency (median ms per batch, images/s) of every backend and precision,
all engines interleaved in one run."""
from __future__ import annotations

import argparse
import logging

from ..evaluation.benchmark import run_benchmark
from ..evaluation.report import format_report, write_json
from ..evaluation.settings import BenchmarkSettings, select_engines
from ..runtime.variants import TIMED

logger = logging.getLogger("ppcls_hrnet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = BenchmarkSettings()
    parser.add_argument("--models", "--model", nargs="+", default=list(defaults.models), metavar="NAME",
                        help=f"models to time (default: {' '.join(defaults.models)})")
    parser.add_argument("--image_size", "--size", nargs="+", type=int, default=list(defaults.image_sizes),
                        metavar="PX", help="square input sizes, multiples of 32 (default: 224)")
    parser.add_argument("--batch_sizes", "--batch", nargs="+", type=int, default=list(defaults.batch_sizes),
                        metavar="N", help="batch sizes (default: 1 4 8)")
    parser.add_argument("--engines", nargs="+", default=["*"], metavar="PATTERN",
                        help="engine keys or globs, e.g. 'openvino-*' paddle-fp32-onednn-off (default: all but "
                             "lite-fp32-x86, which is chosen by its key; --list_engines shows them)")
    parser.add_argument("--list_engines", action="store_true", help="print the engine keys and exit")
    parser.add_argument("--cpu_threads", "--threads", type=int, default=defaults.cpu_threads,
                        help="threads per engine (default: 2)")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed rounds first (default: 5)")
    parser.add_argument("--runs", type=int, default=defaults.runs,
                        help="timed rounds; the median is reported (default: 30)")
    parser.add_argument("--settle_ms", type=float, default=defaults.settle_ms,
                        help="longest wait for the process to go idle before each run; 0 disables (default: 500)")
    parser.add_argument("--num_calib", type=int, default=defaults.num_calib,
                        help="synthetic calibration images for the int8 models (default: 32)")
    parser.add_argument("--work_dir", default=None,
                        help="keep the exported models here (default: a temporary directory, removed)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write every measurement as JSON")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")


def settings_from_args(args: argparse.Namespace) -> BenchmarkSettings:
    def unique(values):
        return tuple(dict.fromkeys(values))

    return BenchmarkSettings(
        models=unique(args.models), image_sizes=unique(args.image_size), batch_sizes=unique(args.batch_sizes),
        engines=select_engines(args.engines), cpu_threads=args.cpu_threads, warmup=args.warmup, runs=args.runs,
        settle_ms=args.settle_ms, num_calib=args.num_calib, work_dir=args.work_dir)


def run(args: argparse.Namespace) -> int:
    if args.list_engines:
        for variant in TIMED.values():
            print(f"{variant.key:24} {variant.label}")
        return 0
    settings = settings_from_args(args)
    report = run_benchmark(settings, progress=not args.no_progress)
    print(format_report(report), end="")
    if args.json:
        logger.info("benchmark: wrote %s", write_json(report, args.json))
    return 0
