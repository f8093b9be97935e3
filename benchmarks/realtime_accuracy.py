"""Fashion-MNIST test top-1 of each real-time model on one common schedule, fp32 and int8.

    python benchmarks/realtime_accuracy.py --data dataset/fashion_mnist \\
        --json docs/results/realtime_accuracy.json

For each model: train from scratch with the 95 % recipe's config
(configs/quick_start/fashion_mnist_95.yaml: same data pipeline, optimiser
and seed), only ``Arch.name``, ``Global.epochs`` and the input size
(``--size``, default 32: the recipe's 64 px would take this run past a
session) changed, on two data-parallel ranks; export the best epoch; quantize it with
``ppcls-hrnet quantize``'s defaults (300 class-balanced calibration images
from the *training* list); and measure top-1 on the 10,000 test images with
OpenVINO fp32 and OpenVINO int8 (the engines of docs/realtime.png).

The schedule is shorter than the recipe's (--epochs, default 3) so that six
models fit in one session; it ranks the models, it is not their best
accuracy. Every model's full metrics log (timestamps included) goes into the
JSON. Results are written after each model, and a model whose log already
holds its last eval is not trained again, so an interrupted run continues
where it stopped (a model stopped mid-training resumes from its ``latest``
checkpoint).

Latency is measured separately, all models in one run (docs/realtime.md);
benchmarks/realtime_plot.py joins the two files.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "quick_start" / "fashion_mnist_95.yaml"
MODELS = ["HRNet_W18_small_v2", "HRNet_W18_small_v1", "EffHRNet_H1", "EffHRNet_H2", "EffHRNet_H3", "EffHRNet_H4"]


def read_log(path: Path) -> list:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def finished(records: list, epochs: int) -> bool:
    return any(r.get("phase") == "eval" and r.get("epoch") == epochs for r in records)


def data_overrides(data: Path) -> list:
    data = data.resolve()
    return [f"DataLoader.Train.dataset.image_root={data}",
            f"DataLoader.Train.dataset.cls_label_path={data / 'train_list.txt'}",
            f"DataLoader.Eval.dataset.image_root={data}",
            f"DataLoader.Eval.dataset.cls_label_path={data / 'test_list.txt'}"]


def size_overrides(size: int) -> list:
    """The recipe's resize / pad / crop chain at ``size`` px (the pad stays 1/8 of the side)."""
    return [f"Global.image_shape=[3,{size},{size}]",
            f"DataLoader.Train.dataset.transform_ops.1.ResizeImage.size={size}",
            f"DataLoader.Train.dataset.transform_ops.2.Pad.padding={size // 8}",
            f"DataLoader.Train.dataset.transform_ops.3.RandomCropImage.size={size}",
            f"DataLoader.Eval.dataset.transform_ops.1.ResizeImage.size={size}",
            f"Infer.transforms.1.ResizeImage.size={size}"]


def run(cmd: list, log: Path, env: dict) -> None:
    with open(log, "a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd[:6])} ... exited {done.returncode}; log {log}:\n{tail}")


def train(model: str, args, out: Path, env: dict) -> list:
    metrics = out / "metrics.jsonl"
    records = read_log(metrics)
    if finished(records, args.epochs):
        print(f"{model}: trained already ({metrics})", file=sys.stderr, flush=True)
        return records
    options = [f"Arch.name={model}", f"Global.epochs={args.epochs}", f"Global.output_dir={out}",
               f"Global.metrics_log={metrics}"] + data_overrides(args.data) + size_overrides(args.size)
    latest = out / model / "latest.pdparams"
    if latest.exists():  # an earlier run stopped mid-training
        options.append(f"Global.checkpoints={latest.with_suffix('')}")
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(args.nproc),
           "--log_dir", str(out / "launch"), str(REPO / "tools" / "train.py"), "-c", str(args.config)]
    cmd += [x for o in options for x in ("-o", o)]
    print(f"{model}: training {args.epochs} epochs on {args.nproc} ranks (log {out / 'launch'})",
          file=sys.stderr, flush=True)
    run(cmd, out / "train.log", env)
    records = read_log(metrics)
    if not finished(records, args.epochs):
        raise SystemExit(f"{model}: training ended without the eval of epoch {args.epochs} in {metrics}")
    return records


