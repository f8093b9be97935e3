"""How to run a model: PaddleClas's predictor flags plus backend and precision."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError
from .backends import BACKEND_NAMES

PRECISIONS = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a model; PaddleClas's predictor flags plus backend and precision."""

    backend: str = "auto"  # auto | paddle | onnxruntime | openvino | lite
    precision: str = "fp32"  # fp32 | fp16 | bf16 | int8
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
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
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
