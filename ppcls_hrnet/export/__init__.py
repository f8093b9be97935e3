"""Deployment export: Paddle inference models (PIR or legacy), ONNX and int8 ONNX.

Names are imported on first use: a predictor that only needs
``export.model_files`` or ``export.onnx`` must not pay for Paddle's import.
"""
import importlib

_EXPORTS = {
    "exporter": ("ExportError", "export_inference_model"),
    "model_files": ("InferenceModelFiles", "ModelFileError", "find_inference_model", "list_op_types",
                    "read_input_shape"),
    "onnx": ("ConversionError", "convert_to_onnx", "ensure_onnx", "onnx_input_shape", "onnx_op_types"),
    "quantize": ("QuantizationError", "compare_top1", "format_report", "predict_list", "quantize_model"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'ppcls_hrnet.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
