"""Paddle Inference: the one runtime module that imports Paddle (on the paths that run it)."""
from __future__ import annotations

from typing import Callable, Optional

from ...base.paddle_import import import_paddle
from ...errors import ConfigError
from ..engines.base import BackendUnavailableError, Engine, loading_errors
from ..model_files import find_inference_model
from .program import read_input_shape


class PaddleInferenceEngine(Engine):
    """Paddle Inference on an exported model directory.

    model_format: "auto" (``inference.json`` if present, else
    ``inference.pdmodel``), "pir" or "legacy". ``configure(config)`` may
    adjust the ``paddle.inference.Config`` before the predictor is built.
    """

    def __init__(self, model_dir, enable_mkldnn: bool = True, cpu_threads: int = 2,
                 use_gpu: bool = False, gpu_mem: int = 500, gpu_id: int = 0,
                 model_format: str = "auto", prefix: str = "inference",
                 ir_optim: bool = True, configure: Optional[Callable] = None):
        import_paddle()
        import paddle.inference as paddle_infer

        files = find_inference_model(model_dir, prefix, model_format)
        config = _paddle_config(files, enable_mkldnn, cpu_threads, use_gpu, gpu_mem, gpu_id, ir_optim)
        if configure is not None:  # precision / TensorRT settings (build() below)
            configure(config)
        with loading_errors("Paddle Inference", files.model_file):
            self._predictor = paddle_infer.create_predictor(config)
            self.input_shape = read_input_shape(files)
        (input_name,) = self._predictor.get_input_names()
        self._input = self._predictor.get_input_handle(input_name)
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        self.files = files
        self.uses_onednn = config.onednn_enabled()
        self.source = str(files.model_file)

    def _run(self, batch):
        self._input.reshape(batch.shape)
        self._input.copy_from_cpu(batch)
        self._predictor.run()
        return self._output.copy_to_cpu()  # a fresh array


def _paddle_config(files, enable_mkldnn, cpu_threads, use_gpu, gpu_mem, gpu_id, ir_optim):
    import paddle
    import paddle.inference as paddle_infer

    config = paddle_infer.Config(str(files.model_file), str(files.params_file))
    config.disable_glog_info()
    config.switch_ir_optim(ir_optim)
    if use_gpu:
        if not paddle.is_compiled_with_cuda():
            raise BackendUnavailableError("use_gpu=True needs paddlepaddle-gpu; this paddle is CPU-only")
        config.enable_use_gpu(gpu_mem, gpu_id)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(cpu_threads)
        # Paddle 3 turns oneDNN on by default on x86: "off" must be said.
        if enable_mkldnn:
            config.enable_onednn()
        else:
            config.disable_onednn()
    # Paddle 3.3.1's memory_optimize_pass is missing for PIR programs:
    # enabling it makes every .json model fail to load.
    if files.format == "legacy":
        config.enable_memory_optim()
    return config


# ----------------------------------------------- the backend table's entry


def _paddle_cuda_check(options) -> None:
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


def cpu_computes_bf16(options, capabilities=None) -> bool:
    """oneDNN is on and its bfloat16 is fast on this CPU (AVX512-BF16 or AMX), or BF16 is among
    ``capabilities`` when they are given instead (runtime.precision's override)."""
    if not options.enable_mkldnn:
        return False
    if capabilities is not None:
        return "BF16" in capabilities
    import_paddle()
    from paddle.base import core

    return core.supports_bfloat16_fast_performance()


def build(deploy, options) -> Engine:
    if options.device == "gpu":
        _paddle_cuda_check(options)
    return PaddleInferenceEngine(
        deploy.model_dir, enable_mkldnn=options.enable_mkldnn, cpu_threads=options.cpu_threads,
        use_gpu=options.device == "gpu", gpu_mem=options.gpu_mem, gpu_id=options.gpu_id,
        model_format=_paddle_format(deploy, options), ir_optim=options.ir_optim,
        configure=lambda config: _paddle_precision(config, deploy, options))


def _paddle_format(deploy, options) -> str:
    # Paddle Inference's TensorRT subgraph engine is documented for the
    # legacy program; prefer it when the export wrote one.
    if options.use_tensorrt and options.model_format == "auto" and deploy.model_file("legacy"):
        return "legacy"
    return options.model_format


def _paddle_precision(config, deploy, options) -> None:
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
