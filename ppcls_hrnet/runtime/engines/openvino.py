"""OpenVINO on CPU: a legacy ``.pdmodel`` or an ``.onnx`` file, with its compiled-model cache."""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Optional

from ...base.home import home_subdir
from ...errors import ConfigError
from . import signal_stack
from .base import Engine, dims, existing_file, import_runtime, loading_errors
from .onnx_files import onnx_model_file, quantized_model_file

logger = logging.getLogger("ppcls_hrnet")


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

    precision: "f32" (default), "bf16" or "f16", always set: without a hint
    OpenVINO runs bf16 on CPUs that have it, and fp32 must mean fp32.

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
        ov = import_runtime("openvino", "openvino")
        if precision not in self.PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(self.PRECISIONS)}, got {precision!r}")
        path = existing_file(path, "model file")
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
        with loading_errors("OpenVINO", path), signal_stack.kept():  # see signal_stack.py
            compiled = core.compile_model(core.read_model(str(path)), "CPU", properties)
        self._request = compiled.create_infer_request()
        self.input_shape = dims(d.get_length() if d.is_static else -1
                                 for d in compiled.inputs[0].get_partial_shape())
        self.source = str(path)

    def _run(self, batch):
        self._request.infer({0: batch})
        # The output tensor is the request's buffer: the next run overwrites it.
        return self._request.get_output_tensor(0).data.copy()


def cpu_computes_bf16(options, capabilities=None) -> bool:
    """OpenVINO lists BF16 among the CPU's OPTIMIZATION_CAPABILITIES (AVX512-BF16 or AMX), or
    among ``capabilities`` when they are given instead (runtime.precision's override)."""
    return "BF16" in (capabilities if capabilities is not None else _cpu_capabilities())


@functools.lru_cache(maxsize=1)
def _cpu_capabilities() -> tuple:
    ov = import_runtime("openvino", "openvino")
    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def build(deploy, options) -> Engine:
    import_runtime("openvino", "openvino")  # before converting anything
    if options.precision == "int8":
        # The QDQ model carries the int8 scales; its float parts stay f32.
        return OpenVINOEngine(quantized_model_file(deploy), options.cpu_threads, precision="f32",
                              cpu_pinning=options.cpu_pinning)
    legacy = deploy.model_file("legacy")
    path = legacy if legacy is not None and legacy.is_file() else onnx_model_file(deploy, options.precision)
    return OpenVINOEngine(path, options.cpu_threads, precision={"fp32": "f32", "bf16": "bf16"}[options.precision],
                          cpu_pinning=options.cpu_pinning)
