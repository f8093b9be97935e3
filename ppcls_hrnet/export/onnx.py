"""ONNX from an export: convert, record in inference.yml, check against Paddle; read ONNX files.

The conversion itself (paddle2onnx) belongs to the runtime's Paddle engine
(:mod:`..runtime.paddle.onnx`), which converts on first use too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..runtime.contract import read_deploy_config, register_model_files
from ..runtime.engines.onnxruntime import OnnxRuntimeEngine
from ..runtime.paddle.engine import PaddleInferenceEngine
from ..runtime.paddle.onnx import ONNX_FILE, convert_to_onnx
from ..runtime.parity import ParityReport, compare_engines


def export_onnx(model_dir, save_file=None, opset_version: int = 11, model_format: str = "auto") -> Path:
    """Write ``save_file`` (default ``<model_dir>/inference.onnx``); a file inside the model
    directory is recorded in its inference.yml (``files.onnx``), so predictors find it."""
    deploy = read_deploy_config(model_dir)
    save_file = Path(save_file or deploy.model_dir / ONNX_FILE)
    onnx_file = convert_to_onnx(deploy.model_dir, save_file, opset_version, model_format=model_format)
    if onnx_file.resolve().parent == deploy.model_dir.resolve():
        register_model_files(deploy.model_dir, {"onnx": onnx_file.name})
    return onnx_file


def check_against_paddle(model_dir, onnx_file, images: Sequence[str], cpu_threads: int = 2,
                         model_format: str = "auto") -> ParityReport:
    """ONNX Runtime on ``onnx_file`` vs Paddle Inference on the export, on real images."""
    deploy = read_deploy_config(model_dir)
    return compare_engines(
        PaddleInferenceEngine(deploy.model_dir, cpu_threads=cpu_threads, model_format=model_format),
        OnnxRuntimeEngine(onnx_file, cpu_threads=cpu_threads), deploy, images)


def onnx_op_types(onnx_file) -> list:
    """Node op types of an ONNX model's main graph."""
    import onnx

    return [node.op_type for node in onnx.load(str(onnx_file), load_external_data=False).graph.node]


def onnx_input_shape(onnx_file) -> tuple:
    """The first input's shape, None for dynamic (symbolic) dimensions."""
    import onnx

    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    (graph_input,) = [i for i in graph.input if i.name not in weights]
    return tuple(d.dim_value if d.HasField("dim_value") else None
                 for d in graph_input.type.tensor_type.shape.dim)
