"""The ways this package runs a model on CPU: backend x precision x the switches that change speed.

    variant = VARIANTS_BY_KEY["openvino-int8"]
    engine, _ = create_engine(deploy, variant.runtime_options(cpu_threads=2))

One table for every tool that compares engines: the latency benchmark times
the variants by ``key`` (``ppcls-hrnet benchmark --engines``) and the int8
accuracy check names the ones it compares by ``accuracy_name``
(``compare_top1(backends=...)``). Every row but ``auto`` (the defaults, resolved
when the engine is made) is a backend and precision that
:data:`~ppcls_hrnet.runtime.backends.BACKENDS` runs on CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .backends import AUTO_ORDER
from .options import RuntimeOptions


@dataclass(frozen=True)
class Variant:
    key: str  # what `ppcls-hrnet benchmark --engines` selects
    label: str  # how reports name it
    backend: str
    precision: str
    enable_mkldnn: bool = True  # Paddle Inference: oneDNN kernels
    model_format: str = "auto"  # Paddle Inference: auto | pir | legacy
    # Timed only when asked for by its exact key, never by a glob: Paddle Lite needs a Python 3.7
    # helper venv and an opt conversion (~1 min) before it can run.
    opt_in: bool = False
    # False: not a benchmark engine (an accuracy reference that reads whichever graph was exported;
    # the benchmark times each Paddle graph on its own).
    timed: bool = True
    accuracy_name: Optional[str] = None  # its name in the int8 accuracy report, if it takes part

    def runtime_options(self, cpu_threads: int = 2) -> RuntimeOptions:
        return RuntimeOptions(backend=self.backend, precision=self.precision, cpu_threads=cpu_threads,
                              enable_mkldnn=self.enable_mkldnn, model_format=self.model_format)


VARIANTS: Tuple[Variant, ...] = (
    Variant("paddle-fp32", "paddle fp32 oneDNN", "paddle", "fp32", timed=False, accuracy_name="paddle"),
    Variant("paddle-fp32-pir", "paddle fp32 oneDNN (PIR)", "paddle", "fp32", model_format="pir"),
    Variant("paddle-fp32-legacy", "paddle fp32 oneDNN (legacy)", "paddle", "fp32", model_format="legacy"),
    Variant("paddle-fp32-onednn-off", "paddle fp32 oneDNN off", "paddle", "fp32", enable_mkldnn=False,
            model_format="pir"),
    Variant("paddle-bf16", "paddle bf16 oneDNN (PIR)", "paddle", "bf16", model_format="pir",
            accuracy_name="paddle-bf16"),
    Variant("onnxruntime-fp32", "onnxruntime fp32", "onnxruntime", "fp32", accuracy_name="onnxruntime"),
    Variant("onnxruntime-int8", "onnxruntime int8", "onnxruntime", "int8", accuracy_name="onnxruntime-int8"),
    Variant("openvino-fp32", "openvino fp32", "openvino", "fp32", accuracy_name="openvino"),
    Variant("openvino-bf16", "openvino bf16", "openvino", "bf16", accuracy_name="openvino-bf16"),
    # int8 keeps its float parts f32 (not bf16): the OpenVINO engine's choice
    Variant("openvino-int8", "openvino int8", "openvino", "int8", accuracy_name="openvino-int8"),
    Variant("lite-fp32-x86", "paddle lite fp32 (x86 .nb)", "lite", "fp32", opt_in=True),
    # what a user gets without --backend/--precision (the benchmark's report names what it chose)
    Variant("auto", "auto (default)", "auto", "auto"),
)
VARIANTS_BY_KEY: Dict[str, Variant] = {v.key: v for v in VARIANTS}
# The latency benchmark's engines, in table order.
TIMED: Dict[str, Variant] = {v.key: v for v in VARIANTS if v.timed}
# The accuracy report's names (paddle, onnxruntime, openvino; the -int8 and -bf16 ones).
BY_ACCURACY_NAME: Dict[str, Variant] = {v.accuracy_name: v for v in VARIANTS if v.accuracy_name}


def auto_variant(device: str = "cpu", precision: str = "fp32") -> Optional[Variant]:
    """The timed variant ``--backend auto`` runs for ``device`` and ``precision`` (its first
    choice in AUTO_ORDER, default switches), or None when no timed variant is that one."""
    candidates = AUTO_ORDER.get((device, precision), ())
    if device != "cpu" or not candidates:
        return None  # every variant runs on CPU
    return next((v for v in TIMED.values() if (v.backend, v.precision) == (candidates[0], precision)
                 and v.enable_mkldnn and v.model_format == "auto"), None)
