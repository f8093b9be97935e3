"""The latency benchmark's results: one row per engine and batch, the ratios that compare them,
and the Markdown table and JSON they are written as. Figures only: how to read them against
the package's goals is docs/benchmarks.md's business."""
from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..runtime.variants import TIMED, Variant, auto_variant
from .settings import BenchmarkSettings
from .timing import summarize

SPEEDUP_BASELINE = "paddle-fp32-onednn-off"  # "speedup": this median / the row's
LATENCY_REFERENCE = "openvino-fp32"  # "vs OpenVINO": the row's median / this one


@dataclass(frozen=True)
class Row:
    model: str
    image_size: int
    batch: int
    engine: str  # Variant.key
    label: str
    times_ms: Tuple[float, ...]  # every timed run, in run order
    median_ms: float
    images_per_s: float
    speedup_vs_onednn_off: Optional[float] = None  # > 1: faster than paddle fp32 without oneDNN
    latency_vs_openvino: Optional[float] = None  # < 1: faster than openvino fp32
    rss_growth_mb: Optional[float] = None


@dataclass(frozen=True)
class Skipped:
    model: str
    image_size: int
    engine: str
    reason: str


@dataclass(frozen=True)
class ModelInfo:
    model: str
    image_size: int
    params_m: float
    gmacs: float  # per image


@dataclass
class BenchmarkReport:
    settings: BenchmarkSettings
    command: str
    environment: Dict[str, Optional[str]]
    models: List[ModelInfo] = field(default_factory=list)
    rows: List[Row] = field(default_factory=list)
    skipped: List[Skipped] = field(default_factory=list)


def make_row(model: str, image_size: int, batch: int, variant: Variant, seconds: Sequence[float],
             rss_growth_mb: Optional[float] = None) -> Row:
    median_ms, images_per_s = summarize(seconds, batch)
    return Row(model, image_size, batch, variant.key, variant.label, tuple(s * 1000 for s in seconds),
               median_ms, images_per_s, rss_growth_mb=rss_growth_mb)


def with_ratios(rows: Sequence[Row]) -> List[Row]:
    """Rows with the two ratios filled in, each against its own model, size and batch."""
    medians = {(r.model, r.image_size, r.batch, r.engine): r.median_ms for r in rows}

    def ratio(numerator, denominator):
        return None if numerator is None or denominator is None else numerator / denominator

    out = []
    for r in rows:
        group = (r.model, r.image_size, r.batch)
        out.append(replace(r, speedup_vs_onednn_off=ratio(medians.get((*group, SPEEDUP_BASELINE)), r.median_ms),
                           latency_vs_openvino=ratio(r.median_ms, medians.get((*group, LATENCY_REFERENCE)))))
    return out


def command_line(settings: BenchmarkSettings, prog: str = "ppcls-hrnet benchmark") -> str:
    """The command that reproduces ``settings``, every measurement flag spelled out."""
    parts = [prog, "--models", *settings.models, "--image_size", *map(str, settings.image_sizes),
             "--batch_sizes", *map(str, settings.batch_sizes), "--engines", *settings.engines,
             "--cpu_threads", str(settings.cpu_threads), "--warmup", str(settings.warmup),
             "--runs", str(settings.runs), "--settle_ms", f"{settings.settle_ms:g}"]
    if settings.needs_int8:
        parts += ["--num_calib", str(settings.num_calib)]
    return " ".join(parts[:1] + [shlex.quote(p) for p in parts[1:]])


TABLE_COLUMNS = ("batch", "engine", "median ms", "images/s", "speedup vs oneDNN off",
                 "latency vs OpenVINO fp32", "RSS +MB")


def format_report(report: BenchmarkReport) -> str:
    return "\n".join([*_header(report), *_tables(report), *_skipped(report)]).rstrip() + "\n"


def _header(report: BenchmarkReport) -> List[str]:
    s, env = report.settings, report.environment
    runtimes = ", ".join(f"{k} {env[k]}" for k in ("paddle", "onnxruntime", "openvino") if env.get(k))
    lines = [
        "# HRNet CPU latency", "",
        f"Command: `{report.command}`", "",
        f"Machine: {env['cpu']}, {env['logical_cores']} logical cores, {s.cpu_threads} threads per engine; "
        f"Python {env['python']}, {runtimes}; {env['date']}.", "",
        "- Weights are randomly initialised: latency does not depend on weight values.",
        f"- Median of {s.runs} timed runs per engine after {s.warmup} warm-up runs. All engines run "
        "interleaved in one process, round-robin (one run of each in turn), so machine noise slows them alike.",
    ]
    if s.settle_ms:
        lines.append(f"- Before each run the benchmark waits (up to {s.settle_ms:g} ms) until the process is idle: "
                     "Paddle's OpenMP threads spin for 200 ms after a run and would slow the next engine.")
    if s.needs_int8:
        lines.append(f"- int8: ONNX Runtime static QDQ model calibrated on {s.num_calib} synthetic noise images "
                     "(they only set the scales; speed does not depend on them). int8 accuracy is measured "
                     "separately by `ppcls-hrnet quantize`.")
    lines += [
        "- speedup vs oneDNN off = median of `paddle fp32 oneDNN off` / the row's median (higher is faster); "
        "latency vs OpenVINO fp32 = the row's median / `openvino fp32`'s (lower is faster).",
        f"- RSS +MB: resident memory gained while building the engine and running it once at batch "
        f"{max(s.batch_sizes)} (approximate: an engine may reuse memory an earlier one freed).",
    ]
    default = auto_variant("cpu", "fp32")
    if default is not None and default.key in s.engines:
        lines.append(f"- `--backend auto` runs `{default.label}` for CPU fp32.")
    return lines + [""]


def _fmt(value: Optional[float], spec: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, spec) + suffix


def _tables(report: BenchmarkReport) -> List[str]:
    lines = []
    for info in report.models:
        lines += [f"## {info.model}, {info.image_size}x{info.image_size}: {info.params_m:.2f} M params, "
                  f"{info.gmacs:.2f} GMACs per image", "",
                  "| " + " | ".join(TABLE_COLUMNS) + " |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        for r in report.rows:
            if (r.model, r.image_size) == (info.model, info.image_size):
                lines.append(f"| {r.batch} | {r.label} | {r.median_ms:.1f} | {r.images_per_s:.1f} | "
                             f"{_fmt(r.speedup_vs_onednn_off, '.2f', 'x')} | {_fmt(r.latency_vs_openvino, '.2f')} | "
                             f"{_fmt(r.rss_growth_mb, '.0f')} |")
        lines.append("")
    return lines


def _skipped(report: BenchmarkReport) -> List[str]:
    if not report.skipped:
        return []
    return ["Skipped:", *(f"- {s.model} {s.image_size}px, {TIMED[s.engine].label}: {s.reason}"
                          for s in report.skipped), ""]


def report_to_dict(report: BenchmarkReport) -> dict:
    """Everything measured, JSON-ready (every run's time included)."""
    data = asdict(report)
    data["settings"] = {k: list(v) if isinstance(v, tuple) else v for k, v in data["settings"].items()}
    for row in data["rows"]:
        row["times_ms"] = list(row["times_ms"])
    return data


def write_json(report: BenchmarkReport, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_to_dict(report), indent=1) + "\n", encoding="utf-8")
    return path
