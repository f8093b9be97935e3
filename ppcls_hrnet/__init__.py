"""ppcls-hrnet: PaddleClas-compatible HRNet that deploys on Paddle 3.x."""
from .errors import ConfigError, HRNetError, UnknownModelError, WeightsError

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "predict", "create_predictor", "HRNetError", "UnknownModelError",
           "WeightsError", "ConfigError", "__version__"]


def __getattr__(name):
    # Lazy: importing the package (e.g. its data transforms or errors in a
    # deploy process) must not import paddle.
    if name in ("create_model", "list_models"):
        from . import models

        return getattr(models, name)
    if name in ("predict", "create_predictor"):
        from .predictors import api

        return getattr(api, name)
    raise AttributeError(f"module 'ppcls_hrnet' has no attribute {name!r}")
