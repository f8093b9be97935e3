"""Raw tensor engines: a float32 NCHW batch in, the model's output array out.

One small interface over every inference runtime we deploy to, so predictors
(image in, classes out) and parity tests do not care which one runs:

    engine.input_shape  -> (None, 3, 224, 224)  (None: dynamic)
    engine.run(batch)   -> np.ndarray, owned by the caller
"""
from __future__ import annotations

import contextlib
import importlib
import logging
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ...errors import HRNetError
from ..model_files import ModelFileError

logger = logging.getLogger("ppcls_hrnet")

Shape = Tuple[Optional[int], ...]


class BackendUnavailableError(HRNetError, ImportError):
    """The runtime for an engine is not installed or not usable here."""


class InputShapeError(HRNetError, ValueError):
    """A batch that does not fit the model's input."""


class ModelLoadError(HRNetError):
    """The runtime rejected the model file (corrupt, truncated, wrong format)."""


class Engine:
    """Base class: subclasses set ``input_shape`` and implement ``_run``."""

    input_shape: Shape

    def run(self, batch) -> np.ndarray:
        return self._run(self._check_batch(batch))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_batch(self, batch) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        expected = self.input_shape
        fits = batch.ndim == len(expected) and all(
            want is None or want == got for want, got in zip(expected, batch.shape))
        if not fits or batch.shape[0] == 0:
            shown = ["N" if d is None else d for d in expected]
            raise InputShapeError(f"{type(self).__name__} expects a float32 batch of shape "
                                  f"{shown} (N >= 1), got {list(batch.shape)}")
        return batch

    def __repr__(self):
        return f"{type(self).__name__}({self.source}, input_shape={list(self.input_shape)})"


def import_runtime(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendUnavailableError(
            f"{module} is not installed ({err}); install it with: pip install 'ppcls-hrnet[{extra}]'"
        ) from None


def existing_file(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what} {path} does not exist")
    return path


@contextlib.contextmanager
def loading_errors(runtime: str, path):
    """Runtime exceptions while loading a model -> ModelLoadError naming the file."""
    try:
        yield
    except HRNetError:
        raise
    except Exception as err:  # each runtime raises its own (RuntimeError, ORT's Fail, ...)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(f"{runtime} could not load {path}: {reason}") from err


def dims(shape) -> Shape:
    """Runtime shape (ints, -1, strings or Dimension objects) -> ints and None."""
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in shape)
