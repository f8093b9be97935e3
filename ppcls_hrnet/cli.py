"""`ppcls-hrnet` command line: a thin dispatcher over the package's modules.

Each subcommand registers its arguments and a handler; the work itself lives
in the module the handler imports.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .errors import HRNetError
from .paddle_import import import_paddle

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: Dict[str, tuple] = {}  # name -> (help, add_arguments)


def command(name: str, help: str):
    """Register `ppcls-hrnet NAME`: decorate a function that adds its arguments
    and returns the handler."""

    def register(add_arguments):
        _COMMANDS[name] = (help, add_arguments)
        return add_arguments

    return register


@command("models", help="table of every registered model: params and GMACs measured, published figures")
def _models(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'HRNet_W18*'")
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--no_cache", action="store_true", help="re-measure instead of reading the cache")

    def run(args):
        from .models import list_models
        from .models.zoo_table import format_table, model_rows

        names = list_models(args.pattern)
        if not names:
            raise HRNetError(f"no model matches {args.pattern!r}; run `ppcls-hrnet models` for all names")
        rows = model_rows(names, args.image_size, use_cache=not args.no_cache)
        print(format_table(rows, args.image_size))
        return 0

    return run


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="YAML config (PaddleClas schema)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o Global.epochs=2 (repeatable)")


def _load(args):
    from .config import load_config

    return load_config(args.config, args.override)


def _config_command(name: str, help: str, target: str, profiler_option: bool = False) -> None:
    """Register a `-c CONFIG -o ...` command running ``target`` ("module:function") on the config."""

    def add_arguments(p: argparse.ArgumentParser) -> Handler:
        _config_arguments(p)
        if profiler_option:
            # test_tipc's benchmark_train mode passes it to tools/train.py
            p.add_argument("--profiler_options", default=None, metavar="OPTIONS",
                           help="PaddleClas's profiler flag: accepted, not applied (a warning says so)")

        def run(args):
            import importlib

            if getattr(args, "profiler_options", None):
                logging.getLogger("ppcls_hrnet").warning(
                    "--profiler_options %r is accepted for PaddleClas's test_tipc but not applied: training runs "
                    "without Paddle's profiler (time steps with the log's batch_cost/reader_cost)",
                    args.profiler_options)

            module, function = target.split(":")
            getattr(importlib.import_module(module, __package__), function)(_load(args))
            return 0

        return run

    command(name, help)(add_arguments)


_config_command("train", "train (or resume with -o Global.checkpoints=...) from a config", ".engine.trainer:train",
                profiler_option=True)
_config_command("eval", "evaluate Global.pretrained_model on DataLoader.Eval", ".engine.evaluator:run_eval")
_config_command("infer", "predict Infer.infer_imgs with the dygraph model", ".engine.infer:run_infer")


@command("export", help="write inference.json/.pdiparams (+ .pdmodel with --legacy) and inference.yml")
def _export(p: argparse.ArgumentParser) -> Handler:
    _config_arguments(p)
    p.add_argument("--legacy", action="store_true",
                   help="also write the legacy inference.pdmodel (Paddle Lite, OpenVINO's Paddle reader)")
    p.add_argument("--serving", action="store_true",
                   help="also write Paddle Serving's serving_server_conf.prototxt / serving_client_conf.prototxt "
                        "(implies --legacy: Paddle Serving runs the .pdmodel; see deploy/paddleserving)")

    def run(args):
        from .export.from_config import export_from_config

        out = export_from_config(_load(args), legacy=args.legacy or args.serving)
        if args.serving:
            from .export.serving import write_serving_confs

            write_serving_confs(out)
        print(f"exported to {out}")
        return 0

    return run


def str2bool(text) -> bool:
    """PaddleClas writes flags as --use_gpu=False; accept that and a bare --use_gpu."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "t", "yes", "y", "1", "on"):
        return True
    if value in ("false", "f", "no", "n", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def _flag(p: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    p.add_argument(name, type=str2bool, nargs="?", const=True, default=default, metavar="BOOL", help=help)


@command("predict", help="classify images (file, folder or URL) with a model name + weights or an "
                         "exported model; also `ppcls-hrnet --model_name=... --infer_imgs=...`")
def _predict(p: argparse.ArgumentParser) -> Handler:
    from .predictors.backends import BACKENDS, PRECISIONS

    p.add_argument("--infer_imgs", required=True, nargs="+", help="image file(s), folder(s) or http(s) URL(s)")
    p.add_argument("--model_name", default=None, help="e.g. HRNet_W18_C (`ppcls-hrnet models` lists them)")
    p.add_argument("--pretrained", default=None, help="weights for --model_name: a .pdparams path or URL "
                   "(default: PaddleClas's official weights, downloaded once)")
    _flag(p, "--use_ssld", False, "official SSLD weights for --model_name")
    p.add_argument("--inference_model_dir", default=None, help="an exported model (has inference.yml)")
    p.add_argument("--backend", default="auto", choices=["auto", *BACKENDS],
                   help="auto: the fastest installed engine for the precision (default)")
    p.add_argument("--precision", default=None, choices=PRECISIONS, help="default fp32 (fp16 with --use_fp16)")
    _flag(p, "--use_gpu", False, "run on GPU (needs paddlepaddle-gpu)")
    p.add_argument("--gpu_mem", type=int, default=500, help="initial GPU memory pool, MB")
    _flag(p, "--use_tensorrt", False, "Paddle Inference with TensorRT (GPU build with TensorRT)")
    _flag(p, "--use_fp16", False, "half precision (GPU)")
    _flag(p, "--enable_mkldnn", True, "Paddle Inference CPU: oneDNN kernels")
    _flag(p, "--ir_optim", True, "Paddle Inference graph optimisation")
    p.add_argument("--cpu_num_threads", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--topk", type=int, default=None, help="default: the model's inference.yml (5)")
    p.add_argument("--class_id_map_file", default=None, help="lines `<class id> <label name>`")
    p.add_argument("--resize_short", type=int, default=None, help="default crop_size x 256/224 (or the exported model's)")
    p.add_argument("--crop_size", type=int, default=None, help="default: the model's native size, 224 for "
                   "PaddleClas's models (or the exported model's)")
    p.add_argument("--save_dir", default=None, help="also write the results to SAVE_DIR/predictions.json")

    def run(args):
        from .predictors.api import create_predictor
        from .predictors.results import PREDICT_COMPLETE, format_result, save_results

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
            print(f"{failed} of {len(results)} inputs could not be predicted (see the errors above)",
                  file=sys.stderr)
        return 1 if failed else 0

    return run


@command("onnx", help="convert an exported model to ONNX with paddle2onnx and check it against Paddle")
def _onnx(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--inference_model_dir", required=True, help="an exported model (has inference.yml)")
    p.add_argument("--save_file", default=None, help="default: <inference_model_dir>/inference.onnx "
                   "(recorded in inference.yml, so predictors find it)")
    p.add_argument("--opset_version", type=int, default=11)
    p.add_argument("--model_format", default="auto", choices=["auto", "pir", "legacy"],
                   help="which Paddle program to convert (auto: inference.json)")
    p.add_argument("--check_imgs", nargs="+", default=None,
                   help="images (files/folders/URLs) to compare ONNX Runtime with Paddle Inference on")
    p.add_argument("--cpu_num_threads", type=int, default=2)

    def run(args):
        from .deploy_contract import read_deploy_config, register_model_files
        from .export.onnx import ONNX_FILE, convert_to_onnx, onnx_input_shape
        from .predictors.engines import OnnxRuntimeEngine, PaddleInferenceEngine
        from .predictors.parity import compare_engines

        deploy = read_deploy_config(args.inference_model_dir)
        save_file = Path(args.save_file or deploy.model_dir / ONNX_FILE)
        onnx_file = convert_to_onnx(deploy.model_dir, save_file, args.opset_version,
                                    model_format=args.model_format)
        if onnx_file.resolve().parent == deploy.model_dir.resolve():
            register_model_files(deploy.model_dir, {"onnx": onnx_file.name})
        shape = ["N" if d is None else d for d in onnx_input_shape(onnx_file)]
        print(f"wrote {onnx_file} (opset {args.opset_version}, input {shape})")
        if not args.check_imgs:
            print("not checked against Paddle: pass --check_imgs IMAGES to compare on real images")
            return 0
        report = compare_engines(
            PaddleInferenceEngine(deploy.model_dir, cpu_threads=args.cpu_num_threads, model_format=args.model_format),
            OnnxRuntimeEngine(onnx_file, cpu_threads=args.cpu_num_threads), deploy, args.check_imgs)
        print(report.summary("Paddle Inference", "ONNX Runtime"))
        return 0

    return run


@command("quantize", help="post-training static int8 (ONNX QDQ, per-channel) for ONNX Runtime and OpenVINO, "
                          "with top-1 before/after")
def _quantize(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--inference_model_dir", required=True, help="an exported model (has inference.yml)")
    p.add_argument("--calib_list", required=True, help="label list of calibration images (`path label` lines)")
    p.add_argument("--calib_root", default=None, help="folder the list's paths are relative to "
                   "(default: the list's folder)")
    p.add_argument("--num_calib", type=int, default=300, help="calibration images, class-balanced")
    p.add_argument("--method", default="MinMax", choices=["MinMax", "Percentile", "Entropy"])
    p.add_argument("--eval_list", default=None, help="label list to report top-1 of fp32 vs int8 on")
    p.add_argument("--eval_root", default=None)
    p.add_argument("--cpu_num_threads", type=int, default=2)

    def run(args):
        from .export.quantize import compare_top1, format_report, quantize_model

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

    return run


@command("lite", help="convert an exported model to a Paddle Lite .nb (arm, x86, arm,opencl) + the mobile "
                      "demo config, through a Python 3.7 helper venv (see deploy/lite)")
def _lite(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--inference_model_dir", required=True,
                   help="an exported model with the legacy inference.pdmodel (`export --legacy`)")
    p.add_argument("--valid_targets", default="arm", help="arm (default), x86 or arm,opencl")
    p.add_argument("--optimize_out", default=None, metavar="PREFIX",
                   help="writes PREFIX.nb (default: <inference_model_dir>/lite/inference_<target>.nb, "
                        "recorded in inference.yml as files.lite_<target>)")
    _flag(p, "--enable_fp16", False, "ARM fp16 kernels (ARMv8.2 phones), as Paddle Lite's opt documents")
    _flag(p, "--quant_model", False, "int8: refused (paddlelite 2.12's int8 gave wrong outputs here)")
    _flag(p, "--print_model_ops", True, "also print opt's report of the model's ops on the target")

    def run(args):
        from .lite.convert import convert_to_lite, model_ops_report

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

    return run


@command("benchmark", help="latency of every backend and precision, engines interleaved in one run")
def _benchmark(p: argparse.ArgumentParser) -> Handler:
    from .benchmark import add_arguments

    return add_arguments(p)


@command("serve", help="HTTP server for a model: Paddle Serving's pipeline protocol (POST /imagenet/prediction), "
                       "KServe/Triton's v2 (/v2/...), multipart POST /predict, Prometheus GET /metrics")
def _serve(p: argparse.ArgumentParser) -> Handler:
    from .serving.settings import add_arguments

    return add_arguments(p)


@command("data", help="prepare a dataset: `data fashion-mnist OUT_DIR`")
def _data(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("dataset", choices=["fashion-mnist"])
    p.add_argument("out_dir")
    p.add_argument("--source", default=None, help="folder of the idx .gz files "
                   "(default: Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)")
    p.add_argument("--limit_train", type=int, default=None, help="class-balanced subset size")
    p.add_argument("--limit_test", type=int, default=None)

    def run(args):
        from .data import convert_fashion_mnist

        summary = convert_fashion_mnist(args.out_dir, source_dir=args.source,
                                        limit_train=args.limit_train, limit_test=args.limit_test)
        print(f"wrote {summary['num_train']} train and {summary['num_test']} test images to {args.out_dir}: "
              f"{summary['train_list']}, {summary['test_list']}, {summary['label_names']}")
        print(f"held-out split of the training list (tune on these, not on the test images): "
              f"{summary['holdout_train_list']}, {summary['holdout_val_list']}")
        return 0

    return run


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The CLI's parser. With ``command``, only that subcommand gets its
    arguments: adding them imports what the command needs (the predictor's
    backend table, the benchmark), which a cold start should not pay for others."""
    parser = argparse.ArgumentParser(
        prog="ppcls-hrnet",
        description="HRNet for PaddlePaddle 3.x: PaddleClas-compatible models, training, export and deployment.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            p.set_defaults(handler=add_arguments(p))
    return parser


def _setup_logging() -> None:
    # paddle configures the root logger on import, so ours gets its own
    # handler (PaddleClas's line format) instead of relying on basicConfig.
    logger = logging.getLogger("ppcls_hrnet")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] ppcls_hrnet %(levelname)s: %(message)s",
                                               "%Y/%m/%d %H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


# Commands that may never run Paddle: they import it themselves when the
# chosen backend needs it (an OpenVINO or ONNX Runtime prediction never does).
PADDLE_OPTIONAL = ("predict", "serve")


def main(argv: Optional[List[str]] = None) -> int:
    setup_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("--") and argv[0] not in ("--help", "--version"):
        argv = ["predict", *argv]  # PaddleClas's `paddleclas --model_name=... --infer_imgs=...`
    command = argv[0] if argv and argv[0] in _COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    if args.command not in PADDLE_OPTIONAL:
        import_paddle()
    return run_guarded(args.handler, args)


def run_guarded(function, *args) -> int:
    """Run a command: our errors become one `error: ...` line and exit code 2, not a traceback."""
    try:
        return function(*args)
    except HRNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def setup_process() -> None:
    """What every entry point (CLI, deploy scripts) does first. Paddle is not
    imported here: see :mod:`ppcls_hrnet.paddle_import`."""
    _setup_logging()


def run_as_tool(command_name: str) -> None:
    """Entry of the thin tools/*.py scripts (PaddleClas's tools/train.py etc.)."""
    sys.exit(main([command_name, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
