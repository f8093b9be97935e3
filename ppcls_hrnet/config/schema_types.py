"""The vocabulary the schema table (``schema.py``) is written in.

Value kinds (``INT``, ``FLOAT``, ``BOOL``, ``STR``, ``NULL``, ``ListOf``) say
what a leaf may hold; nodes say what a part of the tree looks like:

- ``Field``    a leaf: accepted kinds, default, optional choices/bounds/rule
- ``Section``  a mapping with a fixed set of keys (a plain dict in the table)
- ``Variants`` a mapping whose ``name`` picks the key set (lr: Piecewise|Cosine)
- ``OpList``   PaddleClas's ``- OpName: {params}`` lists (transforms, losses)
- ``FREE``     a mapping checked elsewhere (transform op params)
- ``Unsupported``  a key PaddleClas has and we do not implement: an error saying so

Every node's ``check`` returns the value with defaults filled in and records
problems instead of raising, so one run reports everything wrong at once.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .paths import Path, close_matches, dotted


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()

Rule = Callable[[Any], Optional[str]]  # returns a problem description, or None when fine


class Problems:
    """Problems found while checking, in document order, each at a full key path."""

    def __init__(self):
        self.items: List[Tuple[Path, str]] = []

    def __len__(self):
        return len(self.items)

    def add(self, path: Path, message: str) -> None:
        self.items.append((tuple(path), message))

    def unknown(self, path: Path, valid: Iterable[str], what: str = "key", where: str = "here") -> None:
        """An unknown key (or op name) at ``path``, with the nearest valid ones."""
        valid = list(valid)
        parent = tuple(path[:-1])
        close = close_matches(path[-1], valid)
        if close:
            hint = f"Did you mean {', '.join(dotted(parent + (c,)) for c in close)}?"
        else:
            hint = f"Valid {what}s {where}: {', '.join(valid)}."
        self.add(path, f"unknown {what}. {hint}")


# ---------------------------------------------------------------- value kinds

class Mismatch(Exception):
    pass


class Kind:
    """One accepted type of a leaf; ``convert`` returns the value or raises Mismatch."""

    def __init__(self, name: str, convert: Optional[Callable[[Any], Any]] = None):
        self.name = name
        self._convert = convert

    def convert(self, value):
        return self._convert(value)

    def __repr__(self):
        return self.name


def _as_int(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Mismatch


# YAML 1.1 reads `1e-4` as a string; PaddleClas users write it anyway.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _as_float(value):
    if isinstance(value, bool):
        raise Mismatch
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value)
    raise Mismatch


def _exact(type_):
    def convert(value):
        if type(value) is type_:
            return value
        raise Mismatch

    return convert


INT = Kind("int", _as_int)
FLOAT = Kind("float", _as_float)
BOOL = Kind("bool", _exact(bool))
STR = Kind("str", _exact(str))
NULL = Kind("null", _exact(type(None)))


class ListOf(Kind):
    def __init__(self, item: Kind):
        super().__init__(f"list of {item.name}")
        self.item = item

    def convert(self, value):
        if not isinstance(value, list):
            raise Mismatch
        return [self.item.convert(v) for v in value]


# ---------------------------------------------------------------------- nodes

class Node:
    default: Any = REQUIRED
    doc: str = ""

    def check(self, value, path: Path, problems: Problems):
        raise NotImplementedError

    def missing(self, path: Path, problems: Problems):
        """The value of an absent key: its default (checked, so sections fill theirs)."""
        if self.default is REQUIRED:
            problems.add(path, "missing required key")
            return None
        if self.default is None:
            return None
        return self.check(copy.deepcopy(self.default), path, problems)


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


class Field(Node):
    def __init__(self, kinds: Union[Kind, Sequence[Kind]], default: Any = REQUIRED, doc: str = "", *,
                 choices: Union[Sequence, Callable[[], Sequence], None] = None,
                 min: Optional[float] = None, max: Optional[float] = None, rule: Optional[Rule] = None):
        self.kinds = tuple(kinds) if isinstance(kinds, (tuple, list)) else (kinds,)
        self.default = default
        self.doc = doc
        self.choices = choices  # a callable is read at check time (e.g. the model registry)
        self.min, self.max, self.rule = min, max, rule

    @property
    def type_name(self) -> str:
        return " or ".join(k.name for k in self.kinds)

    def check(self, value, path, problems):
        for kind in self.kinds:
            try:
                value = kind.convert(value)
                break
            except Mismatch:
                continue
        else:
            problems.add(path, f"expected {self.type_name}, got {value!r} ({_type_name(value)})")
            return value
        if value is not None:
            problem = self._bounds_problem(value) or (self.rule(value) if self.rule else None)
            if problem:
                problems.add(path, problem)
        return value

    def _bounds_problem(self, value) -> Optional[str]:
        choices = self.choices() if callable(self.choices) else self.choices
        if choices is not None and value not in choices:
            close = close_matches(value, choices) if isinstance(value, str) else []
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            return f"{value!r} is not one of: {', '.join(map(str, choices))}.{hint}"
        numeric = isinstance(value, (int, float))
        if numeric and self.min is not None and value < self.min:
            return f"must be >= {self.min}, got {value!r}"
        if numeric and self.max is not None and value > self.max:
            return f"must be <= {self.max}, got {value!r}"
        return None


def _as_node(spec) -> Node:
    return Section(spec) if isinstance(spec, dict) else spec


class Section(Node):
    """A mapping with a fixed set of keys. Nested plain dicts become Sections.

    optional: an absent (or null) section stays None (e.g. EMA: off) instead of
    being filled with its keys' defaults.
    where: how messages place this section's keys (a variant says "for Cosine").
    """

    def __init__(self, fields: Mapping[str, Any], *, optional: bool = False, rule: Optional[Rule] = None,
                 doc: str = "", where: str = "here"):
        self.fields: Dict[str, Node] = {k: _as_node(v) for k, v in fields.items()}
        # the keys a user may write (offered in messages); Unsupported ones are known only to refuse them
        self.supported = [k for k, node in self.fields.items() if not isinstance(node, Unsupported)]
        self.default = None if optional else {}
        self.rule = rule
        self.doc = doc
        self.where = where

    def check(self, value, path, problems):
        if value is None:
            return None if self.default is None else self.check({}, path, problems)
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping with keys {', '.join(self.supported)}, "
                               f"got {value!r} ({_type_name(value)})")
            return value
        found_before = len(problems)
        out = {}
        for key, node in self.fields.items():
            sub = path + (key,)
            if key in value:
                out[key] = node.check(value[key], sub, problems)
            elif not isinstance(node, Unsupported):
                out[key] = node.missing(sub, problems)
        for key in value:
            if key not in self.fields:
                problems.unknown(path + (key,), self.supported, where=self.where)
        if self.rule and len(problems) == found_before:
            problem = self.rule(out)
            if problem:
                problems.add(path, problem)
        return out


class Variants(Node):
    """A mapping whose ``name`` key selects which key set applies.

    options: variant name -> its keys besides ``name`` (a dict, or a Section
    when the variant needs a rule).
    default_name: the variant used when ``name`` is absent.
    """

    TAG = "name"

    def __init__(self, options: Mapping[str, Any], *, default_name: Optional[str] = None,
                 default: Any = REQUIRED, doc: str = ""):
        self.options = {name: self._with_tag(name, spec) for name, spec in options.items()}
        self.default_name = default_name
        self.default = default
        self.doc = doc

    def check(self, value, path, problems):
        if value is None and self.default is None:
            return None
        if value is None and self.default is not REQUIRED:
            return self.missing(path, problems)
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping with `name: <{'|'.join(self.options)}>`, "
                               f"got {value!r} ({_type_name(value)})")
            return value
        name = value.get(self.TAG, self.default_name)
        if name is None:
            problems.add(path + (self.TAG,), f"missing required key; one of: {', '.join(self.options)}")
            return value
        found_before = len(problems)
        Field(STR, choices=list(self.options)).check(name, path + (self.TAG,), problems)
        if len(problems) > found_before:
            return value
        return self.options[name].check({self.TAG: name, **value}, path, problems)

    def _with_tag(self, name: str, spec) -> Section:
        section = spec if isinstance(spec, Section) else Section(spec)
        return Section({self.TAG: Field(STR, name), **section.fields}, rule=section.rule,
                       where=f"for {self.TAG} {name}")


class FreeMapping(Node):
    """Parameters checked by their consumer (transform ops): any mapping, null -> {}."""

    default = None

    def check(self, value, path, problems):
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping of parameters, got {value!r} ({_type_name(value)})")
        return value


FREE = FreeMapping()


class Unsupported(Node):
    """A key of PaddleClas's that names behaviour ppcls-hrnet does not have
    (another post-processing, a detector): absent is fine; present, with any
    value, it is an error saying what it is and what to do, rather than
    "unknown key" or being ignored (which would silently change results).
    Never suggested as a correction for a typo."""

    default = None

    def __init__(self, why: str):
        self.why = why
        self.doc = why

    def check(self, value, path, problems):
        problems.add(path, self.why)
        return value


class OpList(Node):
    """PaddleClas's op lists: items ``{OpName: params}`` (a bare ``OpName`` is
    read as ``{OpName: {}}``).

    ops: op name -> the node checking its params (a dict of Fields, or FREE).
    """

    def __init__(self, ops: Mapping[str, Any], *, default: Any = REQUIRED, doc: str = ""):
        self.ops: Dict[str, Node] = {name: _as_node(params) for name, params in ops.items()}
        self.default = default
        self.doc = doc

    def check(self, value, path, problems):
        if value is None and self.default is None:
            return None
        if not isinstance(value, list):
            problems.add(path, f"expected a list of `- OpName: {{params}}` items, got {value!r} ({_type_name(value)})")
            return value
        out = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                item = {item: None}
            if not (isinstance(item, dict) and len(item) == 1):
                problems.add(path + (index,), f"expected one `OpName: {{params}}` mapping, got {item!r}")
                out.append(item)
                continue
            (name, params), = item.items()
            op_path = path + (index, name)
            if name not in self.ops:
                problems.unknown(op_path, self.ops, what="op")
                out.append(item)
                continue
            out.append({name: self.ops[name].check(params, op_path, problems)})
        return out
