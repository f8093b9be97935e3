"""`ppcls-hrnet` command line: one module per command, this one dispatches.

Each command module owns its arguments (``add_arguments(parser)``) and its
handler (``run(args) -> exit code``). Only the module of the command being
run is imported, so a prediction on OpenVINO starts without the training
stack, and Paddle is imported (quietly, see :mod:`..base.paddle_import`)
before any command that runs it.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

from ..base.paddle_import import import_paddle
from ..base.process import run_guarded, setup_process


@dataclass(frozen=True)
class Command:
    module: str  # ppcls_hrnet.cli.<module>: add_arguments(parser), run(args)
    help: str
    # Commands that may never run Paddle import it themselves when the chosen
    # backend needs it (an OpenVINO or ONNX Runtime prediction never does).
    needs_paddle: bool = True


COMMANDS: Dict[str, Command] = {
    "models": Command("models", "table of every registered model: params and GMACs measured, published figures"),
    "train": Command("train", "train (or resume with -o Global.checkpoints=...) from a config"),
    "eval": Command("eval", "evaluate Global.pretrained_model on DataLoader.Eval"),
    "infer": Command("infer", "predict Infer.infer_imgs with the dygraph model"),
    "export": Command("export", "write inference.json/.pdiparams (+ .pdmodel with --legacy) and inference.yml"),
    "predict": Command("predict", "classify images (file, folder or URL) with a model name + weights or an "
                                  "exported model; also `ppcls-hrnet --model_name=... --infer_imgs=...`",
                       needs_paddle=False),
    "predict-batch": Command("predict_batch", "classify millions of images into a Parquet table on Ray Data "
                                              "(a local Ray, or a cluster's), exactly once, resumable",
                             needs_paddle=False),
    "onnx": Command("onnx", "convert an exported model to ONNX with paddle2onnx and check it against Paddle"),
    "quantize": Command("quantize", "post-training static int8 (ONNX QDQ, per-channel) for ONNX Runtime and "
                                    "OpenVINO, with top-1 before/after"),
    "check-precision": Command("check_precision", "how often bf16 changes the model's top-1 class against fp32 "
                                                  "on a label list; recorded for --precision auto"),
    "lite": Command("lite", "convert an exported model to a Paddle Lite .nb (arm, x86, arm,opencl) + the mobile "
                            "demo config, through a Python 3.7 helper venv (see deploy/lite)"),
    "benchmark": Command("benchmark", "latency of every backend and precision, engines interleaved in one run"),
    "serve": Command("serve", "HTTP (and, with --grpc_port, gRPC) server for a model: Paddle Serving's "
                              "pipeline protocol (POST /imagenet/prediction; its RPC), KServe/Triton's v2 "
                              "(/v2/...; inference.GRPCInferenceService), multipart POST /predict, "
                              "Prometheus GET /metrics", needs_paddle=False),
    "data": Command("data", "prepare a dataset: `data fashion-mnist OUT_DIR`"),
}


def command_module(name: str):
    return importlib.import_module(f".{COMMANDS[name].module}", __package__)


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The CLI's parser. With ``command``, only that subcommand gets its
    arguments: adding them imports the command's module, which a cold start
    of another command should not pay for."""
    parser = argparse.ArgumentParser(
        prog="ppcls-hrnet",
        description="HRNet for PaddlePaddle 3.x: PaddleClas-compatible models, training, export and deployment.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        if command in (None, name):
            module = command_module(name)
            module.add_arguments(p)
            p.set_defaults(handler=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    setup_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("--") and argv[0] not in ("--help", "--version"):
        argv = ["predict", *argv]  # PaddleClas's `paddleclas --model_name=... --infer_imgs=...`
    command = argv[0] if argv and argv[0] in COMMANDS else None
    if command and COMMANDS[command].needs_paddle:
        import_paddle()  # before the command's module imports it without our care
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return run_guarded(args.handler, args)


def run_as_tool(command_name: str) -> None:
    """Entry of the thin tools/*.py scripts (PaddleClas's tools/train.py etc.)."""
    sys.exit(main([command_name, *sys.argv[1:]]))
