"""Which engine runs an exported model: one table of backends, one factory.

    engine, used = create_engine(read_deploy_config(model_dir), RuntimeOptions())
    used.backend, used.precision   # e.g. "openvino", "bf16": what auto chose

Each backend names the precisions it runs on CPU and on GPU and the module
that builds its :class:`~ppcls_hrnet.runtime.engines.base.Engine` from the
model directory's ``inference.yml`` (``build(deploy, options)``; which file
to load comes from its ``files`` section). The module is imported when the
backend is chosen, not before: the Paddle engine imports Paddle (~2 s), and a
process predicting on OpenVINO or ONNX Runtime never pays for it.
``backend="auto"`` tries, for the precision asked, the backends in the order
of :data:`AUTO_ORDER`: fastest first as measured in ``docs/benchmarks.md``.
``precision="auto"`` asks each backend tried whether it computes bf16
natively here (:mod:`.precision`).
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, replace
from typing import Any, Dict, Tuple

from . import precision as auto_precision
from .engines.base import BackendUnavailableError, Engine
from .paddle.onnx import ConversionError

logger = logging.getLogger("ppcls_hrnet")


@dataclass(frozen=True)
class Backend:
    name: str
    cpu_precisions: Tuple[str, ...]
    gpu_precisions: Tuple[str, ...]
    module: str  # defines build(deploy, options) -> Engine; with CPU bf16, also cpu_computes_bf16(options, capabilities) -> bool

    def check(self, options) -> None:
        """Raise a clear error if this backend cannot run ``options`` at all."""
        supported = self.gpu_precisions if options.device == "gpu" else self.cpu_precisions
        if options.precision not in supported:
            if not supported:
                raise BackendUnavailableError(f"{self.name} does not run on {options.device.upper()} here; "
                                              f"use --backend paddle for GPU")
            raise BackendUnavailableError(
                f"{self.name} on {options.device.upper()} runs {', '.join(supported)}, not {options.precision}"
                + precision_hint(options))

    def build(self, deploy, options) -> Engine:
        return importlib.import_module(self.module, __package__).build(deploy, options)

    def computes_bf16(self, options) -> bool:
        """Whether this engine runs bf16 natively on this CPU (an emulated bf16 is slower than fp32)."""
        if "bf16" not in self.cpu_precisions:
            return False
        module = importlib.import_module(self.module, __package__)
        return bool(module.cpu_computes_bf16(options, auto_precision.capabilities_override()))

    def resolve(self, deploy, options):
        """``options`` for this backend, with ``precision="auto"`` replaced by what it runs here."""
        options = replace(options, backend=self.name)
        if options.precision != auto_precision.AUTO:
            return options
        native = options.device == "cpu" and self.computes_bf16(options)
        chosen, refusal = auto_precision.choose(native, deploy, options.device)
        if refusal and native:
            logger.info("precision auto: %s; running fp32", refusal)
        return replace(options, precision=chosen)


def precision_hint(options) -> str:
    if options.precision == "fp16" and options.device == "cpu":
        return "; fp16 needs a GPU (--use_gpu); on CPU use bf16 or int8"
    if options.precision == "int8":
        return "; CPU int8 runs the model quantized by `ppcls-hrnet quantize` on onnxruntime or openvino"
    return ""


BACKENDS: Dict[str, Backend] = {b.name: b for b in (
    Backend("paddle", cpu_precisions=("fp32", "bf16"), gpu_precisions=("fp32", "fp16", "int8"),
            module=".paddle.engine"),
    Backend("onnxruntime", cpu_precisions=("fp32", "int8"), gpu_precisions=("fp32",),
            module=".engines.onnxruntime"),
    Backend("openvino", cpu_precisions=("fp32", "bf16", "int8"), gpu_precisions=(),
            module=".engines.openvino"),
    # not in AUTO_ORDER: a check path for the .nb, slower than the others
    Backend("lite", cpu_precisions=("fp32",), gpu_precisions=(), module=".lite.engine"),
)}
BACKEND_NAMES: Tuple[str, ...] = tuple(BACKENDS)

# Fastest first, per device and precision (docs/benchmarks.md, 2-core x86).
AUTO_ORDER: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("cpu", "fp32"): ("openvino", "paddle", "onnxruntime"),
    ("cpu", "bf16"): ("openvino", "paddle"),
    ("cpu", "int8"): ("openvino", "onnxruntime"),
    ("gpu", "fp32"): ("paddle", "onnxruntime"),
    ("gpu", "fp16"): ("paddle",),
    ("gpu", "int8"): ("paddle",),
}


def create_engine(deploy, options) -> Tuple[Engine, Any]:
    """(engine, the options it runs with) for the model described by ``deploy``, run as
    :class:`~ppcls_hrnet.runtime.options.RuntimeOptions` ``options`` say: the returned
    options name the backend and precision ``auto`` chose."""
    if options.backend != "auto":
        backend = BACKENDS[options.backend]
        used = backend.resolve(deploy, options)
        backend.check(used)
        return backend.build(deploy, used), used
    # auto precision: the backends any float precision has, fastest first; each says what it runs
    asked = "fp32" if options.precision == auto_precision.AUTO else options.precision
    candidates = AUTO_ORDER.get((options.device, asked), ())
    if not candidates:
        raise BackendUnavailableError(f"no backend runs {options.precision} on {options.device.upper()}"
                                      + precision_hint(options))
    if options.use_tensorrt:
        candidates = ("paddle",)
    failures = []
    for name in candidates:
        try:
            used = BACKENDS[name].resolve(deploy, options)
            return BACKENDS[name].build(deploy, used), used
        except (BackendUnavailableError, ConversionError) as err:
            failures.append(f"{name}: {err}")
            logger.info("backend auto: skipping %s (%s)", name, err)
    if len(failures) == 1:
        raise BackendUnavailableError(failures[0].split(": ", 1)[1])
    raise BackendUnavailableError(f"no backend could run {options.precision} on {options.device.upper()}:\n  "
                                  + "\n  ".join(failures))
