"""`ppcls-hrnet lite`: an exported model -> Paddle Lite ``.nb`` + the mobile demo config."""
from __future__ import annotations

import argparse

from ..base.process import add_bool_flag
from ..export.lite import convert_to_lite, model_ops_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference_model_dir", required=True,
                   help="an exported model with the legacy inference.pdmodel (`export --legacy`)")
    p.add_argument("--valid_targets", default="arm", help="arm (default), x86 or arm,opencl")
    p.add_argument("--optimize_out", default=None, metavar="PREFIX",
                   help="writes PREFIX.nb (default: <inference_model_dir>/lite/inference_<target>.nb, "
                        "recorded in inference.yml as files.lite_<target>)")
    add_bool_flag(p, "--enable_fp16", False, "ARM fp16 kernels (ARMv8.2 phones), as Paddle Lite's opt documents")
    add_bool_flag(p, "--quant_model", False, "int8: refused (paddlelite 2.12's int8 gave wrong outputs here)")
    add_bool_flag(p, "--print_model_ops", True, "also print opt's report of the model's ops on the target")


def run(args) -> int:
    result = convert_to_lite(args.inference_model_dir, args.valid_targets, args.optimize_out,
                             enable_fp16=args.enable_fp16, quant_model=args.quant_model)
    print(f"wrote {result.nb_file}")
    print(f"wrote {result.config_file} and {result.label_file} (the demo's config.txt and label_path)")
    if result.recorded:
        print(f"recorded in inference.yml: {', '.join(f'{k}: {v}' for k, v in result.recorded.items())}")
    if args.print_model_ops:
        report = model_ops_report(args.inference_model_dir, result.target)
        bad = report.unsupported()
        print(f"opt --print_model_ops on {result.target}: {len(report.ops)} op types, "
              + ("all supported" if report.supported and not bad else f"NOT supported: {', '.join(bad)}"))
        if bad or not report.supported:
            return 1
    return 0
