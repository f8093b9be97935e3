"""What ``precision="auto"`` runs: bf16 where the engine computes it natively and the model keeps its answers.

On CPU, ``auto`` is bf16 when the engine that runs the model says the CPU
computes bf16 natively (OpenVINO: ``BF16`` in the CPU's
``OPTIMIZATION_CAPABILITIES``; Paddle Inference: oneDNN's fast bfloat16,
AVX512-BF16 or AMX), else fp32. Engines without CPU bf16 (ONNX Runtime, Paddle
Lite) run fp32. On GPU it is fp32; fp16, int8 and TensorRT are asked for by
name. ``auto`` never picks int8: an int8 model must be made and its accuracy
checked first (``ppcls-hrnet quantize``), and on CPUs with AMX it is slower
than bf16 (docs/benchmarks.md).

The model has a say: ``ppcls-hrnet check-precision`` measures how often bf16
changes its top-1 class against fp32 and records that in inference.yml
(``PrecisionCheck: {bf16: {top1_agreement, images, reference}}``). Below
:data:`BF16_MIN_AGREEMENT` auto runs that model in fp32. A model never
checked runs bf16: HRNet's trained models measured 99.7 % agreement
(docs/benchmarks.md).

``PPCLS_HRNET_CPU_CAPABILITIES`` (names as OpenVINO spells them, e.g.
``FP32,INT8``) replaces the engine's answer: the choice another CPU would
make, shown on this one. ``cpp_infer`` reads the same variable and record.
"""
from __future__ import annotations

import os
from typing import FrozenSet, Optional, Tuple

AUTO = "auto"
BF16_MIN_AGREEMENT = 0.995
CAPABILITIES_ENV = "PPCLS_HRNET_CPU_CAPABILITIES"


def capabilities_override() -> Optional[FrozenSet[str]]:
    """The capability names ``PPCLS_HRNET_CPU_CAPABILITIES`` sets (upper case), or None when unset."""
    names = os.environ.get(CAPABILITIES_ENV, "").replace(",", " ").split()
    return frozenset(name.upper() for name in names) or None


def clears_bf16_bar(agreement: float) -> bool:
    """Whether a measured bf16-vs-fp32 top-1 agreement lets auto run the model in bf16."""
    return agreement >= BF16_MIN_AGREEMENT


def model_refuses_bf16(deploy) -> Optional[str]:
    """Why the model's own bf16 check rules bf16 out, or None when it does not."""
    check = deploy.precision_checks.get("bf16") or {}
    agreement = check.get("top1_agreement")
    if agreement is None or clears_bf16_bar(agreement):
        return None
    return (f"bf16 changed the top-1 class of {(1 - agreement) * 100:.2f} % of {check.get('images', '?')} "
            f"images against fp32 (inference.yml PrecisionCheck; auto needs at most "
            f"{(1 - BF16_MIN_AGREEMENT) * 100:g} %)")


def choose(cpu_bf16: bool, deploy, device: str) -> Tuple[str, Optional[str]]:
    """(precision, why not bf16) for ``auto`` on an engine that does (``cpu_bf16``) or does not
    compute bf16 natively on this CPU."""
    if device != "cpu":
        return "fp32", None
    refusal = model_refuses_bf16(deploy)
    if refusal:
        return "fp32", refusal
    return ("bf16", None) if cpu_bf16 else ("fp32", None)
