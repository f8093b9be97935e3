"""Dotted config keys (``DataLoader.Train.sampler.batch_size``, ``a.b.0.c``)."""
from __future__ import annotations

import difflib
from typing import Iterable, List, Sequence, Tuple, Union

Key = Union[str, int]
Path = Tuple[Key, ...]


def dotted(path: Sequence[Key]) -> str:
    return ".".join(str(part) for part in path)


def split_dotted(text: str) -> List[str]:
    """``"a.b.0.c"`` -> ``["a", "b", "0", "c"]``; list indices stay strings until
    the container they index is known to be a list."""
    parts = text.strip().split(".")
    if not all(parts):
        raise ValueError(f"{text!r} is not a dotted key like Global.epochs or a.b.0.c")
    return parts


def close_matches(word: str, choices: Iterable[str]) -> List[str]:
    choices = [str(c) for c in choices]
    same_case = [c for c in choices if c.lower() == str(word).lower()]
    return same_case or difflib.get_close_matches(str(word), choices, n=3, cutoff=0.6)
