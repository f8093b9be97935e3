"""Pretrained weights: find them (official, URL or local path), download them
into the weights cache (with :mod:`ppcls_hrnet.base.download`), and load
PaddleClas ``.pdparams`` state dicts with clear errors.

``create_model(..., pretrained=...)`` calls ``resolve_weights`` then
``load_pretrained``; both are usable on their own.
"""
from __future__ import annotations

import logging
import os
import re
import urllib.parse
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..base.download import DownloadError, download
from ..base.home import HOME_ENV, home_subdir
from ..errors import WeightsError
from .spec import ARCH_TABLE, HRNetSpec

logger = logging.getLogger("ppcls_hrnet")

OFFICIAL_URL_BASE = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/"
WEIGHTS_BASE_ENV = "PPCLS_HRNET_WEIGHTS_BASE"
SUFFIX = ".pdparams"

CLASSIFIER_PREFIX = "fc."
HEAD_PREFIXES = ("last_cls.", "cls_head_conv_list.", "conv_last.", CLASSIFIER_PREFIX)
_OFFLINE_HINT = (
    "To work offline, download the file elsewhere and pass its local path "
    "(pretrained='/path/to/weights.pdparams'), or set "
    f"{WEIGHTS_BASE_ENV} to a mirror."
)
_REDOWNLOAD_HINT = "Delete it and download it again (or save it again with paddle.save)."


# --------------------------------------------------------------------------
# Where the weights are
# --------------------------------------------------------------------------

def weights_base_url() -> str:
    return os.environ.get(WEIGHTS_BASE_ENV) or OFFICIAL_URL_BASE


def pretrained_url(spec: HRNetSpec, use_ssld: bool = False) -> str:
    """URL of the official PaddleClas weights for ``spec`` (SSLD with ``use_ssld``)."""
    tag = "ssld_pretrained" if use_ssld else "pretrained"
    if tag not in spec.weight_tags:
        raise WeightsError(_no_official_weights_message(spec, tag))
    return weights_base_url().rstrip("/") + f"/{spec.name}_{tag}{SUFFIX}"


def _no_official_weights_message(spec: HRNetSpec, tag: str) -> str:
    kind = "SSLD" if tag == "ssld_pretrained" else "ImageNet"
    if not spec.weight_tags:
        available = "PaddleClas publishes no weights for it"
    else:
        options = [f"{t} (use_ssld={t == 'ssld_pretrained'})" for t in spec.weight_tags]
        available = f"available: {', '.join(options)}"
    return (
        f"{spec.name} has no official {kind} weights ({available}). "
        f"Pass a local {SUFFIX} path or an http(s) URL as pretrained= instead."
    )


def resolve_weights(pretrained, spec: HRNetSpec, use_ssld: bool = False,
                    cache_dir: Optional[str] = None) -> str:
    """Local path of the weights named by ``pretrained``.

    True: the official file for ``spec`` (downloaded and cached); an http(s)
    URL: downloaded and cached; anything else: a local path, where a path
    without the ``.pdparams`` suffix means ``<path>.pdparams`` (PaddleClas's
    habit). ``use_ssld`` only matters for True.
    """
    if pretrained is True:
        return download_weights(pretrained_url(spec, use_ssld), cache_dir=cache_dir)
    if not isinstance(pretrained, (str, os.PathLike)):
        raise WeightsError(
            f"pretrained must be True, a local {SUFFIX} path or an http(s) URL, got {pretrained!r}."
        )
    location = os.fspath(pretrained)
    if _is_url(location):
        return download_weights(location, cache_dir=cache_dir)
    return existing_weights_file(location)


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


def existing_weights_file(path: str) -> str:
    """``path`` (or ``<path>.pdparams``) if it is an existing file, else WeightsError."""
    path = os.path.expanduser(os.fspath(path))
    candidates = [path] if path.endswith(SUFFIX) else [path + SUFFIX, path]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    if os.path.isdir(path):
        raise WeightsError(f"weights path {path!r} is a directory; pass the {SUFFIX} file inside it.")
    tried = " or ".join(repr(c) for c in candidates)
    raise WeightsError(
        f"weights file not found: {tried}. Check the path, or pass pretrained=True "
        f"for the official weights or an http(s) URL to download."
    )