def export_and_measure(model: str, args, out: Path, env: dict) -> dict:
    from ppcls_hrnet.evaluation.accuracy import compare_top1
    from ppcls_hrnet.export.quantize import quantize_model

    model_dir = out / "inference"
    if not (model_dir / "inference.yml").exists():
        cmd = [sys.executable, "-m", "ppcls_hrnet.cli", "export", "-c", str(args.config),
               "-o", f"Arch.name={model}", "-o", f"Global.pretrained_model={out / model / 'best_model'}",
               "-o", f"Global.save_inference_dir={model_dir}"]
        cmd += [x for o in size_overrides(args.size) for x in ("-o", o)]
        run(cmd, out / "export.log", env)
    quantize_model(model_dir, args.data / "train_list.txt", args.data, progress=False)
    report = compare_top1(model_dir, args.data / "test_list.txt", args.data,
                          backends=("openvino", "openvino-int8"), cpu_threads=args.nproc, progress=False)
    fp32, int8 = report["openvino"], report["openvino-int8"]
    return {"openvino_fp32_top1": fp32.top1, "openvino_int8_top1": int8.top1,
            "int8_agreement": int8.agreement, "int8_drop_points": int8.drop_points,
            "test_images": report.num_images}


def summary(model: str, records: list, measured: dict) -> dict:
    evals = [r for r in records if r.get("phase") == "eval"]
    times = [time.mktime(time.strptime(r["time"], "%Y-%m-%dT%H:%M:%S")) for r in records]
    return {"model": model, "best_eval_top1": max(r["top1"] for r in evals),
            "eval_top1_by_epoch": [round(r["top1"], 4) for r in evals],
            "minutes_first_to_last_record": round((max(times) - min(times)) / 60, 1),
            **measured, "metrics_log": records}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("dataset/fashion_mnist"),
                   help="Fashion-MNIST folder (ppcls-hrnet data fashion-mnist)")
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--size", type=int, default=32, help="input side in px (a multiple of 32)")
    p.add_argument("--nproc", type=int, default=2, help="data-parallel ranks (one per core)")
    p.add_argument("--config", type=Path, default=RECIPE)
    p.add_argument("--work_dir", type=Path, default=Path("output/realtime_accuracy"))
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    for name in ("train_list.txt", "test_list.txt"):
        if not (args.data / name).exists():
            p.error(f"{args.data / name} not found: run `ppcls-hrnet data fashion-mnist {args.data}` first")
    args.data = args.data.resolve()
    from ppcls_hrnet.evaluation.environment import environment
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = {"command": "python benchmarks/realtime_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "schedule": f"{args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config} "
                          f"with Arch.name=<model> Global.epochs={args.epochs}, {args.size} px, {args.nproc} ranks",
              "epochs": args.epochs, "size": args.size, "environment": environment(),
              "models": []}
    done = {}
    if args.json.exists():  # keep what an interrupted run measured, if it used the same schedule
        earlier = json.loads(args.json.read_text())
        if (earlier.get("epochs"), earlier.get("size")) != (args.epochs, args.size):
            p.error(f"{args.json} holds a {earlier.get('epochs')}-epoch run at {earlier.get('size')} px, "
                    f"not {args.epochs} epochs at {args.size} px: "
                    "choose another --json or remove it")
        done = {m["model"]: m for m in earlier.get("models", [])}
    for model in args.models:
        if model in done:
            result["models"].append(done[model])
            continue
        out = (args.work_dir / model).resolve()
        out.mkdir(parents=True, exist_ok=True)
        records = train(model, args, out, env)
        entry = summary(model, records, export_and_measure(model, args, out, env))
        print(f"{model}: best eval top-1 {entry['best_eval_top1']:.4f}; OpenVINO fp32 "
              f"{entry['openvino_fp32_top1']:.4f}, int8 {entry['openvino_int8_top1']:.4f}", file=sys.stderr, flush=True)
        result["models"].append(entry)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
