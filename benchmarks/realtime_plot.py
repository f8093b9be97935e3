"""docs/realtime.png: Fashion-MNIST test top-1 against batch-1 CPU latency, one point per model and precision.

    python benchmarks/realtime_plot.py docs/results/realtime_accuracy.json \
        docs/results/realtime_latency.json docs/realtime.png

It joins two measured files, both committed: the accuracy file of
benchmarks/realtime_accuracy.py (OpenVINO fp32 and int8 top-1 on the 10,000
test images, per model) and the latency file of ``ppcls-hrnet benchmark
--json`` (engines openvino-fp32 and openvino-int8, batch 1). Latency is taken
at the size the accuracy was measured at (the accuracy file's ``size``;
--image_size overrides it). A model or precision missing from either file is left out of
the plot and listed on stderr, never drawn at a made-up value.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


ENGINES = {"fp32": ("openvino-fp32", "openvino_fp32_top1"), "int8": ("openvino-int8", "openvino_int8_top1")}


def join(accuracy: dict, latency: dict, image_size: int) -> dict:
    """The plot's data: per model, latency (median ms) and top-1 for fp32 and int8."""
    medians = {(r["model"], r["engine"]): r["median_ms"] for r in latency.get("rows", [])
               if r.get("image_size") == image_size and r.get("batch") == 1}
    gmacs = {m["model"]: m.get("gmacs") for m in latency.get("models", []) if m.get("image_size") == image_size}
    models = []
    for entry in accuracy.get("models", []):
        name = entry["model"]
        models.append({"name": name, "gmacs": gmacs.get(name), **{
            precision: {"latency_ms": medians.get((name, engine)), "top1": entry.get(key)}
            for precision, (engine, key) in ENGINES.items()}})
    cpu = (latency.get("environment") or {}).get("cpu", "CPU")
    epochs = accuracy.get("epochs")
    schedule = f", {epochs} epochs" if epochs else ""
    return {"title": f"Fashion-MNIST test top-1 ({image_size} px{schedule}) vs batch-1 latency",
            "image_size": image_size, "cpu": cpu, "models": models}


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


def pareto_front(points):
    """The points no faster point beats on top-1, by rising latency."""
    front = []
    for point in sorted(points, key=lambda p: (p[2], -p[3])):
        if not front or point[3] > front[-1][3]:
            front.append(point)
    return front


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
        ax.scatter([p[2] for p in chosen], [100 * p[3] for p in chosen], alpha=0.8,
                   label=f"OpenVINO {precision}", **style[precision])
        front = pareto_front(chosen)  # the pick for a latency budget: nothing faster is as accurate
        ax.plot([p[2] for p in front], [100 * p[3] for p in front], linestyle="--", alpha=0.5,
                color=style[precision]["color"], label=f"best top-1 within a budget ({precision})")
        for name, _, latency, top1 in chosen:
            ax.annotate(name.replace("HRNet_W18_", "").replace("EffHRNet_", ""), (latency, 100 * top1),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"batch-1 CPU latency, ms (log scale; {data.get('image_size', '?')} px, "
                  f"{data.get('cpu', 'CPU')})")
    ax.set_ylabel("Fashion-MNIST test top-1, %")
    ax.set_title(data.get("title", "Accuracy vs latency"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out} ({len(points)} points)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("accuracy", type=Path, help="benchmarks/realtime_accuracy.py's JSON")
    p.add_argument("latency", type=Path, help="ppcls-hrnet benchmark --json output")
    p.add_argument("out", type=Path)
    p.add_argument("--image_size", type=int, default=None,
                   help="latency rows at this size (default: the accuracy file's size, else 32)")
    args = p.parse_args(argv)
    accuracy = json.loads(args.accuracy.read_text())
    image_size = args.image_size or accuracy.get("size") or 32
    data = join(accuracy, json.loads(args.latency.read_text()), image_size)
    plot(data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
