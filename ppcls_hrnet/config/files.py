"""Reading config files: safe YAML and ``_BASE_`` inheritance.

A file may name base files (one path or a list, relative to itself) under
``_BASE_``; bases are merged first, in order, then the file on top. Mappings
merge key by key; lists and scalars are replaced whole.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple, Union

import yaml

from ..errors import ConfigError

BASE_KEY = "_BASE_"
PathLike = Union[str, Path]


def read_config_file(path: PathLike) -> Dict[str, Any]:
    """The file's mapping with its ``_BASE_`` chain merged in (not yet validated)."""
    return _read_with_bases(Path(path), chain=())


def deep_merge(base: Dict[str, Any], top: Dict[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_with_bases(path: Path, chain: Tuple[Path, ...]) -> Dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in chain + (resolved,))
        raise ConfigError(f"{BASE_KEY} files include each other: {cycle}")
    data = _read_yaml_mapping(path, included_by=chain[-1] if chain else None)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
        raise ConfigError(f"{path}: {BASE_KEY} must be a file path or a list of them, got {bases!r}")
    merged: Dict[str, Any] = {}
    for base in bases:
        merged = deep_merge(merged, _read_with_bases(path.parent / base, chain + (resolved,)))
    return deep_merge(merged, data)


def _read_yaml_mapping(path: Path, included_by: Path = None) -> Dict[str, Any]:
    where = f" (the {BASE_KEY} of {included_by})" if included_by else ""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}{where}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}{where} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}{where}: expected a mapping of sections (Global, Arch, ...), "
                          f"got {type(data).__name__}")
    return detached(data)


def detached(value):
    """A copy sharing nothing: YAML anchors/aliases (``&x`` / ``*x``) load as one
    shared object, and an override of one use must not change the others."""
    if isinstance(value, dict):
        return {k: detached(v) for k, v in value.items()}
    if isinstance(value, list):
        return [detached(v) for v in value]
    return value