# --------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------

def default_cache_dir() -> str:
    return str(home_subdir("weights"))


def download_weights(url: str, cache_dir: Optional[str] = None, sha256: Optional[str] = None,
                     progress: bool = True) -> str:
    """Download weights from ``url`` into the weights cache (once); the local path.

    ``base.download.download`` does the work (resume, ``#sha256=`` checks);
    its failures become WeightsError saying how to do without the network.
    """
    try:
        return download(url, _weights_cache_dir(cache_dir), sha256=sha256, progress=progress,
                        unnamed_suffix=SUFFIX)
    except DownloadError as e:
        raise WeightsError(f"{e} {_OFFLINE_HINT}" if e.fetch_failed else str(e)) from e


def _weights_cache_dir(cache_dir: Optional[str]) -> str:
    path = os.path.expanduser(cache_dir) if cache_dir else default_cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        # Said here rather than by the downloader: only here is it known where
        # the default comes from and how to move it.
        raise WeightsError(
            f"cannot create the weights cache {path!r} ({e.strerror}). "
            f"Pass cache_dir= or set {HOME_ENV} to a writable directory."
        ) from e
    return path


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

@dataclass
class LoadReport:
    """What ``load_pretrained`` did. Anything not listed here raised instead.

    loaded: keys set from the file. skipped_shape: classifier keys left at
    their init because the class count differs, as (key, file_shape,
    model_shape). missing: classifier keys the file lacks. unexpected: head
    keys in the file that this model does not have (features_only or
    class_num=0), ignored.
    """

    loaded: List[str] = field(default_factory=list)
    skipped_shape: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)


@dataclass
class _Mismatch:
    """Keys that make the file unusable for the model."""

    shapes: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.shapes or self.missing or self.unexpected)


def load_pretrained(model, path) -> LoadReport:
    """Load a PaddleClas-style ``.pdparams`` state dict into ``model``.

    A classifier (``fc``) that does not fit the model's class count is
    skipped with a warning; every other mismatch raises WeightsError.
    """
    path = existing_weights_file(path)
    state = read_state_dict(path)
    model_state = model.state_dict()
    report, mismatch = _compare(state, model_state, _ignorable_prefixes(model))
    if mismatch:
        raise WeightsError(_mismatch_message(mismatch, state, model, path))
    _warn_about_classifier(report, model)
    with warnings.catch_warnings():
        # paddle warns about each key it did not get; the report covers them
        warnings.simplefilter("ignore")
        model.set_state_dict({k: _as_dtype_of(state[k], model_state[k]) for k in report.loaded})
    logger.info("loaded %d/%d tensors into %s from %s%s", len(report.loaded), len(model_state),
                model.spec.name, path, _summary_tail(report))
    return report


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
    """The file's tensors as numpy arrays, or WeightsError if it is not a state dict."""
    import paddle

    if os.path.getsize(path) == 0:
        raise WeightsError(f"weights file {path!r} is empty. {_REDOWNLOAD_HINT}")
    try:
        state = paddle.load(path, return_numpy=True)
    except Exception as e:  # paddle.load raises ValueError, EOFError, pickle errors... for bad files
        raise WeightsError(
            f"cannot read {path!r} as Paddle weights ({type(e).__name__}: {e}); it is "
            f"truncated, corrupt or not a {SUFFIX} file. {_REDOWNLOAD_HINT}"
        ) from e
    if not isinstance(state, dict) or not state:
        raise WeightsError(
            f"{path!r} holds a {type(state).__name__}, not a Paddle state dict "
            f"(name -> tensor). Save weights with paddle.save(model.state_dict(), path)."
        )
    not_arrays = [k for k, v in state.items() if not isinstance(v, np.ndarray)]
    if not_arrays:
        raise WeightsError(
            f"{path!r} is not a plain state dict: {_few(not_arrays)} are not tensors. "
            f"If it is a training checkpoint, pass the model's {SUFFIX} file from it."
        )
    return state


def _ignorable_prefixes(model) -> Tuple[str, ...]:
    """Head keys a file may carry that this model has no place for."""
    if getattr(model, "features_only", False):
        return HEAD_PREFIXES
    if getattr(model, "fc", None) is None:
        return (CLASSIFIER_PREFIX,)
    return ()


