"""How to run a model: PaddleClas's predictor flags plus backend and precision.

:data:`PREDICTOR_OPTIONS` declares each setting once, as data; the
``ppcls-hrnet predict`` and ``serve`` flags (:func:`add_flags`) and the deploy
config's keys (``config/schema.py``, ``PREDICT_SCHEMA``) are built from it.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple

from ..base.process import add_bool_flag
from ..errors import ConfigError
from .backends import BACKEND_NAMES
from .precision import AUTO

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# What may be asked for: auto resolves to one of PRECISIONS when the engine is made (runtime.precision).
REQUESTED_PRECISIONS = (AUTO, *PRECISIONS)
AUTO_PRECISION_HELP = ("auto (default): bf16 where the engine computes it natively on this CPU and the model "
                       "keeps its answers in bf16, else fp32")


@dataclass(frozen=True)
class PredictorOption:
    """One predictor setting: ``--<name>`` on the command line, ``<name>`` in a deploy config."""

    name: str
    kind: type  # bool, int or str; a None default means "unset", which the help explains
    default: Any
    help: str = ""
    choices: Optional[Tuple[str, ...]] = None
    # Refused below this in deploy configs; the flags have never checked it
    # (RuntimeOptions refuses cpu_threads < 1 whichever way it came).
    minimum: Optional[int] = None


# Defaults are the command line's; a surface that differs (PaddleClas's deploy
# configs: gpu_mem 8000, backend paddle) replaces them where it builds its own.
PREDICTOR_OPTIONS: Dict[str, PredictorOption] = {option.name: option for option in (
    PredictorOption("backend", str, "auto", "auto: the fastest installed engine for the precision (default)",
                    choices=("auto", *BACKEND_NAMES)),
    PredictorOption("precision", str, None, AUTO_PRECISION_HELP + "; fp16 with --use_fp16",
                    choices=REQUESTED_PRECISIONS),
    PredictorOption("use_gpu", bool, False, "run on GPU (needs paddlepaddle-gpu)"),
    PredictorOption("gpu_mem", int, 500, "initial GPU memory pool, MB", minimum=1),
    PredictorOption("use_tensorrt", bool, False, "Paddle Inference with TensorRT (GPU build with TensorRT)"),
    PredictorOption("use_fp16", bool, False, "half precision (GPU)"),
    PredictorOption("enable_mkldnn", bool, True, "Paddle Inference CPU: oneDNN kernels"),
    PredictorOption("ir_optim", bool, True, "Paddle Inference graph optimisation"),
    PredictorOption("cpu_num_threads", int, 2, minimum=1),
    PredictorOption("batch_size", int, 1, minimum=1),
    PredictorOption("topk", int, None, "default: the model's inference.yml (5)"),
    PredictorOption("class_id_map_file", str, None, "lines `<class id> <label name>`"),
    PredictorOption("cpu_pinning", bool, None, "OpenVINO's ENABLE_CPU_PINNING (default: off with several "
                    "workers, which would pin their threads to the same cores)"),
)}


def add_flags(parser: argparse.ArgumentParser, options: Iterable[PredictorOption]) -> None:
    """``--<name>`` for each option; bools take PaddleClas's ``--use_gpu=False`` as well as ``--use_gpu``."""
    for option in options:
        flag = f"--{option.name}"
        if option.kind is bool:
            add_bool_flag(parser, flag, option.default, option.help)
        else:
            parser.add_argument(flag, type=option.kind, default=option.default, choices=option.choices,
                                help=option.help)


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a model; PaddleClas's predictor flags plus backend and precision."""

    backend: str = "auto"  # auto | paddle | onnxruntime | openvino | lite
    precision: str = AUTO  # auto | fp32 | fp16 | bf16 | int8
    use_gpu: bool = False
    gpu_mem: int = 500  # MB, initial GPU memory pool (Paddle Inference)
    gpu_id: int = 0
    use_tensorrt: bool = False
    enable_mkldnn: bool = True  # Paddle Inference on CPU: oneDNN kernels
    cpu_threads: int = 2
    ir_optim: bool = True
    max_batch_size: int = 8  # TensorRT dynamic-shape range is [1, max_batch_size]
    model_format: str = "auto"  # Paddle Inference: auto | pir | legacy
    cpu_pinning: Optional[bool] = None  # OpenVINO's ENABLE_CPU_PINNING (None: its default); off for several processes

    def __post_init__(self):
        if self.precision not in REQUESTED_PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(REQUESTED_PRECISIONS)}, "
                              f"got {self.precision!r}")
        if self.backend != "auto" and self.backend not in BACKEND_NAMES:
            raise ConfigError(f"backend must be auto or one of {', '.join(BACKEND_NAMES)}, got {self.backend!r}")
        if self.use_tensorrt and self.backend not in ("auto", "paddle"):
            raise ConfigError(f"use_tensorrt runs through Paddle Inference: use backend paddle, not {self.backend}")
        if self.precision == "int8" and self.device == "gpu" and not self.use_tensorrt:
            # Paddle Inference's GPU int8 is TensorRT's; without it the model would quietly run fp32
            raise ConfigError("int8 on GPU runs through TensorRT: add --use_tensorrt (or use fp32/fp16)")
        if self.cpu_threads < 1:
            raise ConfigError(f"cpu_threads must be >= 1, got {self.cpu_threads}")

    @property
    def device(self) -> str:
        return "gpu" if self.use_gpu or self.use_tensorrt else "cpu"
