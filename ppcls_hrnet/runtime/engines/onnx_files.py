"""Which ONNX file an ONNX Runtime or OpenVINO engine loads for a precision."""
from __future__ import annotations

from ..paddle.onnx import ensure_onnx
from .base import BackendUnavailableError


def onnx_model_file(deploy, precision: str):
    if precision == "int8":
        return quantized_model_file(deploy)
    return ensure_onnx(deploy.model_dir)


def quantized_model_file(deploy):
    path = deploy.model_file("onnx_int8")
    if path is None or not path.is_file():
        raise BackendUnavailableError(
            f"{deploy.model_dir} has no int8 model; make one with "
            f"`ppcls-hrnet quantize --inference_model_dir {deploy.model_dir} --calib_list LIST`")
    return path
