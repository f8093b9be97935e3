"""Inference: raw tensor engines per runtime (image predictors build on them)."""
from .engines import (BackendUnavailableError, Engine, InputShapeError, ModelLoadError,
                      OnnxRuntimeEngine, OpenVINOEngine, PaddleInferenceEngine)

__all__ = ["Engine", "PaddleInferenceEngine", "OnnxRuntimeEngine", "OpenVINOEngine",
           "BackendUnavailableError", "InputShapeError", "ModelLoadError"]
