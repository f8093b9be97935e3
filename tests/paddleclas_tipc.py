"""PaddleClas's test_tipc ``*_train_infer_python.txt``, read as its shell scripts read it.

The file is ``key:value`` lines (split at the first ``:``) in sections headed
``=====train_params=====`` etc. A line ``-o KEY:VALUE`` is a setting the chain
passes as ``-o KEY=VALUE``: VALUE may list choices ``a|b`` (the chain loops
over them) or per-mode values ``lite_train_lite_infer=2|whole_train_whole_infer=120``;
``null`` or an empty value means the chain passes nothing there (or, for an
empty one, a value it computes, such as the trained weights). Command lines
(``norm_train:tools/train.py -c ... -o Global.seed=1234 ...``) carry their own
``-o KEY=VALUE`` flags. In infer_params, the lines from ``inference:`` on
configure the deploy predictor (deploy/python/predict_cls.py), not the
training config.
"""
import re
from pathlib import Path
from typing import Dict, List, NamedTuple

TIPC_FILE = Path(__file__).parent / "data" / "paddleclas" / "HRNet_W18_C_train_infer_python.txt"
_HEADER = re.compile(r"=+(\w+)=+")


class Setting(NamedTuple):
    key: str  # dotted config key
    value: str  # as written: may hold `a|b` choices or `mode=value` items


def read_sections(path=TIPC_FILE) -> Dict[str, List[str]]:
    """{section name: its lines}; infer_params is split into `export` and `inference` (from `inference:` on)."""
    sections: Dict[str, List[str]] = {}
    current = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        header = _HEADER.fullmatch(line.strip())
        if header:
            current = header.group(1)
            sections[current] = []
        elif current is not None and line.strip():
            if current == "infer_params" and line.startswith("inference:"):
                current = "inference"
                sections[current] = []
            sections[current].append(line.strip())
    sections["export"] = sections.pop("infer_params")
    return sections


def settings(lines: List[str]) -> List[Setting]:
    """The ``-o KEY:VALUE`` lines."""
    found = []
    for line in lines:
        match = re.fullmatch(r"-o ([\w.]+):(.*)", line)
        if match:
            found.append(Setting(*match.groups()))
    return found


def command_flags(lines: List[str]) -> List[Setting]:
    """``-o KEY=VALUE`` flags inside command lines (``norm_train:tools/train.py ... -o Global.seed=1234``)."""
    found = []
    for line in lines:
        if not line.startswith("-o "):
            found += [Setting(*flag.split("=", 1)) for flag in re.findall(r"-o (\S+=\S+)", line)]
    return found


def choices(value: str) -> List[str]:
    """The values a setting takes: ``a|b`` -> [a, b]; ``mode=2|mode=120`` -> [2, 120]."""
    return [item.split("=")[-1] for item in value.split("|")]


def command(lines: List[str], name: str) -> str:
    """The value of ``name:...`` (e.g. the `inference` script and its -c config)."""
    (line,) = [line for line in lines if line.startswith(name + ":")]
    return line.split(":", 1)[1]