def _compare(state, model_state, ignorable: Tuple[str, ...]) -> Tuple[LoadReport, _Mismatch]:
    report, mismatch = LoadReport(), _Mismatch()
    for key, value in state.items():
        if key not in model_state:
            (report.unexpected if key.startswith(ignorable) else mismatch.unexpected).append(key)
            continue
        file_shape, model_shape = tuple(value.shape), tuple(model_state[key].shape)
        if file_shape == model_shape:
            report.loaded.append(key)
        elif key.startswith(CLASSIFIER_PREFIX):
            report.skipped_shape.append((key, file_shape, model_shape))
        else:
            mismatch.shapes.append((key, file_shape, model_shape))
    for key in model_state:
        if key not in state:
            (report.missing if key.startswith(CLASSIFIER_PREFIX) else mismatch.missing).append(key)
    return report, mismatch


def _mismatch_message(mismatch: _Mismatch, state, model, path: str) -> str:
    name = model.spec.name
    problems = []
    if mismatch.shapes:
        examples = ", ".join(f"{k}: file {list(f)} vs model {list(m)}" for k, f, m in mismatch.shapes[:3])
        problems.append(f"{len(mismatch.shapes)} tensors differ in shape outside the classifier ({examples})")
    if mismatch.unexpected:
        problems.append(f"{len(mismatch.unexpected)} keys match nothing in the model ({_few(mismatch.unexpected)})")
    if mismatch.missing:
        problems.append(f"{len(mismatch.missing)} keys the model needs are missing ({_few(mismatch.missing)})")
    guess = _guess_model_names(state)
    if guess and name not in guess:
        fix = (f"The file looks like weights for {' or '.join(guess)}: build that model, "
               f"or pass weights made for {name}.")
    else:
        fix = f"Pass weights saved from a {name} model."
    return f"weights {path!r} do not fit {name}: {'; '.join(problems)}. {fix}"


def _few(keys: List[str], n: int = 3) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")


def _guess_model_names(state) -> List[str]:
    """Registered models whose layout matches the file's, judged from a few keys."""
    tr1 = state.get("conv_tr1_1.conv.weight")
    if tr1 is None or len(tr1.shape) != 4:
        return []
    width, stage1_out = int(tr1.shape[0]), int(tr1.shape[1])
    has_se = any(".se." in k for k in state)
    modules = tuple(_module_count(state, f"st{i}.") for i in (2, 3, 4))
    return [
        spec.name for spec in ARCH_TABLE.values()
        if spec.stages[1].channels[0] == width
        and spec.stages[0].out_channels[0] == stage1_out
        and spec.has_se == has_se
        and tuple(s.num_modules for s in spec.stages[1:]) == modules
    ]


def _module_count(state, stage_prefix: str) -> int:
    pattern = re.compile(re.escape(stage_prefix) + r"stage_func_list\.(\d+)\.")
    indices = {int(m.group(1)) for m in map(pattern.match, state) if m}
    return max(indices) + 1 if indices else 0


def _warn_about_classifier(report: LoadReport, model) -> None:
    if report.skipped_shape:
        shapes = ", ".join(f"{k} {list(f)} in the file vs {list(m)}" for k, f, m in report.skipped_shape)
        logger.warning("classifier not loaded, its shape differs (class_num=%s: %s); it keeps "
                       "its random init, so fine-tune before use", model.class_num, shapes)
    if report.missing:
        logger.warning("the weights have no classifier (%s); it keeps its random init",
                       ", ".join(report.missing))
    if report.unexpected:
        logger.info("ignored %d head tensors this model does not have", len(report.unexpected))


def _as_dtype_of(value: np.ndarray, target) -> np.ndarray:
    dtype = np.dtype(str(target.dtype).replace("paddle.", ""))
    return value if value.dtype == dtype else value.astype(dtype)


def _summary_tail(report: LoadReport) -> str:
    parts = [f"{label} {len(keys)}" for label, keys in (
        ("classifier skipped", report.skipped_shape),
        ("missing classifier", report.missing),
        ("ignored", report.unexpected),
    ) if keys]
    return f" ({', '.join(parts)})" if parts else ""
