"""benchmarks/realtime_plot.py: the accuracy-vs-latency picture of docs/realtime.md."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "realtime_plot.py"


def latency_rows(model, size, fp32_ms, int8_ms):
    # the layout `ppcls-hrnet benchmark --json` writes (only the keys the plot reads, plus one it ignores)
    return [{"model": model, "image_size": size, "batch": 1, "engine": engine, "median_ms": ms, "times_ms": [ms]}
            for engine, ms in (("openvino-fp32", fp32_ms), ("openvino-int8", int8_ms)) if ms is not None]


def run(tmp_path, accuracy, latency, *extra):
    files = []
    for name, data in (("accuracy.json", accuracy), ("latency.json", latency)):
        files.append(tmp_path / name)
        files[-1].write_text(json.dumps(data))
    out = tmp_path / "realtime.png"
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, files), str(out), *extra],
                          capture_output=True, text=True, timeout=120)
    return done, out


def test_joins_accuracy_and_latency_and_names_what_is_missing(tmp_path):
    pytest.importorskip("matplotlib")
    accuracy = {"epochs": 3, "models": [
        {"model": "EffHRNet_H4", "openvino_fp32_top1": 0.91, "openvino_int8_top1": 0.905},
        {"model": "EffHRNet_H3", "openvino_fp32_top1": 0.92, "openvino_int8_top1": 0.915},
        {"model": "EffHRNet_H2", "openvino_fp32_top1": 0.93, "openvino_int8_top1": 0.925}]}
    latency = {"environment": {"cpu": "Test CPU"}, "models": [], "rows": (
        latency_rows("EffHRNet_H4", 32, 1.0, 0.7) + latency_rows("EffHRNet_H3", 32, 1.5, None)
        # H2 was timed only at 224: a 224 px latency must not be paired with a 32 px accuracy
        + latency_rows("EffHRNet_H2", 224, 20.0, 12.0))}
    done, out = run(tmp_path, accuracy, latency)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "(3 points)" in done.stdout
    assert ("not plotted (no measurement yet): EffHRNet_H3 int8, EffHRNet_H2 fp32, EffHRNet_H2 int8"
            in done.stderr)
    # the same files at 224 px: only H2 has latencies there
    done, _ = run(tmp_path, accuracy, latency, "--image_size", "224")
    assert done.returncode == 0 and "(2 points)" in done.stdout
    # an accuracy file measured at 224 px picks the 224 px latencies by itself
    done, _ = run(tmp_path, dict(accuracy, size=224), latency)
    assert done.returncode == 0 and "(2 points)" in done.stdout


def test_nothing_measured_is_an_error_not_an_empty_picture(tmp_path):
    pytest.importorskip("matplotlib")
    done, out = run(tmp_path, {"models": [{"model": "EffHRNet_H4", "openvino_fp32_top1": 0.9}]},
                    {"rows": latency_rows("EffHRNet_H3", 32, 1.0, 0.8)})
    assert done.returncode != 0 and "nothing to plot" in done.stderr and not out.exists()
