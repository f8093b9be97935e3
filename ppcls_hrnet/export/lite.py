"""``ppcls-hrnet lite``: an exported model -> Paddle Lite ``.nb`` (opt) + the mobile demo config.

opt (``paddle_lite_opt`` from ``paddlelite==2.12``) runs in the helper venv
(:mod:`.helper_env`). It reads the legacy ``inference.pdmodel`` only (a PIR
``inference.json`` aborts it). The ``.nb`` is recorded in inference.yml as
``files.lite_<target>`` (``lite_arm``, ``lite_x86``, ``lite_arm_opencl``);
the demo config (PaddleClas's deploy/lite ``config.txt`` keys) and label file
are written beside it from inference.yml, and recorded too.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..errors import HRNetError
from ..runtime.contract import read_deploy_config, register_model_files
from ..runtime.lite.env import ensure_helper_env
from ..runtime.postprocess import default_label_list

TARGETS = ("arm", "x86", "arm,opencl")
# the demo config's runtime_device (informational: the .nb decides where kernels run)
RUNTIME_DEVICES = {"arm": "arm_cpu", "x86": "x86_cpu", "arm,opencl": "arm_gpu_opencl"}
OPT_TIMEOUT = 900  # s: HRNet_W18_C takes ~1 min on 2 cores
INT8_REFUSAL = (
    "int8 Paddle Lite models are refused: paddlelite 2.12's int8 modes (opt --quant_model with QUANT_INT8) "
    "gave wrong outputs on this model when checked here. Convert fp32 (default) or, for ARMv8.2 phones, "
    "--enable_fp16; for CPU int8 use `ppcls-hrnet quantize` (ONNX Runtime / OpenVINO)")


class LiteConversionError(HRNetError):
    pass


def target_key(target: str) -> str:
    return target.replace(",", "_")


def check_target(target: str) -> str:
    target = target.strip().replace(" ", "")
    if target not in TARGETS:
        raise LiteConversionError(f"unknown --valid_targets {target!r}: use one of {', '.join(TARGETS)} "
                                  "(x86 for checking the .nb on a PC, arm / arm,opencl for phones and boards)")
    return target


def _legacy_files(deploy):
    legacy = deploy.legacy_program("Paddle Lite's opt", LiteConversionError)  # PIR's json aborts it
    params = deploy.model_file("params")
    if params is None or not params.is_file():
        raise LiteConversionError(f"{deploy.model_dir} has no parameters file ({params}); re-export the model")
    return legacy, params


def run_opt(args: List[str], what: str, timeout: float = OPT_TIMEOUT, check: bool = True) -> str:
    """Run the helper venv's paddle_lite_opt; its failure becomes one clear line."""
    python = ensure_helper_env()
    opt = python.parent / "paddle_lite_opt"
    try:
        out = subprocess.run([str(python), str(opt), *args], capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "GLOG_minloglevel": "2"})
    except subprocess.TimeoutExpired:
        raise LiteConversionError(f"Paddle Lite opt took over {timeout:.0f} s {what}; stopped it") from None
    text = out.stdout + out.stderr
    if check and out.returncode != 0:
        raise LiteConversionError(f"Paddle Lite opt failed {what} (exit {out.returncode}): {_reason(text)}")
    return text


