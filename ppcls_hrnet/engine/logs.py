"""Training logs: PaddleClas-style text lines, a JSON-lines metrics file, VisualDL."""
from __future__ import annotations

import datetime
import json
import os
from typing import Dict

from ..errors import ConfigError


def format_metrics(values: Dict[str, float]) -> str:
    return ", ".join(f"{k}: {v:.5f}" for k, v in values.items())


def format_seconds(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(max(0, seconds))))


class MetricsLog:
    """One JSON object per line, appended and flushed as it happens, so a
    crashed run keeps every epoch it finished."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, record: dict) -> None:
        record = {"time": datetime.datetime.now().isoformat(timespec="seconds"), **record}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def open_visualdl(logdir: str):
    try:
        from visualdl import LogWriter
    except ImportError:
        raise ConfigError("Global.use_visualdl is True but VisualDL is not installed: "
                          "pip install visualdl, or set -o Global.use_visualdl=False") from None
    return LogWriter(logdir=logdir)
