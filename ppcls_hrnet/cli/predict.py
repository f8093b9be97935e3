"""`ppcls-hrnet predict` (and PaddleClas's `--model_name=... --infer_imgs=...`): classify images."""
from __future__ import annotations

import argparse
import sys

from ..api import create_predictor
from ..base.process import add_bool_flag
from ..runtime.options import PREDICTOR_OPTIONS, add_flags
from ..runtime.results import PREDICT_COMPLETE, format_result, save_results

# cpu_pinning is for several processes sharing the cores: `serve --workers`
PREDICT_OPTIONS = tuple(option for name, option in PREDICTOR_OPTIONS.items() if name != "cpu_pinning")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--infer_imgs", required=True, nargs="+", help="image file(s), folder(s) or http(s) URL(s)")
    p.add_argument("--model_name", default=None, help="e.g. HRNet_W18_C (`ppcls-hrnet models` lists them)")
    p.add_argument("--pretrained", default=None, help="weights for --model_name: a .pdparams path or URL "
                   "(default: PaddleClas's official weights, downloaded once)")
    add_bool_flag(p, "--use_ssld", False, "official SSLD weights for --model_name")
    p.add_argument("--inference_model_dir", default=None, help="an exported model (has inference.yml)")
    add_flags(p, PREDICT_OPTIONS)
    p.add_argument("--resize_short", type=int, default=None,
                   help="default crop_size x 256/224 (or the exported model's)")
    p.add_argument("--crop_size", type=int, default=None, help="default: the model's native size, 224 for "
                   "PaddleClas's models (or the exported model's)")
    p.add_argument("--save_dir", default=None, help="also write the results to SAVE_DIR/predictions.json")


def run(args) -> int:
    predictor = create_predictor(
        args.model_name, args.inference_model_dir, args.pretrained, use_ssld=args.use_ssld,
        backend=args.backend, precision=args.precision, use_gpu=args.use_gpu, use_tensorrt=args.use_tensorrt,
        use_fp16=args.use_fp16, enable_mkldnn=args.enable_mkldnn, cpu_num_threads=args.cpu_num_threads,
        gpu_mem=args.gpu_mem, ir_optim=args.ir_optim, batch_size=args.batch_size, topk=args.topk,
        class_id_map_file=args.class_id_map_file, resize_short=args.resize_short, crop_size=args.crop_size)
    results = []
    for result in predictor.predict(args.infer_imgs):
        if "error" not in result:
            print(format_result(result))
        results.append(result)
    if args.save_dir:
        path = save_results(results, args.save_dir, predictor)
        print(f"saved {len(results)} results to {path}")
    print(PREDICT_COMPLETE)
    failed = sum("error" in r for r in results)
    if failed:
        print(f"{failed} of {len(results)} inputs could not be predicted (see the errors above)", file=sys.stderr)
    return 1 if failed else 0
