"""ppcls-hrnet: PaddleClas-compatible HRNet that deploys on Paddle 3.x."""
from .base.lazy import lazy_exports
from .errors import ConfigError, HRNetError, UnknownModelError, WeightsError

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "predict", "create_predictor", "HRNetError", "UnknownModelError",
           "WeightsError", "ConfigError", "__version__"]


# Imported on first use: importing the package (its errors, or a deploy
# process's runtime) must not import Paddle.
__getattr__, _ = lazy_exports(__name__, {
    "models.registry": ("create_model", "list_models"),
    "api": ("predict", "create_predictor"),
})
