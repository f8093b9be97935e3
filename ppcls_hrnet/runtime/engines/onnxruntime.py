"""ONNX Runtime: an ``.onnx`` file (fp32, or the QDQ int8 file of ``ppcls-hrnet quantize``) on CPU or CUDA."""
from __future__ import annotations

from typing import List, Optional

from .base import BackendUnavailableError, Engine, dims, existing_file, import_runtime, loading_errors
from .onnx_files import onnx_model_file


class OnnxRuntimeEngine(Engine):
    def __init__(self, onnx_path, cpu_threads: int = 2, providers: Optional[List[str]] = None):
        ort = import_runtime("onnxruntime", "onnx")
        path = existing_file(onnx_path, "ONNX model")
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        with loading_errors("ONNX Runtime", path):
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=providers or ["CPUExecutionProvider"])
        (model_input,) = self._session.get_inputs()
        self._input_name = model_input.name
        self.input_shape = dims(model_input.shape)
        self.source = str(path)

    def _run(self, batch):
        return self._session.run(None, {self._input_name: batch})[0]


def build(deploy, options) -> Engine:
    if options.device == "gpu":
        ort = import_runtime("onnxruntime", "onnx")
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailableError("onnxruntime here has no CUDAExecutionProvider "
                                          "(install onnxruntime-gpu) — or use --backend paddle on GPU")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if options.device == "gpu" else None
    return OnnxRuntimeEngine(onnx_model_file(deploy, options.precision), cpu_threads=options.cpu_threads, providers=providers)
