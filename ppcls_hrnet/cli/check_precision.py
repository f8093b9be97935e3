"""`ppcls-hrnet check-precision`: bf16's top-1 agreement with fp32 on a label list, recorded for
``--precision auto``."""
from __future__ import annotations

import argparse

from ..evaluation.accuracy import format_report
from ..evaluation.precision_check import BF16_ENGINES, check_bf16
from ..runtime.precision import BF16_MIN_AGREEMENT


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference_model_dir", required=True, help="an exported model (has inference.yml)")
    p.add_argument("--eval_list", required=True, help="label list (`path label` lines) of images to compare on")
    p.add_argument("--eval_root", default=None, help="folder the list's paths are relative to "
                   "(default: the list's folder)")
    p.add_argument("--engines", nargs="+", default=list(BF16_ENGINES),
                   help="an fp32 reference, then the bf16 engines (accuracy names)")
    p.add_argument("--cpu_num_threads", type=int, default=2)
    p.add_argument("--no_record", action="store_true", help="report only; leave inference.yml as it is")


def run(args) -> int:
    check = check_bf16(args.inference_model_dir, args.eval_list, args.eval_root, engines=args.engines,
                       cpu_threads=args.cpu_num_threads, record=not args.no_record)
    print(format_report(check.report))
    agreement = check.record["top1_agreement"] * 100
    verdict = ("--precision auto may run it in bf16" if check.allows_bf16 else
               "--precision auto runs it in fp32")
    print(f"bf16 keeps the fp32 top-1 class on {agreement:.2f} % of the images (needs "
          f"{BF16_MIN_AGREEMENT * 100:g} %): {verdict}"
          + ("" if args.no_record else f"; recorded in {args.inference_model_dir}/inference.yml"))
    return 0
