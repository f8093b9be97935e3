"""Exported inference model files on disk: their names, and finding them.

Layout of a model directory (prefix "inference"): ``<prefix>.json`` (PIR)
and/or ``<prefix>.pdmodel`` (legacy) + ``<prefix>.pdiparams``. What the
programs hold (input shape, operators) is read by :mod:`..paddle.program`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from ..errors import ConfigError, HRNetError

MODEL_SUFFIXES = {"pir": ".json", "legacy": ".pdmodel"}
PARAMS_SUFFIX = ".pdiparams"
INPUT_NAME = "x"


class ModelFileError(HRNetError, FileNotFoundError):
    """An inference model directory or file is missing."""


def model_file_names(formats, prefix: str = "inference") -> Dict[str, str]:
    """inference.yml's ``files`` for the Paddle programs ``formats`` ("pir", "legacy") and their params."""
    names = {fmt: prefix + MODEL_SUFFIXES[fmt] for fmt in formats}
    names["params"] = prefix + PARAMS_SUFFIX
    return names


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
