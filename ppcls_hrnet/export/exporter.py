"""Export a dygraph HRNet to a Paddle inference model, and find one on disk.

Layout of an inference model directory (``prefix`` defaults to "inference"):

- ``<prefix>.json`` + ``<prefix>.pdiparams``: PIR program (Paddle 3 default).
- ``<prefix>.pdmodel`` + ``<prefix>.pdiparams`` (+ ``.pdiparams.info``): the
  legacy program, still needed by Paddle Lite and OpenVINO's Paddle frontend.
"""
from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import pir_utils
from paddle.base.framework import Variable as LegacyVariable
from paddle.base.layer_helper import LayerHelper

from ..errors import ConfigError, HRNetError
from ..runtime.contract import write_deploy_config
from ..runtime.model_files import INPUT_NAME, MODEL_SUFFIXES, PARAMS_SUFFIX

# Every file `paddle.jit.save` may write for one prefix; a new export into an
# existing directory replaces all of them so no stale graph outlives its params.
_SAVED_SUFFIXES = (".json", ".pdmodel", PARAMS_SUFFIX, PARAMS_SUFFIX + ".info")
# HRNet halves the resolution five times and upsamples back by exact factors.
SIZE_MULTIPLE = 32

# Writes extra files (e.g. inference.yml) into the staging directory before
# it is committed; returns {key: file name} for the result of the export.
ExtraWriter = Callable[[Path], Mapping[str, str]]


class ExportError(HRNetError):
    """Paddle could not export the model."""


# --------------------------------------------------------------------- export


def export_inference_model(model, save_dir, image_shape: Sequence[int] = (3, 224, 224),
                           add_softmax: bool = True, legacy: bool = False,
                           prefix: str = "inference", *, formats: Optional[Sequence[str]] = None,
                           extra_writers: Iterable[ExtraWriter] = ()) -> Dict[str, Path]:
    """Save ``model`` for deployment with a dynamic batch dimension.

    Writes ``<prefix>.json`` (PIR) or, with ``legacy``, ``<prefix>.pdmodel``,
    plus ``<prefix>.pdiparams``; ``formats=("pir", "legacy")`` writes both
    graphs beside one params file. ``add_softmax`` appends a Softmax after
    the logits (outside the training graph). The model is exported in eval
    mode and its train/eval mode is restored afterwards.

    The files are written into a temporary sibling directory first: a new (or
    empty) ``save_dir`` appears complete or not at all; in an existing one the
    files are replaced one by one, each atomically, and model files of this
    prefix that the export did not write are removed.

    Returns {"pir": .json, "legacy": .pdmodel (those written), "params": ...,
    "params_info" (legacy), and whatever ``extra_writers`` report}, all paths
    inside ``save_dir``.
    """
    formats = _check_formats(formats, legacy)
    shape = _check_image_shape(image_shape)
    if add_softmax and getattr(model, "features_only", False):
        raise ConfigError("a features_only model has no logits to apply softmax to; "
                          "export it with add_softmax=False")
    save_dir = Path(save_dir)
    spec = [paddle.static.InputSpec([None, *shape], "float32", INPUT_NAME)]
    with _eval_mode(model), _staging_dir(save_dir) as staging:
        for fmt in formats:
            _save_static(_InferenceLayer(model, add_softmax), staging, prefix, spec, fmt)
        extra = {}
        for write in extra_writers:
            extra.update(write(staging) or {})
        _commit(staging, save_dir, prefix)
    written = {fmt: save_dir / (prefix + MODEL_SUFFIXES[fmt]) for fmt in formats}
    written["params"] = save_dir / (prefix + PARAMS_SUFFIX)
    info = save_dir / (prefix + PARAMS_SUFFIX + ".info")
    if info.exists():
        written["params_info"] = info
    written.update({key: save_dir / name for key, name in extra.items()})
    return written


def export_deployable(model, save_dir, deploy: Mapping) -> Dict[str, Path]:
    """Export ``model`` with its ``inference.yml`` content ``deploy`` (see
    :func:`~ppcls_hrnet.runtime.contract.deploy_config_content`), committed together.

    The Paddle programs written are those ``deploy["files"]`` names, at its
    input size, with a softmax when its output says so: the contract and the
    files cannot disagree.
    """
    formats = tuple(fmt for fmt in MODEL_SUFFIXES if fmt in deploy["files"])
    return export_inference_model(model, save_dir, tuple(deploy["input"]["shape"][1:]),
                                  add_softmax=bool(deploy["output"]["softmax"]), formats=formats,
                                  extra_writers=[lambda staging: write_deploy_config(staging, deploy)])


def _check_formats(formats, legacy: bool) -> Tuple[str, ...]:
    if formats is None:
        return ("legacy",) if legacy else ("pir",)
    formats = tuple(dict.fromkeys(formats))
    if not formats or not set(formats) <= set(MODEL_SUFFIXES) or (legacy and "legacy" not in formats):
        raise ConfigError(f"formats must be a non-empty subset of {list(MODEL_SUFFIXES)} "
                          f"(including legacy when legacy=True), got {list(formats)}")
    return formats


