"""``load_config``: file (+ ``_BASE_``) -> ``-o`` overrides -> schema check -> Config."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from ..errors import ConfigError
from .config import Config
from .files import PathLike, detached, read_config_file
from .overrides import Override, apply_overrides
from .paths import dotted
from .schema import TRAIN_SCHEMA
from .schema_types import Node, Problems


def load_config(path: PathLike, overrides: Iterable[str] = (), *, schema: Node = TRAIN_SCHEMA) -> Config:
    """Read, override and validate a config; missing optional keys get their defaults.

    overrides: ``"a.b.0.c=value"`` strings, as given to ``-o`` (applied in order).
    Raises ConfigError listing every problem found.
    """
    data = read_config_file(path)
    applied = apply_overrides(data, overrides)
    return validate_config(data, schema=schema, source=str(path), overrides=applied)


def validate_config(data: Mapping[str, Any], *, schema: Node = TRAIN_SCHEMA, source: str = "config",
                    overrides: Sequence[Override] = ()) -> Config:
    """Check a config mapping built in code (or already loaded) and fill defaults."""
    problems = Problems()
    checked = schema.check(detached(dict(data)), (), problems)
    if problems:
        raise ConfigError(_report(problems, source, overrides))
    return Config(checked)


def _report(problems: Problems, source: str, overrides: Sequence[Override]) -> str:
    lines = []
    for path, message in problems.items:
        key = dotted(path)
        line = f"{key}: {message}" if key else message
        origin = _override_of(key, overrides)
        lines.append(f"{line} (set by -o {origin.text})" if origin else line)
    if len(lines) == 1:
        return f"{source}: {lines[0]}"
    return f"{source}: {len(lines)} problems:\n  " + "\n  ".join(lines)


def _override_of(key: str, overrides: Sequence[Override]):
    """The last override that set ``key``, a key inside it, or a key it sits in."""
    for override in reversed(overrides):
        ok = override.key
        if key == ok or (key and ok.startswith(key + ".")) or key.startswith(ok + "."):
            return override
    return None
