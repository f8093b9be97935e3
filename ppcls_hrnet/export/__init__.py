"""Deployment export: Paddle inference models (PIR or legacy) with their inference.yml, ONNX,
int8 ONNX, Paddle Serving confs, Paddle Lite ``.nb``.

Names are imported on first use: importing one export module must not pay
for Paddle's import through the others.
"""
from ..base.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "exporter": ("ExportError", "export_inference_model", "export_deployable"),
    "onnx": ("export_onnx", "onnx_input_shape", "onnx_op_types"),
    "quantize": ("QuantizationError", "quantize_model"),
    "serving": ("ServingConfError", "write_serving_confs"),
})
