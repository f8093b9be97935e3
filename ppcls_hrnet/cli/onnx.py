"""`ppcls-hrnet onnx`: convert an exported model to ONNX and check it against Paddle on real images."""
from __future__ import annotations

import argparse

from ..export.onnx import check_against_paddle, export_onnx, onnx_input_shape


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference_model_dir", required=True, help="an exported model (has inference.yml)")
    p.add_argument("--save_file", default=None, help="default: <inference_model_dir>/inference.onnx "
                   "(recorded in inference.yml, so predictors find it)")
    p.add_argument("--opset_version", type=int, default=11)
    p.add_argument("--model_format", default="auto", choices=["auto", "pir", "legacy"],
                   help="which Paddle program to convert (auto: inference.json)")
    p.add_argument("--check_imgs", nargs="+", default=None,
                   help="images (files/folders/URLs) to compare ONNX Runtime with Paddle Inference on")
    p.add_argument("--cpu_num_threads", type=int, default=2)


def run(args) -> int:
    onnx_file = export_onnx(args.inference_model_dir, args.save_file, args.opset_version, args.model_format)
    shape = ["N" if d is None else d for d in onnx_input_shape(onnx_file)]
    print(f"wrote {onnx_file} (opset {args.opset_version}, input {shape})")
    if not args.check_imgs:
        print("not checked against Paddle: pass --check_imgs IMAGES to compare on real images")
        return 0
    report = check_against_paddle(args.inference_model_dir, onnx_file, args.check_imgs,
                                  cpu_threads=args.cpu_num_threads, model_format=args.model_format)
    print(report.summary("Paddle Inference", "ONNX Runtime"))
    return 0
