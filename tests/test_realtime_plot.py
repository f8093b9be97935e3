"""benchmarks/realtime_plot.py: the accuracy-vs-latency picture of docs/realtime.md."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "realtime_plot.py"


def run(tmp_path, data):
    source = tmp_path / "realtime.json"
    source.write_text(json.dumps(data))
    out = tmp_path / "realtime.png"
    done = subprocess.run([sys.executable, str(SCRIPT), str(source), str(out)], capture_output=True, text=True,
                          timeout=120)
    return done, out


def test_plots_measured_points_and_names_the_missing_ones(tmp_path):
    pytest.importorskip("matplotlib")
    data = {"title": "t", "image_size": 32, "models": [
        {"name": "EffHRNet_H4", "fp32": {"latency_ms": 1.0, "top1": 0.91}, "int8": {"latency_ms": 0.7, "top1": 0.905}},
        {"name": "EffHRNet_H3", "fp32": {"latency_ms": 1.5, "top1": 0.92}, "int8": {"latency_ms": 1.0, "top1": None}},
    ]}
    done, out = run(tmp_path, data)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "wrote" in done.stdout and "(3 points)" in done.stdout
    assert "not plotted (no measurement yet): EffHRNet_H3 int8" in done.stderr


def test_nothing_measured_is_an_error_not_an_empty_picture(tmp_path):
    pytest.importorskip("matplotlib")
    done, out = run(tmp_path, {"models": [{"name": "EffHRNet_H4", "fp32": {"latency_ms": 1.0}}]})
    assert done.returncode != 0 and "nothing to plot" in done.stderr and not out.exists()