def _reason(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for pattern in ("Error", "error", "Check failed", "not supported", "Aborted"):
        hits = [l for l in lines if pattern in l]
        if hits:
            return hits[-1][:400]
    return lines[-1][:400] if lines else "no output"


@dataclass(frozen=True)
class LiteResult:
    nb_file: Path
    config_file: Path
    label_file: Path
    target: str
    recorded: Dict[str, str]


def convert_to_lite(model_dir, valid_targets: str = "arm", optimize_out: Optional[str] = None,
                    enable_fp16: bool = False, quant_model: bool = False, say=None) -> LiteResult:
    say = say or (lambda m: print(m, file=sys.stderr, flush=True))
    target = check_target(valid_targets)
    if quant_model:
        raise LiteConversionError(INT8_REFUSAL)
    if enable_fp16 and not target.startswith("arm"):
        raise LiteConversionError("--enable_fp16 is an ARM option of Paddle Lite (ARMv8.2 fp16 kernels); "
                                  "x86 .nb files are fp32")
    deploy = read_deploy_config(model_dir)
    legacy, params = _legacy_files(deploy)
    key = target_key(target)
    prefix = Path(optimize_out) if optimize_out else deploy.model_dir / "lite" / f"inference_{key}"
    if prefix.suffix == ".nb":
        prefix = prefix.with_suffix("")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    nb_file = prefix.with_name(prefix.name + ".nb")
    say(f"converting {legacy.name} to Paddle Lite ({target}{', fp16' if enable_fp16 else ''}) with opt ...")
    args = [f"--model_file={legacy}", f"--param_file={params}", "--optimize_out_type=naive_buffer",
            f"--optimize_out={prefix}", f"--valid_targets={target}"]
    if enable_fp16:
        args.append("--enable_fp16=true")
    if nb_file.exists():
        nb_file.unlink()
    text = run_opt(args, f"converting {legacy}")
    if not nb_file.is_file():
        raise LiteConversionError(f"Paddle Lite opt wrote no {nb_file}: {_reason(text)}")
    config_file = prefix.with_name(prefix.name + "_config.txt")
    label_file = prefix.parent / "labels.txt"
    write_label_file(deploy, label_file)
    config_file.write_text(format_demo_config(
        demo_config(deploy, nb_file.name, label_file.name, precision="FP16" if enable_fp16 else "FP32",
                    runtime_device=RUNTIME_DEVICES[target])), encoding="utf-8")
    recorded = {}
    try:
        rel = {name: str(path.resolve().relative_to(deploy.model_dir.resolve()))
               for name, path in ((f"lite_{key}", nb_file), (f"lite_{key}_config", config_file),
                                  ("lite_labels", label_file))}
    except ValueError:
        say(f"{nb_file} is outside {deploy.model_dir}: not recorded in its inference.yml")
    else:
        register_model_files(deploy.model_dir, rel)
        recorded = rel
    return LiteResult(nb_file, config_file, label_file, target, recorded)


def write_label_file(deploy, path: Path) -> None:
    """PaddleClas's label_path format: ``<class id> <name>`` per line."""
    labels = deploy.label_list or default_label_list(deploy.class_num) or [str(i) for i in range(deploy.class_num)]
    path.write_text("".join(f"{i} {name}\n" for i, name in enumerate(labels)), encoding="utf-8")


def demo_config(deploy, model_file: str, label_file: str, precision: str = "FP32",
                runtime_device: str = "arm_cpu", num_threads: int = 1, batch_size: int = 1) -> Dict[str, str]:
    """PaddleClas deploy/lite config.txt keys (+ the normalisation and resize our demo reads),
    all taken from inference.yml's PreProcess/PostProcess."""
    ops = {}
    for op in deploy.transform_ops:
        (name, params), = op.items()
        ops[name] = params or {}
    resize = ops.get("ResizeImage", {})
    crop = ops.get("CropImage", {})
    norm = ops.get("NormalizeImage", {})
    decode = ops.get("DecodeImage", {})
    _, c, h, w = deploy.input_shape
    size = resize.get("size")
    if isinstance(size, int):
        size = [size, size]
    config = {
        "clas_model_file": model_file,
        "label_path": label_file,
        "resize_short_size": int(resize.get("resize_short", 0) or 0),
        "resize_width": int(size[0]) if size else 0,
        "resize_height": int(size[1]) if size else 0,
        "crop_size": int(crop.get("size", 0) or 0) if not isinstance(crop.get("size"), list) else int(crop["size"][0]),
        "input_width": int(w),
        "input_height": int(h),
        "to_rgb": int(bool(decode.get("to_rgb", True))),
        "scale": repr(float(_scale(norm.get("scale", 1.0 / 255.0)))),
        "mean": " ".join(repr(float(m)) for m in norm.get("mean", [0.0, 0.0, 0.0])),
        "std": " ".join(repr(float(s)) for s in norm.get("std", [1.0, 1.0, 1.0])),
        "topk": int(deploy.topk),
        "apply_softmax": int(not deploy.softmax),  # 0: the exported graph ends in softmax
        "visualize": 0,
        "num_threads": int(num_threads),
        "batch_size": int(batch_size),
        "precision": precision,
        "runtime_device": runtime_device,
        "enable_benchmark": 0,
        "tipc_benchmark": 0,
    }
    return {k: str(v) for k, v in config.items()}


def _scale(value) -> float:
    if isinstance(value, str):  # PaddleClas writes "1.0/255.0"
        num, _, den = value.partition("/")
        return float(num) / float(den) if den else float(num)
    return float(value)


def format_demo_config(config: Dict[str, str]) -> str:
    return "".join(f"{key} {value}\n" for key, value in config.items())


def read_demo_config(path) -> Dict[str, str]:
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


# ------------------------------------------------------------- ops report

@dataclass(frozen=True)
class OpsReport:
    ops: Dict[str, Dict[str, bool]]  # op -> {target column: supported}
    supported: bool  # opt's "Paddle-Lite supports this model!"
    text: str

    def unsupported(self) -> List[str]:
        return sorted(op for op, cols in self.ops.items() if not any(cols.values()))


def model_ops_report(model_dir, valid_targets: str = "arm") -> OpsReport:
    """opt's ``--print_model_ops=true`` report: which of the model's ops Lite runs on ``valid_targets``."""
    target = check_target(valid_targets)
    legacy, params = _legacy_files(read_deploy_config(model_dir))
    text = run_opt([f"--model_file={legacy}", f"--param_file={params}", "--print_model_ops=true",
                    f"--valid_targets={target}"], "listing the model's ops", check=False)
    # opt 2.12 exits 1 after printing this report, even for a supported model
    report = parse_ops_report(text)
    if not report.ops:
        raise LiteConversionError(f"Paddle Lite opt printed no op report for {legacy}: {_reason(text)}")
    return report


def parse_ops_report(text: str) -> OpsReport:
    """Parse opt's table: a header ``OP_name  kARM  kHost`` then one row per op
    with ``Y`` under each target that has a kernel for it (blank otherwise)."""
    columns = None  # [(name, start, end)] character spans of the target columns
    ops: Dict[str, Dict[str, bool]] = {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["OP_name"]:
            starts = [(m.group(0), m.start()) for m in re.finditer(r"\S+", line)][1:]
            columns = [(name, pos - 1, starts[i + 1][1] - 1 if i + 1 < len(starts) else len(line) + 8)
                       for i, (name, pos) in enumerate(starts)]
            continue
        if columns is None or not words or not re.fullmatch(r"\w+", words[0]):
            if columns is not None and words:
                columns = None if "supports" in line or "not" in line else columns
            continue
        if any(w not in ("Y", "N") for w in words[1:]):
            continue
        ops[words[0]] = {name: "Y" in line[a:b] for name, a, b in columns}
    return OpsReport(ops, "Paddle-Lite supports this model!" in text, text)
