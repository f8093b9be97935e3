"""Which engine runs an exported model: one table of backends, one factory.

    engine, choice = create_engine(read_deploy_config(model_dir), RuntimeOptions(backend="auto"))

Each backend names the precisions it runs on CPU and on GPU and builds an
:class:`~ppcls_hrnet.predictors.engines.Engine` from the model directory's
``inference.yml`` (which file to load comes from its ``files`` section).
``backend="auto"`` tries, for the precision asked, the backends in the order
of :data:`AUTO_ORDER`: fastest first as measured in ``docs/benchmarks.md``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional, Tuple

from ..errors import ConfigError
from ..paddle_import import import_paddle
from ..export.onnx import ConversionError, ensure_onnx
from .engines import (BackendUnavailableError, Engine, OnnxRuntimeEngine, OpenVINOEngine,
                      PaddleInferenceEngine, _import_backend)

logger = logging.getLogger("ppcls_hrnet")

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
        if self.backend != "auto" and self.backend not in BACKENDS:
            raise ConfigError(f"backend must be auto or one of {', '.join(BACKENDS)}, got {self.backend!r}")
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


@dataclass(frozen=True)
class Backend:
    name: str
    cpu_precisions: Tuple[str, ...]
    gpu_precisions: Tuple[str, ...]
    build: Callable[["DeployConfig", RuntimeOptions], Engine]  # noqa: F821

    def check(self, options: RuntimeOptions) -> None:
        """Raise a clear error if this backend cannot run ``options`` at all."""
        supported = self.gpu_precisions if options.device == "gpu" else self.cpu_precisions
        if options.precision not in supported:
            if not supported:
                raise BackendUnavailableError(f"{self.name} does not run on {options.device.upper()} here; "
                                              f"use --backend paddle for GPU")
            raise BackendUnavailableError(
                f"{self.name} on {options.device.upper()} runs {', '.join(supported)}, not {options.precision}"
                + _precision_hint(options))


def _precision_hint(options: RuntimeOptions) -> str:
    if options.precision == "fp16" and options.device == "cpu":
        return "; fp16 needs a GPU (--use_gpu); on CPU use bf16 or int8"
    if options.precision == "int8":
        return "; CPU int8 runs the model quantized by `ppcls-hrnet quantize` on onnxruntime or openvino"
    return ""


# --------------------------------------------------------------- Paddle Inference


def _paddle_cuda_check(options: RuntimeOptions) -> None:
    paddle = import_paddle()
    import paddle.inference as paddle_infer

    if not paddle.is_compiled_with_cuda():
        wanted = "TensorRT" if options.use_tensorrt else "use_gpu"
        raise BackendUnavailableError(
            f"{wanted} needs a GPU build of Paddle (paddlepaddle-gpu"
            f"{' compiled with TensorRT' if options.use_tensorrt else ''}); this paddle {paddle.__version__} is "
            "CPU-only. On CPU drop --use_gpu/--use_tensorrt: --backend auto picks the fastest CPU engine")
    if options.use_tensorrt and paddle_infer.get_trt_compile_version() == (0, 0, 0):
        raise BackendUnavailableError(
            "use_tensorrt needs a Paddle build compiled with TensorRT (paddle.inference.get_trt_compile_version() "
            "is (0, 0, 0)); install a paddlepaddle-gpu wheel built with TensorRT")


def _build_paddle(deploy, options: RuntimeOptions) -> Engine:
    if options.device == "gpu":
        _paddle_cuda_check(options)
    return PaddleInferenceEngine(
        deploy.model_dir, enable_mkldnn=options.enable_mkldnn, cpu_threads=options.cpu_threads,
        use_gpu=options.device == "gpu", gpu_mem=options.gpu_mem, gpu_id=options.gpu_id,
        model_format=_paddle_format(deploy, options), ir_optim=options.ir_optim,
        configure=lambda config: _paddle_precision(config, deploy, options))


def _paddle_format(deploy, options: RuntimeOptions) -> str:
    # Paddle Inference's TensorRT subgraph engine is documented for the
    # legacy program; prefer it when the export wrote one.
    if options.use_tensorrt and options.model_format == "auto" and deploy.model_file("legacy"):
        return "legacy"
    return options.model_format


def _paddle_precision(config, deploy, options: RuntimeOptions) -> None:
    """Precision and TensorRT settings on a Paddle Inference Config (Paddle's documented API)."""
    import paddle.inference as paddle_infer

    precision = {"fp32": paddle_infer.PrecisionType.Float32, "fp16": paddle_infer.PrecisionType.Half,
                 "int8": paddle_infer.PrecisionType.Int8, "bf16": paddle_infer.PrecisionType.Bfloat16}
    if options.use_tensorrt:
        config.enable_tensorrt_engine(
            workspace_size=1 << 30, max_batch_size=options.max_batch_size, min_subgraph_size=3,
            precision_mode=precision[options.precision], use_static=False,
            use_calib_mode=options.precision == "int8")
        _, c, h, w = deploy.input_shape
        name = deploy.input_name
        config.set_trt_dynamic_shape_info({name: [1, c, h, w]}, {name: [options.max_batch_size, c, h, w]},
                                          {name: [1, c, h, w]})
    elif options.device == "gpu" and options.precision == "fp16":
        config.enable_use_gpu(options.gpu_mem, options.gpu_id, precision["fp16"])
    elif options.device == "cpu" and options.precision == "bf16":
        if not options.enable_mkldnn:
            raise ConfigError("bf16 on CPU runs on oneDNN: do not disable enable_mkldnn")
        config.enable_onednn_bfloat16()


# ------------------------------------------------------------- ONNX Runtime


def _onnx_file(deploy, options: RuntimeOptions):
    if options.precision == "int8":
        return _quantized_file(deploy)
    return ensure_onnx(deploy.model_dir)


def _quantized_file(deploy):
    path = deploy.model_file("onnx_int8")
    if path is None or not path.is_file():
        raise BackendUnavailableError(
            f"{deploy.model_dir} has no int8 model; make one with "
            f"`ppcls-hrnet quantize --inference_model_dir {deploy.model_dir} --calib_list LIST`")
    return path


def _build_onnxruntime(deploy, options: RuntimeOptions) -> Engine:
    if options.device == "gpu":
        ort = _import_backend("onnxruntime", "onnx")
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailableError("onnxruntime here has no CUDAExecutionProvider "
                                          "(install onnxruntime-gpu) — or use --backend paddle on GPU")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if options.device == "gpu" else None
    return OnnxRuntimeEngine(_onnx_file(deploy, options), cpu_threads=options.cpu_threads, providers=providers)


# ----------------------------------------------------------------- OpenVINO


def _build_openvino(deploy, options: RuntimeOptions) -> Engine:
    _import_backend("openvino", "openvino")  # before converting anything
    if options.precision == "int8":
        # The QDQ model carries the int8 scales; its float parts stay f32.
        return OpenVINOEngine(_quantized_file(deploy), options.cpu_threads, precision="f32",
                              cpu_pinning=options.cpu_pinning)
    legacy = deploy.model_file("legacy")
    path = legacy if legacy is not None and legacy.is_file() else _onnx_file(deploy, options)
    return OpenVINOEngine(path, options.cpu_threads, precision={"fp32": "f32", "bf16": "bf16"}[options.precision],
                          cpu_pinning=options.cpu_pinning)


# ---------------------------------------------------------------- Paddle Lite


def _build_lite(deploy, options: RuntimeOptions) -> Engine:
    """An x86 .nb (``ppcls-hrnet lite --valid_targets x86``) in the Python 3.7 helper:
    a check of the .nb a phone runs, not a fast engine."""
    from ..lite.engine import LiteEngine

    path = deploy.model_file("lite_x86")
    if path is None or not path.is_file():
        raise BackendUnavailableError(
            f"{deploy.model_dir} has no x86 Paddle Lite model; make one with `ppcls-hrnet lite "
            f"--inference_model_dir {deploy.model_dir} --valid_targets x86`")
    return LiteEngine(path, deploy.input_shape, cpu_threads=options.cpu_threads)


BACKENDS: Dict[str, Backend] = {b.name: b for b in (
    Backend("paddle", cpu_precisions=("fp32", "bf16"), gpu_precisions=("fp32", "fp16", "int8"),
            build=_build_paddle),
    Backend("onnxruntime", cpu_precisions=("fp32", "int8"), gpu_precisions=("fp32",),
            build=_build_onnxruntime),
    Backend("openvino", cpu_precisions=("fp32", "bf16", "int8"), gpu_precisions=(),
            build=_build_openvino),
    # not in AUTO_ORDER: a check path for the .nb, slower than the others
    Backend("lite", cpu_precisions=("fp32",), gpu_precisions=(), build=_build_lite),
)}

# Fastest first, per device and precision (docs/benchmarks.md, 2-core x86).
AUTO_ORDER: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("cpu", "fp32"): ("openvino", "paddle", "onnxruntime"),
    ("cpu", "bf16"): ("openvino", "paddle"),
    ("cpu", "int8"): ("openvino", "onnxruntime"),
    ("gpu", "fp32"): ("paddle", "onnxruntime"),
    ("gpu", "fp16"): ("paddle",),
    ("gpu", "int8"): ("paddle",),
}


def create_engine(deploy, options: RuntimeOptions = RuntimeOptions()) -> Tuple[Engine, str]:
    """(engine, backend name) for the model described by ``deploy``."""
    if options.backend != "auto":
        backend = BACKENDS[options.backend]
        backend.check(options)
        return backend.build(deploy, options), backend.name
    candidates = AUTO_ORDER.get((options.device, options.precision), ())
    if not candidates:
        raise BackendUnavailableError(f"no backend runs {options.precision} on {options.device.upper()}"
                                      + _precision_hint(options))
    if options.use_tensorrt:
        candidates = ("paddle",)
    failures = []
    for name in candidates:
        try:
            return BACKENDS[name].build(deploy, replace(options, backend=name)), name
        except (BackendUnavailableError, ConversionError) as err:
            failures.append(f"{name}: {err}")
            logger.info("backend auto: skipping %s (%s)", name, err)
    if len(failures) == 1:
        raise BackendUnavailableError(failures[0].split(": ", 1)[1])
    raise BackendUnavailableError(f"no backend could run {options.precision} on {options.device.upper()}:\n  "
                                  + "\n  ".join(failures))
