"""``Config``: a validated config, read as ``cfg.Global.epochs`` or ``cfg["Global"]["epochs"]``."""
from __future__ import annotations

from typing import Any

import yaml

from ..errors import ConfigError
from .paths import close_matches, split_dotted


class Config(dict):
    """A dict whose nested mappings (also those inside lists) are Configs too.

    It is a plain ``dict`` for anything that takes one (``**cfg.Arch``,
    ``json.dumps``); ``to_dict()`` gives plain containers for YAML dumping.
    An attribute always means a key when there is one, also ``lr.values`` (a
    Piecewise key); call such a dict method as ``dict.values(lr)``.
    """

    __slots__ = ()  # no instance attributes: `cfg.Globl = ...` must not pass silently

    def __init__(self, data=()):
        super().__init__((key, _wrap(value)) for key, value in dict(data).items())

    def __getattribute__(self, name: str) -> Any:
        # Piecewise's `values` key would otherwise read as the dict method
        if name in _DICT_ATTRIBUTES and dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return super().__getattribute__(name)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            close = close_matches(name, self.keys())
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise AttributeError(f"config has no key {name!r}.{hint}") from None

    def __setitem__(self, key, value):
        super().__setitem__(key, _wrap(value))

    def get_path(self, key: str) -> Any:
        """The value at a dotted key such as ``"DataLoader.Train.sampler.batch_size"``."""
        node: Any = self
        for part in split_dotted(key):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def require(self, key: str, purpose: str) -> Any:
        """The value at ``key``; a ConfigError naming ``purpose`` when it is absent (None)."""
        try:
            value = self.get_path(key)
        except (KeyError, IndexError, TypeError):
            value = None
        if value is None:
            raise ConfigError(f"{purpose} needs {key} in the config")
        return value

    def to_dict(self) -> dict:
        return _plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _wrap(value):
    if isinstance(value, dict) and not isinstance(value, Config):
        return Config(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
