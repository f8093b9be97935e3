"""Inference: raw tensor engines per runtime, the backend table, and image predictors."""
from .backends import AUTO_ORDER, BACKENDS, PRECISIONS, RuntimeOptions, create_engine
from .engines import (BackendUnavailableError, Engine, InputShapeError, ModelLoadError,
                      OnnxRuntimeEngine, OpenVINOEngine, PaddleInferenceEngine)

__all__ = ["Engine", "PaddleInferenceEngine", "OnnxRuntimeEngine", "OpenVINOEngine",
           "BackendUnavailableError", "InputShapeError", "ModelLoadError",
           "RuntimeOptions", "create_engine", "BACKENDS", "AUTO_ORDER", "PRECISIONS",
           "ClassificationPredictor", "create_predictor", "predict"]


def __getattr__(name):
    # the image predictor pulls in cv2 and the data layer; engines alone do not
    if name == "ClassificationPredictor":
        from .classifier import ClassificationPredictor

        return ClassificationPredictor
    if name in ("create_predictor", "predict"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ppcls_hrnet.predictors' has no attribute {name!r}")
