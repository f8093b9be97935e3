"""`ppcls-hrnet quantize`: post-training static int8 (ONNX QDQ) with top-1 of fp32 vs int8."""
from __future__ import annotations

import argparse

from ..evaluation.accuracy import compare_top1, format_report
from ..export.quantize import quantize_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference_model_dir", required=True, help="an exported model (has inference.yml)")
    p.add_argument("--calib_list", required=True, help="label list of calibration images (`path label` lines)")
    p.add_argument("--calib_root", default=None, help="folder the list's paths are relative to "
                   "(default: the list's folder)")
    p.add_argument("--num_calib", type=int, default=300, help="calibration images, class-balanced")
    p.add_argument("--method", default="MinMax", choices=["MinMax", "Percentile", "Entropy"])
    p.add_argument("--eval_list", default=None, help="label list to report top-1 of fp32 vs int8 on")
    p.add_argument("--eval_root", default=None)
    p.add_argument("--cpu_num_threads", type=int, default=2)


def run(args) -> int:
    path = quantize_model(args.inference_model_dir, args.calib_list, args.calib_root,
                          num_calib=args.num_calib, method=args.method)
    print(f"wrote {path} (recorded as onnx_int8 in inference.yml: --precision int8 runs it)")
    if args.eval_list:
        report = compare_top1(args.inference_model_dir, args.eval_list, args.eval_root,
                              cpu_threads=args.cpu_num_threads)
        print(format_report(report))
    else:
        print("accuracy not checked: pass --eval_list to compare int8 with fp32")
    return 0
