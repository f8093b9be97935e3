"""PaddleClas ``-o a.b.0.c=value`` overrides, parsed without eval.

Values are read as YAML scalars/flow collections (``yaml.safe_load``): ``3``,
``0.1``, ``True``, ``null``, ``[1, 2]``, ``{name: Cosine}``; anything else
(including ``1.0/255.0`` or ``__import__('os')``) stays a string, which the
schema then rejects where a number is expected.

Setting a key that is absent creates it (and any missing parent mappings) so
that optional keys like ``Global.seed`` can be set; the schema check that
follows rejects keys it does not know and names the ``-o`` that set them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List

import yaml

from ..errors import ConfigError
from .paths import Key, Path, dotted, split_dotted


@dataclass(frozen=True)
class Override:
    text: str  # as given, for messages
    path: Path  # list indices resolved to ints
    value: Any

    @property
    def key(self) -> str:
        return dotted(self.path)


def parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_overrides(data: Dict[str, Any], overrides: Iterable[str]) -> List[Override]:
    """Apply ``key=value`` strings to ``data`` in place, in order."""
    return [_apply(data, text) for text in overrides]


def _apply(data: Dict[str, Any], text: str) -> Override:
    key, sep, raw = text.partition("=")
    try:
        if not sep:
            raise ValueError("expected key=value, e.g. -o Global.epochs=10")
        parts = split_dotted(key)
        value = parse_value(raw)
        path: List[Key] = []
        node = data
        for part in parts[:-1]:
            node, step = _descend(node, part, path)
            path.append(step)
        path.append(_assign(node, parts[-1], value, path))
    except ValueError as exc:
        raise ConfigError(f"-o {text}: {exc}") from None
    return Override(text, tuple(path), value)


def _descend(node, part: str, path: List[Key]):
    """The child of ``node`` at ``part`` (created as {} in a mapping when absent)."""
    if isinstance(node, list):
        index = _list_index(node, part, path)
        return node[index], index
    if isinstance(node, dict):
        if not isinstance(node.get(part), (dict, list)):
            if part in node and node[part] is not None:
                raise ValueError(f"{dotted(path + [part])} is {node[part]!r}, not a section or list")
            node[part] = {}
        return node[part], part
    raise ValueError(f"{dotted(path)} is {node!r}, not a section or list")


def _assign(node, part: str, value, path: List[Key]) -> Key:
    if isinstance(node, list):
        index = _list_index(node, part, path)
        node[index] = value
        return index
    node[part] = value
    return part


def _list_index(items: list, part: str, path: List[Key]) -> int:
    if not part.isdigit():
        raise ValueError(f"{dotted(path)} is a list: use an index 0..{len(items) - 1}, not {part!r}")
    index = int(part)
    if index >= len(items):
        raise ValueError(f"{dotted(path)} has {len(items)} items, so index {index} does not exist")
    return index
