"""One registry and one factory for every HRNet variant in ``ARCH_TABLE``."""
from __future__ import annotations

import difflib
import fnmatch
import inspect
from typing import TYPE_CHECKING, List, Optional

from ..errors import UnknownModelError
from .spec import ARCH_TABLE, HRNetSpec

if TYPE_CHECKING:
    from .hrnet import HRNet


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Registered model names (optionally filtered by a glob like '*W18*')."""
    names = list(ARCH_TABLE)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(close)}?" if close else ""


def get_spec(name: str) -> HRNetSpec:
    try:
        return ARCH_TABLE[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}.{_suggest(name, ARCH_TABLE)} "
            f"Valid names: {', '.join(ARCH_TABLE)}"
        ) from None


def create_model(name: str, class_num: int = 1000, pretrained=False, *,
                 use_ssld: bool = False, features_only: bool = False,
                 cache_dir: Optional[str] = None, **kwargs) -> HRNet:
    """Build a registered HRNet.

    pretrained: False; True (official PaddleClas weights, SSLD with
    ``use_ssld``); or a local ``.pdparams`` path or http(s) URL. Weights whose
    classifier does not fit ``class_num`` load without it (fine-tuning).
    """
    if kwargs:
        valid = [p for p in inspect.signature(create_model).parameters if p not in ("name", "kwargs")]
        bad = next(iter(kwargs))
        raise TypeError(
            f"create_model() got an unknown keyword {bad!r}.{_suggest(bad, valid)} "
            f"Valid keywords: {', '.join(valid)}"
        )
    from .hrnet import HRNet  # Paddle: imported when a model is built, not to list names

    spec = get_spec(name)
    model = HRNet(spec, class_num=class_num, features_only=features_only)
    if pretrained:
        from .pretrained import load_pretrained, resolve_weights

        path = resolve_weights(pretrained, spec, use_ssld=use_ssld, cache_dir=cache_dir)
        load_pretrained(model, path)
    return model
