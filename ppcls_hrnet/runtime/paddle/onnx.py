"""Convert an exported Paddle inference model to ONNX with paddle2onnx.

Part of the Paddle engine: paddle2onnx imports Paddle, and it runs only when
a model has no ONNX file yet (the first ONNX Runtime or OpenVINO run of a
Paddle export, or `ppcls-hrnet onnx`).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from ...errors import HRNetError
from ..contract import read_deploy_config, register_model_files
from ..model_files import find_inference_model

ONNX_FILE = "inference.onnx"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ConversionError(HRNetError):
    """paddle2onnx (or the ONNX checker) rejected the model."""


def convert_to_onnx(model_dir, save_file=None, opset_version: int = 11, *,
                    prefix: str = "inference", model_format: str = "auto") -> Path:
    """Write ``save_file`` (default ``<model_dir>/<prefix>.onnx``) and return its path.

    Reads ``<prefix>.json`` (or the legacy ``.pdmodel``, see model_format);
    the batch dimension stays dynamic. The file is checked with
    ``onnx.checker`` and only then moved into place.
    """
    files = find_inference_model(model_dir, prefix, model_format)
    save_file = Path(save_file) if save_file else files.model_file.with_suffix(".onnx")
    save_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{save_file.name}.", suffix=".tmp", dir=save_file.parent)
    os.close(fd)
    try:
        _paddle2onnx_export(str(files.model_file), str(files.params_file), tmp, opset_version)
        _check_onnx(tmp, files.model_file)
        os.replace(tmp, save_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return save_file


def ensure_onnx(model_dir, opset_version: int = 11) -> Path:
    """The model's ONNX file recorded in inference.yml; converted and recorded if absent."""
    deploy = read_deploy_config(model_dir)
    onnx_file = deploy.model_file("onnx")
    if onnx_file is not None and onnx_file.is_file():
        return onnx_file
    onnx_file = convert_to_onnx(model_dir, Path(model_dir) / ONNX_FILE, opset_version)
    register_model_files(model_dir, {"onnx": onnx_file.name})
    return onnx_file


def _paddle2onnx_export(model_file: str, params_file: str, save_file: str, opset_version: int) -> None:
    paddle2onnx = _import_paddle2onnx()
    log = io.StringIO()
    try:
        # It prints (not logs) progress and errors, then sys.exit(-1)s.
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            paddle2onnx.export(model_file, params_file, save_file=save_file,
                               opset_version=opset_version, enable_onnx_checker=True,
                               optimize_tool="None")
    except (SystemExit, Exception) as err:
        raise ConversionError(
            f"paddle2onnx could not convert {model_file}: {_errors_in(log.getvalue()) or repr(err)}"
        ) from None
    if os.path.getsize(save_file) == 0:
        raise ConversionError(f"paddle2onnx wrote nothing for {model_file}: {_errors_in(log.getvalue())}")


def _import_paddle2onnx():
    # Polygraphy, paddle2onnx's default optimizer, pip-installs missing
    # packages into the running environment (it once swapped numpy 1 -> 2).
    # We never run it (optimize_tool="None" above): in paddle2onnx 2.1.0 its
    # constant folding needs onnx_graphsurgeon + ml_dtypes and, even with
    # them, rejects HRNet's graph and falls back to the unfolded model; the
    # "onnxoptimizer" choice is broken by a typo'd pass name. The runtimes
    # fold constants themselves when they load the model.
    os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
    try:
        import paddle2onnx
    except ImportError as err:
        raise ConversionError(f"paddle2onnx is not installed ({err}); "
                              "install it with: pip install 'ppcls-hrnet[onnx]'") from None
    return paddle2onnx


def _errors_in(log: str) -> str:
    """The "<time> [ERROR]\t<message>" lines of paddle2onnx's output, messages only."""
    lines = [_ANSI.sub("", line) for line in log.splitlines()]
    return " | ".join(line.split("[ERROR]", 1)[1].strip() for line in lines if "[ERROR]" in line)


def _check_onnx(onnx_file: str, source: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(onnx_file, full_check=True)
    except Exception as err:  # onnx raises several unrelated exception types
        raise ConversionError(f"the ONNX model converted from {source} is invalid: {err}") from None
