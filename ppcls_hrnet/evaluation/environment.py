"""The machine and runtime versions a measurement was taken on, for the reports' headers.

Imports no runtime: a runtime's version is read only if it is installed, by importing it when asked.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
from pathlib import Path
from typing import Dict, Optional


def environment() -> Dict[str, Optional[str]]:
    def version(module: str) -> Optional[str]:
        try:
            return __import__(module).__version__
        except (ImportError, AttributeError):
            return None

    return {
        "cpu": cpu_name(), "logical_cores": str(os.cpu_count()), "python": platform.python_version(),
        "paddle": version("paddle"), "onnxruntime": version("onnxruntime"), "openvino": version("openvino"),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
