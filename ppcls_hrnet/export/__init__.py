"""Deployment export: Paddle inference models (PIR or legacy), ONNX and int8 ONNX, Paddle Serving confs.

Names are imported on first use: a predictor that only needs
``export.model_files`` or ``export.onnx`` must not pay for Paddle's import.
"""
from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "exporter": ("ExportError", "export_inference_model"),
    "model_files": ("InferenceModelFiles", "ModelFileError", "find_inference_model", "list_op_types",
                    "read_input_shape"),
    "onnx": ("ConversionError", "convert_to_onnx", "ensure_onnx", "onnx_input_shape", "onnx_op_types"),
    "quantize": ("QuantizationError", "compare_top1", "format_report", "predict_list", "quantize_model"),
    "serving": ("ServingConfError", "write_serving_confs"),
})