def _check_image_shape(image_shape) -> Tuple[int, int, int]:
    shape = tuple(image_shape)
    if (len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape)
            or shape[0] != 3):
        raise ConfigError(f"image_shape must be [3, H, W] with positive ints, got {list(image_shape)}")
    if shape[1] % SIZE_MULTIPLE or shape[2] % SIZE_MULTIPLE:
        raise ConfigError(f"image_shape H and W must be multiples of {SIZE_MULTIPLE} "
                          f"(HRNet's branches must upsample back exactly), got {list(shape)}")
    return shape


class _InferenceLayer(nn.Layer):
    """The model plus an optional Softmax that never enters training."""

    def __init__(self, model, add_softmax: bool):
        super().__init__()
        self.model = model
        self.add_softmax = add_softmax

    def forward(self, x):
        y = self.model(x)
        return F.softmax(y, axis=-1) if self.add_softmax else y


def _save_static(layer, directory: Path, prefix: str, input_spec, fmt: str) -> None:
    """``paddle.jit.save`` one format into ``directory``, sharing its params file."""
    if (directory / (prefix + PARAMS_SUFFIX)).exists():
        # a second graph: save aside, and keep it only if its params are ours
        aside = directory / f".{fmt}"
        aside.mkdir()
        _save_static(layer, aside, prefix, input_spec, fmt)
        _merge_graph(aside, directory, prefix)
        return
    # The IR guards switch FLAGS_enable_pir_api in-process (a plain set_flags
    # does not), so the format no longer depends on how paddle was started.
    guard = _legacy_ir if fmt == "legacy" else pir_utils.DygraphPirGuard
    with guard():
        static = paddle.jit.to_static(layer, input_spec=input_spec, full_graph=True)
        paddle.jit.save(static, str(directory / prefix))
    if not (directory / (prefix + MODEL_SUFFIXES[fmt])).is_file():
        raise ExportError(f"paddle.jit.save did not write {prefix + MODEL_SUFFIXES[fmt]} "
                          f"(wrote {sorted(p.name for p in directory.iterdir())})")


# Paddle 3.3.1 rebinds some functions (sigmoid, tanh, exp, matmul, ...; see
# paddle/base/dygraph/generated_tensor_methods_patch.py) to bare _C_ops calls
# that accept only dygraph tensors and PIR values, so tracing them under the
# legacy IR fails with "must be Value, but got Variable", even when paddle
# starts with FLAGS_enable_pir_api=0. These are the ones HRNet uses (SE blocks).
_UNARY_OPS_WITHOUT_LEGACY_PATH = ("sigmoid",)


@contextlib.contextmanager
def _legacy_ir():
    """Legacy IR for paddle.jit.save, with the unary ops above appending classic ops."""
    namespaces = (paddle, paddle.nn.functional)
    saved = [(ns, name, getattr(ns, name)) for ns in namespaces
             for name in _UNARY_OPS_WITHOUT_LEGACY_PATH if hasattr(ns, name)]
    for ns, name, function in saved:
        setattr(ns, name, _with_legacy_path(name, function))
    try:
        with pir_utils.DygraphOldIrGuard():
            yield
    finally:
        for ns, name, function in saved:
            setattr(ns, name, function)


def _with_legacy_path(op_type: str, function):
    @paddle.jit.not_to_static
    def unary(x, name=None, **kwargs):
        if not isinstance(x, LegacyVariable):
            return function(x, name=name, **kwargs)
        helper = LayerHelper(op_type, name=name)
        out = helper.create_variable_for_type_inference(x.dtype)
        helper.append_op(type=op_type, inputs={"X": x}, outputs={"Out": out})
        return out

    return unary


def _merge_graph(aside: Path, directory: Path, prefix: str) -> None:
    params = prefix + PARAMS_SUFFIX
    if not filecmp.cmp(aside / params, directory / params, shallow=False):
        raise ExportError("the PIR and legacy exports wrote different parameter files; "
                          "export the two formats into separate directories")
    (aside / params).unlink()
    for path in aside.iterdir():
        os.replace(path, directory / path.name)
    aside.rmdir()


@contextlib.contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


@contextlib.contextmanager
def _staging_dir(save_dir: Path):
    """A temporary directory beside ``save_dir`` (same filesystem: renames are atomic)."""
    save_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{save_dir.name}.", suffix=".tmp", dir=save_dir.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, save_dir: Path, prefix: str) -> None:
    if save_dir.is_dir() and not any(save_dir.iterdir()):
        save_dir.rmdir()
    if not save_dir.exists():
        os.replace(staging, save_dir)
        return
    if not save_dir.is_dir():
        raise ExportError(f"{save_dir} exists and is not a directory")
    new_files = {p.name for p in staging.iterdir()}
    for suffix in _SAVED_SUFFIXES:
        stale = save_dir / (prefix + suffix)
        if stale.name not in new_files and stale.exists():
            stale.unlink()
    for name in sorted(new_files):
        os.replace(staging / name, save_dir / name)
