"""Batch latency of an exported HRNet on every CPU engine, interleaved in one run.

    python benchmarks/latency.py --model HRNet_W18_C --batch 1 --threads 2 --runs 30

Engines are timed round-robin (one run of each in turn) so a noisy machine
slows them alike; the table gives median ms, images/s and the ratio to
Paddle Inference legacy + oneDNN. Weights do not change speed: the model is
randomly initialised.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def build_engines(model_dir: Path, onnx_file: Path, threads: int):
    from ppcls_hrnet.predictors import OnnxRuntimeEngine, OpenVINOEngine, PaddleInferenceEngine

    return {
        "paddle legacy + oneDNN": PaddleInferenceEngine(model_dir, cpu_threads=threads, model_format="legacy"),
        "paddle PIR + oneDNN": PaddleInferenceEngine(model_dir, cpu_threads=threads, model_format="pir"),
        "paddle PIR, oneDNN off": PaddleInferenceEngine(model_dir, cpu_threads=threads, model_format="pir",
                                                        enable_mkldnn=False),
        "onnxruntime": OnnxRuntimeEngine(onnx_file, cpu_threads=threads),
        "openvino f32 (pdmodel)": OpenVINOEngine(model_dir / "inference.pdmodel", cpu_threads=threads),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="HRNet_W18_C")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, nargs="+", default=[1])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()

    from ppcls_hrnet.export import convert_to_onnx, export_inference_model
    from ppcls_hrnet.models import create_model

    work = Path(tempfile.mkdtemp(prefix="hrnet_bench_"))
    export_inference_model(create_model(args.model), work / "model", (3, args.size, args.size),
                           formats=("pir", "legacy"))
    onnx_file = convert_to_onnx(work / "model", work / "model.onnx")
    engines = build_engines(work / "model", onnx_file, args.threads)
    print(f"{args.model} {args.size}x{args.size}, {args.threads} threads, median of {args.runs} "
          f"interleaved runs after {args.warmup} warm-up runs\n")
    print("| batch | engine | median ms | images/s | x legacy+oneDNN |")
    print("|---|---|---|---|---|")
    for batch in args.batch:
        x = np.random.default_rng(0).standard_normal((batch, 3, args.size, args.size)).astype("float32")
        times = {name: [] for name in engines}
        for i in range(args.warmup + args.runs):
            for name, engine in engines.items():
                t = time.perf_counter()
                engine.run(x)
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - t)
        base = statistics.median(times["paddle legacy + oneDNN"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"| {batch} | {name} | {med * 1000:.1f} | {batch / med:.1f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
