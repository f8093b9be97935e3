"""Deployment export: Paddle inference models (PIR or legacy), ONNX and int8 ONNX."""
from .exporter import (ExportError, InferenceModelFiles, ModelFileError, export_inference_model,
                       find_inference_model, list_op_types, read_input_shape)
from .onnx import ConversionError, convert_to_onnx, ensure_onnx, onnx_input_shape, onnx_op_types
from .quantize import QuantizationError, compare_top1, format_report, predict_list, quantize_model

__all__ = ["export_inference_model", "find_inference_model", "read_input_shape", "list_op_types",
           "InferenceModelFiles", "convert_to_onnx", "ensure_onnx", "onnx_op_types", "onnx_input_shape",
           "ExportError", "ModelFileError", "ConversionError",
           "quantize_model", "compare_top1", "format_report", "predict_list", "QuantizationError"]
