"""Where OpenVINO spends HRNet's time, per operation type, at fp32, bf16 and int8 (PERF_COUNT).

    python benchmarks/openvino_op_profile.py                       # HRNet_W18_C at 224, batch 1
    python benchmarks/openvino_op_profile.py --model EffHRNet_H2 --image_size 160 --json profile.json

The model gets random weights (time does not depend on them), is exported
(legacy .pdmodel, which OpenVINO reads for fp32/bf16) and quantized by
``ppcls-hrnet quantize`` on synthetic calibration images (the QDQ ONNX file
int8 runs). Each precision is compiled with ``PERF_COUNT`` on, warmed up,
then run ``--runs`` times; ``get_profiling_info()`` gives every executed
node's real time, summed here by OpenVINO's executed node type and by a
coarser group that names HRNet's parts: convolutions, the fuse layers'
adds, their nearest upsampling (reshape + broadcast), int8's
quantize/dequantize, pooling and the classifier. Times are per inference,
medians over runs; the total is compared with the request's wall time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from ppcls_hrnet.evaluation.environment import environment  # noqa: E402
from ppcls_hrnet.evaluation.prepare import export_random_model, quantize_for_speed, write_calibration_images  # noqa: E402
from ppcls_hrnet.runtime.contract import read_deploy_config  # noqa: E402

# OpenVINO's executed node types -> the part of HRNet they are
GROUPS = {
    "Convolution": "convolution", "GroupConvolution": "convolution",
    "Eltwise": "elementwise (fuse-layer adds, activations)", "Subgraph": "elementwise (fuse-layer adds, activations)",
    "Add": "elementwise (fuse-layer adds, activations)", "Multiply": "elementwise (fuse-layer adds, activations)",
    "Relu": "elementwise (fuse-layer adds, activations)", "Interpolate": "upsampling (reshape + broadcast)",
    "Reshape": "upsampling (reshape + broadcast)", "Broadcast": "upsampling (reshape + broadcast)",
    "Tile": "upsampling (reshape + broadcast)", "Concatenation": "upsampling (reshape + broadcast)",
    "FakeQuantize": "int8 quantize / dequantize", "Quantize": "int8 quantize / dequantize",
    "Dequantize": "int8 quantize / dequantize", "Subtract": "int8 quantize / dequantize",  # zero-point shift
    "Convert": "precision conversions",
    "Reorder": "layout reorders", "Pooling": "pooling", "ReduceMean": "pooling",
    "FullyConnected": "classifier (matmul, softmax)", "MatMul": "classifier (matmul, softmax)",
    "SoftMax": "classifier (matmul, softmax)", "Softmax": "classifier (matmul, softmax)",
}


def profile(path: Path, precision: str, shape, threads: int, warmup: int, runs: int):
    import numpy as np
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
        "PERF_COUNT": True})
    request = compiled.create_infer_request()
    batch = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(warmup):
        request.infer({0: batch})
    walls, per_type = [], defaultdict(list)
    for _ in range(runs):
        start = time.perf_counter()
        request.infer({0: batch})
        walls.append((time.perf_counter() - start) * 1000)
        totals = defaultdict(float)
        for node in request.get_profiling_info():
            if node.status == ov.ProfilingInfo.Status.EXECUTED:
                totals[node.node_type] += node.real_time.total_seconds() * 1000
        for node_type, ms in totals.items():
            per_type[node_type].append(ms)
    return statistics.median(walls), {t: statistics.median(v) for t, v in per_type.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="HRNet_W18_C")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--num_calib", type=int, default=32)
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="ppcls_hrnet_op_profile_"))
    model_dir = work / f"{args.model}_{args.image_size}"
    if not (model_dir / "inference.yml").is_file():
        export_random_model(args.model, args.image_size, model_dir, formats=("legacy",))
    deploy = read_deploy_config(model_dir)
    if not deploy.model_file("onnx_int8"):
        calib = write_calibration_images(work / "calib", args.num_calib, size=args.image_size)
        problem = quantize_for_speed(model_dir, calib, args.num_calib, progress=False)
        if problem:
            raise SystemExit(problem)
        deploy = read_deploy_config(model_dir)
    shape = (1, 3, args.image_size, args.image_size)
    files = {"fp32": (deploy.model_file("legacy"), "f32"), "bf16": (deploy.model_file("legacy"), "bf16"),
             "int8": (deploy.model_file("onnx_int8"), "f32")}  # the QDQ file carries int8; floats stay f32
    results = {}
    for name, (path, hint) in files.items():
        results[name] = profile(path, hint, shape, args.threads, args.warmup, args.runs)
        print(f"{name}: {results[name][0]:.2f} ms per inference", flush=True)
    groups = defaultdict(lambda: defaultdict(float))
    for name, (_, types) in results.items():
        for node_type, ms in types.items():
            groups[GROUPS.get(node_type, f"other ({node_type})")][name] += ms
    info = environment()
    print(f"\nCommand: `python benchmarks/openvino_op_profile.py --model {args.model} --image_size {args.image_size} "
          f"--threads {args.threads} --runs {args.runs}`")
    print(f"Machine: {info['cpu']}, {info['logical_cores']} logical cores; openvino {info['openvino']}; "
          f"{info['date']}\n")
    print("| part of the model (OpenVINO node types) | fp32 ms | bf16 ms | int8 ms |")
    print("|---|---:|---:|---:|")
    order = sorted(groups, key=lambda g: -max(groups[g].values()))
    for group in order:
        print(f"| {group} | " + " | ".join(f"{groups[group].get(p, 0.0):.2f}" for p in files) + " |")
    print("| **sum of the nodes** | " + " | ".join(f"{sum(results[p][1].values()):.2f}" for p in files) + " |")
    print("| **wall time of the request** | " + " | ".join(f"{results[p][0]:.2f}" for p in files) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "image_size": args.image_size,
                                               "threads": args.threads, "machine": info,
                                               "wall_ms": {p: results[p][0] for p in files},
                                               "node_types_ms": {p: results[p][1] for p in files}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
