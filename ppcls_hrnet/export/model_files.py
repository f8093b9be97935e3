"""Exported inference model files on disk: find them, read their input shape and ops.

Paddle-free (the legacy program is parsed with paddle's protobuf class only
when asked), so predictors on ONNX Runtime or OpenVINO start without
importing Paddle. Layout of a model directory (prefix "inference"):
``<prefix>.json`` (PIR) and/or ``<prefix>.pdmodel`` (legacy) + ``<prefix>.pdiparams``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import ConfigError, HRNetError

MODEL_SUFFIXES = {"pir": ".json", "legacy": ".pdmodel"}
PARAMS_SUFFIX = ".pdiparams"
INPUT_NAME = "x"


class ModelFileError(HRNetError, FileNotFoundError):
    """An inference model directory or file is missing."""


@dataclass(frozen=True)
class InferenceModelFiles:
    model_file: Path
    params_file: Path
    format: str  # "pir" or "legacy"


def find_inference_model(model_dir, prefix: str = "inference",
                         model_format: str = "auto") -> InferenceModelFiles:
    """The model and params files in ``model_dir``.

    model_format: "pir" (``.json``), "legacy" (``.pdmodel``) or "auto"
    (PIR when both are present).
    """
    if model_format not in ("auto", *MODEL_SUFFIXES):
        raise ConfigError(f"model_format must be auto, pir or legacy, got {model_format!r}")
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelFileError(f"inference model directory {model_dir} does not exist; "
                             "export one with export_inference_model()")
    if not model_dir.is_dir():
        raise ModelFileError(f"{model_dir} is not a directory (pass the directory "
                             f"holding {prefix}.json / {prefix}.pdmodel)")
    formats = list(MODEL_SUFFIXES) if model_format == "auto" else [model_format]
    for fmt in formats:
        model_file = model_dir / (prefix + MODEL_SUFFIXES[fmt])
        if model_file.is_file():
            params_file = model_dir / (prefix + PARAMS_SUFFIX)
            if not params_file.is_file():
                raise ModelFileError(f"{model_file} has no parameters file {params_file.name} beside it")
            return InferenceModelFiles(model_file, params_file, fmt)
    wanted = " or ".join(prefix + MODEL_SUFFIXES[f] for f in formats)
    found = ", ".join(sorted(p.name for p in model_dir.iterdir())) or "nothing"
    raise ModelFileError(f"{model_dir} has no {wanted} (found: {found})")


def read_input_shape(files: InferenceModelFiles) -> Tuple[Optional[int], ...]:
    """The input's NCHW shape as saved, None for dynamic dimensions."""
    if files.format == "pir":
        (op,) = [op for op in _pir_ops(files.model_file) if op["#"] == "1.data"]
        dims = next(a["AT"]["D"] for a in op["A"] if a["N"] == "shape")
    else:
        feed = next(v for v in _legacy_block(files.model_file).vars if v.name == INPUT_NAME)
        dims = feed.type.dense_tensor.tensor.dims
    return tuple(None if d < 0 else int(d) for d in dims)


def list_op_types(files: InferenceModelFiles) -> List[str]:
    """Operator names in program order, e.g. "conv2d", "reshape", "expand"."""
    if files.format == "pir":
        # PIR json names ops "<dialect id>.<name>"; parameters are "p".
        return [op["#"].split(".", 1)[-1] for op in _pir_ops(files.model_file) if op["#"] != "p"]
    return [op.type for op in _legacy_block(files.model_file).ops]


def _pir_ops(model_file: Path):
    program = json.loads(model_file.read_text())["program"]
    return program["regions"][0]["blocks"][0]["ops"]


def _legacy_block(model_file: Path):
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc()
    program.ParseFromString(model_file.read_bytes())
    return program.blocks[0]
