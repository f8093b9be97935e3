"""docs/realtime.png: Fashion-MNIST test top-1 against batch-1 CPU latency, one point per model and precision.

    python benchmarks/realtime_plot.py docs/results/realtime.json docs/realtime.png

The JSON is written by hand from two measured sources, both committed:
``ppcls-hrnet benchmark --json`` (latency, OpenVINO fp32 and int8, batch 1, at
the size the accuracy was measured at) and each model's training metrics log
(final test top-1; int8 top-1 from ``ppcls-hrnet quantize``'s report). Layout:

    {"title": "...", "image_size": 32,
     "models": [{"name": "EffHRNet_H3", "gmacs_224": 0.49,
                 "fp32": {"latency_ms": 1.2, "top1": 0.93},
                 "int8": {"latency_ms": 0.8, "top1": 0.929}}, ...]}

A model without a top-1 yet is left out of the plot (and listed on stderr),
never drawn at a made-up value.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_points(data: dict):
    points, missing = [], []
    for model in data["models"]:
        for precision in ("fp32", "int8"):
            entry = model.get(precision) or {}
            if entry.get("latency_ms") is None or entry.get("top1") is None:
                missing.append(f"{model['name']} {precision}")
                continue
            points.append((model["name"], precision, float(entry["latency_ms"]), float(entry["top1"])))
    return points, missing


def plot(data: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, missing = load_points(data)
    if missing:
        print("not plotted (no measurement yet): " + ", ".join(missing), file=sys.stderr)
    if not points:
        raise SystemExit("nothing to plot: no model has both a latency and a top-1")
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    style = {"fp32": dict(marker="o", color="tab:blue"), "int8": dict(marker="s", color="tab:orange")}
    for precision in ("fp32", "int8"):
        chosen = sorted((p for p in points if p[1] == precision), key=lambda p: p[2])
        if not chosen:
            continue
        ax.plot([p[2] for p in chosen], [100 * p[3] for p in chosen], linestyle=":", alpha=0.6,
                label=f"OpenVINO {precision}", **style[precision])
        for name, _, latency, top1 in chosen:
            ax.annotate(name.replace("HRNet_W18_", "").replace("EffHRNet_", ""), (latency, 100 * top1),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"batch-1 CPU latency, ms (log scale; {data.get('image_size', '?')} px, "
                  f"{data.get('cpu', 'CPU')})")
    ax.set_ylabel("Fashion-MNIST test top-1, %")
    ax.set_title(data.get("title", "Accuracy vs latency"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out} ({len(points)} points)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    plot(json.loads(args.data.read_text()), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
