"""ppcls-hrnet: PaddleClas-compatible HRNet that deploys on Paddle 3.x."""
from .errors import ConfigError, HRNetError, UnknownModelError, WeightsError
from .models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "HRNetError", "UnknownModelError",
           "WeightsError", "ConfigError", "__version__"]
