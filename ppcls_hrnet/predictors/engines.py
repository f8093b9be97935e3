"""Raw tensor engines: a float32 NCHW batch in, the model's output array out.

One small interface over every inference runtime we deploy to, so predictors
(image in, classes out) and parity tests do not care which one runs:

    engine.input_shape  -> (None, 3, 224, 224)  (None: dynamic)
    engine.run(batch)   -> np.ndarray, owned by the caller
"""
from __future__ import annotations

import contextlib
import importlib
import logging
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from ..errors import ConfigError, HRNetError
from ..home import home_subdir
from ..export.model_files import ModelFileError, find_inference_model, read_input_shape
from ..paddle_import import import_paddle
from .. import signal_stack

logger = logging.getLogger("ppcls_hrnet")

Shape = Tuple[Optional[int], ...]


class BackendUnavailableError(HRNetError, ImportError):
    """The runtime for an engine is not installed or not usable here."""


class InputShapeError(HRNetError, ValueError):
    """A batch that does not fit the model's input."""


class ModelLoadError(HRNetError):
    """The runtime rejected the model file (corrupt, truncated, wrong format)."""


class Engine:
    """Base class: subclasses set ``input_shape`` and implement ``_run``."""

    input_shape: Shape

    def run(self, batch) -> np.ndarray:
        return self._run(self._check_batch(batch))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_batch(self, batch) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        expected = self.input_shape
        fits = batch.ndim == len(expected) and all(
            want is None or want == got for want, got in zip(expected, batch.shape))
        if not fits or batch.shape[0] == 0:
            shown = ["N" if d is None else d for d in expected]
            raise InputShapeError(f"{type(self).__name__} expects a float32 batch of shape "
                                  f"{shown} (N >= 1), got {list(batch.shape)}")
        return batch

    def __repr__(self):
        return f"{type(self).__name__}({self.source}, input_shape={list(self.input_shape)})"


def _import_backend(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendUnavailableError(
            f"{module} is not installed ({err}); install it with: pip install 'ppcls-hrnet[{extra}]'"
        ) from None


def _existing_file(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what} {path} does not exist")
    return path


@contextlib.contextmanager
def _loading(runtime: str, path):
    """Runtime exceptions while loading a model -> ModelLoadError naming the file."""
    try:
        yield
    except HRNetError:
        raise
    except Exception as err:  # each runtime raises its own (RuntimeError, ORT's Fail, ...)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(f"{runtime} could not load {path}: {reason}") from err


def _dims(shape) -> Shape:
    """Runtime shape (ints, -1, strings or Dimension objects) -> ints and None."""
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in shape)


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
        if configure is not None:  # precision / TensorRT settings (predictors.backends)
            configure(config)
        with _loading("Paddle Inference", files.model_file):
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


class OnnxRuntimeEngine(Engine):
    def __init__(self, onnx_path, cpu_threads: int = 2, providers: Optional[List[str]] = None):
        ort = _import_backend("onnxruntime", "onnx")
        path = _existing_file(onnx_path, "ONNX model")
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        with _loading("ONNX Runtime", path):
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=providers or ["CPUExecutionProvider"])
        (model_input,) = self._session.get_inputs()
        self._input_name = model_input.name
        self.input_shape = _dims(model_input.shape)
        self.source = str(path)

    def _run(self, batch):
        return self._session.run(None, {self._input_name: batch})[0]


DEFAULT_CACHE = "default"  # $PPCLS_HRNET_HOME/openvino_cache


def _openvino_cache_dir(cache_dir) -> Optional[Path]:
    """The cache folder to use, or None when there is none or it cannot be made
    (a read-only home only costs compile time, so it is not an error)."""
    if cache_dir is None:
        return None
    path = home_subdir("openvino_cache") if cache_dir == DEFAULT_CACHE else Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        logger.info("OpenVINO compiles without a cache: cannot create %s (%s)", path, err.strerror or err)
        return None
    return path


class OpenVINOEngine(Engine):
    """OpenVINO on a legacy ``.pdmodel`` (params beside it) or an ``.onnx``.

    precision: "f32" (default), "bf16" or "f16". Without an explicit hint
    OpenVINO runs bf16 on CPUs that have it, which costs accuracy (~1e-2).

    cpu_pinning: OpenVINO's ENABLE_CPU_PINNING (None: its default, on). Off
    for several processes sharing the cores: each pins its threads from core 0
    on, so two 1-thread processes pinned the same core (measured: half the
    throughput of one 2-thread process; unpinned they matched it).

    cache_dir: OpenVINO's compiled-model cache (default
    ``$PPCLS_HRNET_HOME/openvino_cache``; None: no cache). A second start
    loads the compiled blob instead of compiling (HRNet_W18_C: 0.6 s -> 0.15 s).
    The model is read first and handed over as an object on purpose: OpenVINO
    keys that cache on the model's content, weights included, whereas a cache
    keyed on the file path reuses a stale blob after a re-export rewrites the
    ``.pdiparams`` beside an unchanged ``.pdmodel`` (checked with 2026.4).
    """

    PRECISIONS = ("f32", "bf16", "f16")
    SUFFIXES = (".pdmodel", ".onnx")

    def __init__(self, path, cpu_threads: int = 2, precision: str = "f32", cache_dir=DEFAULT_CACHE,
                 cpu_pinning: Optional[bool] = None):
        ov = _import_backend("openvino", "openvino")
        if precision not in self.PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(self.PRECISIONS)}, got {precision!r}")
        path = _existing_file(path, "model file")
        if path.suffix not in self.SUFFIXES:
            raise ConfigError(f"OpenVINO reads {' or '.join(self.SUFFIXES)} files, got {path.name} "
                              "(export with legacy=True, or convert to ONNX)")
        core = ov.Core()
        cache = _openvino_cache_dir(cache_dir)
        if cache is not None:
            core.set_property({"CACHE_DIR": str(cache)})
        properties = {
            "INFERENCE_NUM_THREADS": cpu_threads,
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if cpu_pinning is not None:
            properties["ENABLE_CPU_PINNING"] = bool(cpu_pinning)
        with _loading("OpenVINO", path), signal_stack.kept():  # see ppcls_hrnet/signal_stack.py
            compiled = core.compile_model(core.read_model(str(path)), "CPU", properties)
        self._request = compiled.create_infer_request()
        self.input_shape = _dims(d.get_length() if d.is_static else -1
                                 for d in compiled.inputs[0].get_partial_shape())
        self.source = str(path)

    def _run(self, batch):
        self._request.infer({0: batch})
        # The output tensor is the request's buffer: the next run overwrites it.
        return self._request.get_output_tensor(0).data.copy()
