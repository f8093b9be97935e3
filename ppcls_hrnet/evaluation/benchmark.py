"""`ppcls-hrnet benchmark`: CPU latency of every engine and precision, interleaved in one run.

    report = run_benchmark(BenchmarkSettings(models=("HRNet_W18_C",), batch_sizes=(1, 4, 8)))
    print(format_report(report))

Per model and image size the model is exported once (random weights: speed
does not depend on their values) to the graphs the chosen engines read (PIR,
legacy, ONNX, int8 ONNX), one engine is built per variant of
:data:`~ppcls_hrnet.runtime.variants.TIMED`, and for each batch size all
engines are timed round-robin -- one run of each in turn, after warm-up
rounds -- so a noisy machine slows them alike. The report
(:mod:`.report`) is a Markdown table: median ms per batch, images/s,
speedup vs Paddle without oneDNN, latency relative to OpenVINO fp32.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from tqdm import tqdm

from ..models.zoo_table import model_rows
from ..runtime.contract import read_deploy_config
from ..runtime.variants import TIMED
from . import prepare
from .environment import environment
from .report import BenchmarkReport, ModelInfo, Skipped, command_line, make_row, with_ratios
from .settings import BenchmarkSettings
from .timing import Clock, idle_wait, measure_interleaved

logger = logging.getLogger("ppcls_hrnet")


def run_benchmark(settings: BenchmarkSettings, *, command: Optional[str] = None, progress: bool = True,
                  clock: Clock = time.perf_counter,
                  settle: Optional[Callable[[], None]] = None) -> BenchmarkReport:
    """Measure every selected engine for every model, image size and batch size."""
    settings.check()
    if settle is None:
        settle = idle_wait(settings.settle_ms)
    report = BenchmarkReport(settings, command or command_line(settings), environment())
    with _work_dir(settings.work_dir) as work:
        calib_list = None
        if settings.needs_int8:
            calib_list = prepare.write_calibration_images(work / "calibration", settings.num_calib)
        for name in settings.models:
            for size in settings.image_sizes:
                _benchmark_model(report, name, size, work / f"{name}_{size}", calib_list,
                                 progress=progress, clock=clock, settle=settle)
    report.rows = with_ratios(report.rows)
    return report


@contextlib.contextmanager
def _work_dir(path: Optional[str]):
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
    else:
        with tempfile.TemporaryDirectory(prefix="hrnet_benchmark_") as tmp:
            yield Path(tmp)


def _benchmark_model(report: BenchmarkReport, name: str, size: int, model_dir: Path, calib_list: Optional[Path],
                     *, progress: bool, clock: Clock, settle: Callable[[], None]) -> None:
    settings = report.settings
    (info,) = model_rows([name], size, progress=False)  # cached per spec and size
    report.models.append(ModelInfo(name, size, info.params_m, info.gmacs))
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, size, size)).astype("float32") for b in settings.batch_sizes}
    with prepare.native_stdout_to_stderr():
        built = _prepare_engines(report, name, size, model_dir, calib_list, inputs[max(inputs)], progress)
    for batch in settings.batch_sizes:
        runners = {b.variant.key: (lambda engine=b.engine, x=inputs[batch]: engine.run(x)) for b in built}
        seconds = _time_batch(runners, f"{name} {size}px batch {batch}", settings, progress, clock, settle)
        report.rows += [make_row(name, size, batch, b.variant, seconds[b.variant.key], b.rss_growth_mb)
                        for b in built]
    del built, runners
    gc.collect()  # release this model's engines before the next one is built


def _prepare_engines(report: BenchmarkReport, name: str, size: int, model_dir: Path, calib_list: Optional[Path],
                     largest_batch, progress: bool) -> List[prepare.BuiltEngine]:
    """Export (and quantize) the model, build its engines; what cannot run goes to ``report.skipped``."""
    settings = report.settings
    variants = [TIMED[k] for k in settings.engines]
    logger.info("benchmark: exporting %s at %d px (random weights)", name, size)
    prepare.export_random_model(name, size, model_dir, prepare.export_formats(variants))
    if calib_list is not None:
        logger.info("benchmark: quantizing %s to int8 on %d synthetic images", name, settings.num_calib)
        int8_problem = prepare.quantize_for_speed(model_dir, calib_list, settings.num_calib, progress)
        if int8_problem:
            report.skipped += [Skipped(name, size, v.key, int8_problem) for v in variants if v.precision == "int8"]
            variants = [v for v in variants if v.precision != "int8"]
    if any(v.backend == "lite" for v in variants):
        lite_problem = prepare.convert_for_lite(model_dir)
        if lite_problem:
            report.skipped += [Skipped(name, size, v.key, lite_problem) for v in variants if v.backend == "lite"]
            variants = [v for v in variants if v.backend != "lite"]
    logger.info("benchmark: building %d engines", len(variants))
    built, failed = prepare.build_engines(read_deploy_config(model_dir), variants, settings.cpu_threads,
                                          largest_batch)
    for variant, reason in failed:
        logger.info("benchmark: skipping %s (%s)", variant.key, reason)
        report.skipped.append(Skipped(name, size, variant.key, reason))
    return built


def _time_batch(runners, description: str, settings: BenchmarkSettings, progress: bool, clock: Clock,
                settle: Callable[[], None]) -> Dict[str, List[float]]:
    with tqdm(total=settings.warmup + settings.runs, desc=description, unit="round",
              disable=not progress or not runners, leave=False) as bar:
        return measure_interleaved(runners, settings.warmup, settings.runs, clock=clock, settle=settle,
                                   on_round=bar.update)
