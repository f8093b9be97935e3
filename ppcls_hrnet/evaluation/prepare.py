"""Models and engines ready to time: random-weight exports, synthetic calibration images, the
int8 and Paddle Lite files, and engines built once (with why a combination cannot run here).

Weights are random throughout: latency does not depend on their values.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import HRNetError
from ..export.exporter import export_deployable
from ..export.lite import convert_to_lite
from ..export.quantize import quantize_model
from ..models import create_model
from ..runtime.backends import BACKENDS, create_engine
from ..runtime.contract import deploy_config_content, imagenet_transform_ops
from ..runtime.engines.base import BackendUnavailableError
from ..runtime.model_files import model_file_names
from ..runtime.variants import Variant
from .timing import rss_mb

logger = logging.getLogger("ppcls_hrnet")


def export_formats(variants: Sequence[Variant]) -> Tuple[str, ...]:
    """The Paddle graphs the engines read: PIR for Paddle (and ONNX conversion), legacy for OpenVINO's
    Paddle reader (what `create_engine` prefers) and Paddle legacy; each costs seconds to export."""
    legacy = any(v.model_format == "legacy" or (v.backend in ("openvino", "auto") and v.precision != "int8")
                 or v.backend == "lite" for v in variants)  # Lite's opt reads only the legacy graph
    pir = any(v.backend == "paddle" and v.model_format != "legacy" for v in variants)
    return ("pir",) * (pir or not legacy) + ("legacy",) * legacy


def export_random_model(name: str, image_size: int, save_dir: Path, formats: Sequence[str] = ("pir", "legacy"),
                        resize_short: Optional[int] = None) -> Path:
    """``name`` with random weights exported like `ppcls-hrnet export` (``formats`` + inference.yml).

    Preprocessing is PaddleClas's eval chain: resize the short side to ``resize_short`` (default: in
    the 256 : 224 proportion of ImageNet's), crop ``image_size``.
    """
    import paddle

    resize_short = resize_short or round(image_size * 256 / 224)
    transforms = imagenet_transform_ops(resize_short, image_size)
    deploy = deploy_config_content(name, 1000, model_file_names(formats), (3, image_size, image_size), transforms,
                                   softmax=True)
    paddle.seed(0)
    export_deployable(create_model(name), save_dir, deploy)
    return save_dir


def write_calibration_images(directory: Path, count: int, size: int = 256, seed: int = 0) -> Path:
    """``count`` smooth random-noise PNGs and a PaddleClas label list (``rel/path.png 0`` lines).

    They only set the int8 scales for a speed benchmark; smooth noise has
    image-like local correlation, unlike white noise.
    """
    rng = np.random.default_rng(seed)
    image_dir = directory / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        coarse = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        image = cv2.GaussianBlur(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), (5, 5), 0)
        rel = f"images/noise_{i:03d}.png"
        cv2.imwrite(str(directory / rel), image)
        lines.append(f"{rel} 0")
    label_list = directory / "calib_list.txt"
    label_list.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label_list


def quantize_for_speed(model_dir: Path, calib_list: Path, num_calib: int, progress: bool) -> Optional[str]:
    """Write and register the int8 model; the reason int8 cannot run, or None."""
    try:
        quantize_model(model_dir, calib_list, calib_list.parent, num_calib=num_calib, progress=progress)
    except HRNetError as err:
        return f"quantization failed: {err}"
    return None


def convert_for_lite(model_dir: Path) -> Optional[str]:
    """The x86 ``.nb`` the lite engine runs (``ppcls-hrnet lite``), or why it cannot be made."""
    logger.info("benchmark: converting to a Paddle Lite x86 .nb (helper venv on first use)")
    try:
        convert_to_lite(model_dir, "x86", say=logger.info)
    except HRNetError as err:
        return str(err)
    return None


def unsupported_reason(variant: Variant) -> Optional[str]:
    """Why this machine cannot run ``variant`` (before trying), or None: bf16 only where the
    engine computes it natively (an emulated bf16 is slower than fp32, nothing to time)."""
    if variant.precision != "bf16":
        return None
    try:
        native = BACKENDS[variant.backend].computes_bf16(variant.runtime_options())
    except BackendUnavailableError:
        return None  # create_engine says how to install it
    return None if native else f"{variant.backend} does not compute bf16 natively on this CPU"


@dataclass
class BuiltEngine:
    variant: Variant
    engine: object  # runtime.engines.base.Engine
    rss_growth_mb: Optional[float]


def build_engines(deploy, variants: Sequence[Variant], cpu_threads: int, first_batch) -> \
        Tuple[List[BuiltEngine], List[Tuple[Variant, str]]]:
    """Engines that load and run ``first_batch``, and (variant, reason) for those that do not.

    The RSS growth is measured across build + that first run, so it includes
    the runtime's buffers for the largest batch.
    """
    _import_runtimes(variants)  # library loading is not any one engine's memory
    built, skipped = [], []
    for variant in variants:
        reason = unsupported_reason(variant)
        if reason:
            skipped.append((variant, reason))
            continue
        before = rss_mb()
        try:
            engine, used = create_engine(deploy, variant.runtime_options(cpu_threads))
        except HRNetError as err:
            skipped.append((variant, str(err)))
            continue
        try:
            engine.run(first_batch)
        except Exception as err:  # a runtime's own error type: this combination does not run here
            skipped.append((variant, f"failed on its first run: {type(err).__name__}: {err}"))
            continue
        after = rss_mb()
        growth = None if before is None or after is None else max(after - before, 0.0)
        if variant.backend == "auto":  # the report names what auto chose here
            variant = replace(variant, label=f"{variant.label}: {used.backend} {used.precision}")
        built.append(BuiltEngine(variant, engine, growth))
    return built, skipped


def _import_runtimes(variants: Sequence[Variant]) -> None:
    for module in ("onnxruntime", "openvino"):  # backend names that are also module names
        if any(v.backend == module for v in variants):
            with contextlib.suppress(ImportError):  # create_engine reports it, per engine
                __import__(module)


@contextlib.contextmanager
def native_stdout_to_stderr():
    """Send what native code prints on fd 1 (paddle2onnx's "[Paddle2ONNX] ...") to stderr.

    stdout then carries only the report, so `> table.md` captures just that.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real fd 1 (embedded interpreters)
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
