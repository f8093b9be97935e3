"""End-to-end images/s and per-stage times: the C++ binary vs the Python predictor, one run.

    python benchmarks/cpp_vs_python.py                         # HRNet_W18_C, 224, batch 1, 2 threads
    python benchmarks/cpp_vs_python.py --num_images 60 --rounds 5 --json cpp_vs_python.json

Both read the same exported model (random weights: speed does not depend on
them; inference.yml with PaddleClas's ImageNet ops, resize_short 256 + crop
224) and the same generated images, and run the same engine: OpenVINO fp32,
2 threads, batch 1, the model compiled before timing. Each round runs the
C++ binary (`ppcls_hrnet_infer --benchmark --warmup W`, its own per-stage
report) and the Python predictor in this process (ClassificationPredictor,
its StageTimes), alternating which goes first; the first W images of each run
are warm-up and not timed. End-to-end covers everything between the first and
the last timed image, printing the result lines included, but not the start
(process start, model load). The table reports the median over the rounds.

Needs the C++ build (cpp_infer/build.sh, or --cpp_build DIR) and paddle for the
one-off export. docs/benchmarks.md reads the two ratios against the C++ goals.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# ImageNet-like photo sizes (w, h): most ImageNet val images are ~500x375 or 375x500
PHOTO_SIZES = [(500, 375), (375, 500), (500, 333), (333, 500), (640, 480), (500, 500), (400, 300), (800, 600)]


def make_images(folder: Path, count: int, kind: str) -> list:
    """`count` photo-like images: smooth colour structure, mild noise; JPEG q90 or PNG."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        w, h = PHOTO_SIZES[i % len(PHOTO_SIZES)]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = rng.uniform(0, 6, 3)
        scale = rng.uniform(20, 80, 3)
        img = np.stack([128 + 90 * np.sin(x / scale[c] + phase[c]) * np.cos(y / (scale[c] * 1.3) - phase[c])
                        for c in range(3)], -1)
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        path = folder / f"img{i:03d}.{'jpg' if kind == 'jpeg' else 'png'}"
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90] if kind == "jpeg" else [])
        paths.append(str(path))
    return paths


REPORT = re.compile(r"preprocess_time\(ms\): ([\d.]+), inference_time\(ms\): ([\d.]+), "
                    r"postprocess_time\(ms\): ([\d.]+)")


def run_cpp(binary: Path, model_dir: Path, images: list, warmup: int, threads: int, batch_size: int) -> dict:
    done = subprocess.run([str(binary), "--model_dir", str(model_dir), "--infer_imgs", *images, "--benchmark",
                           "--warmup", str(warmup), "--cpu_threads", str(threads), "--batch_size", str(batch_size)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"ppcls_hrnet_infer failed ({done.returncode}):\n{done.stderr[-3000:]}")
    pre, infer, post = map(float, REPORT.search(done.stdout).groups())
    timed = int(re.search(r"data_num: (\d+)", done.stdout)[1])
    wall = float(re.search(r"total time spent\(s\): ([\d.]+)", done.stdout)[1])
    return {"preprocess_ms": pre, "inference_ms": infer, "postprocess_ms": post, "images": timed,
            "images_per_s": timed / wall}


def run_python(predictor, images: list, warmup: int) -> dict:
    from ppcls_hrnet.runtime.predictor import StageTimes
    from ppcls_hrnet.runtime.results import format_result

    sink = io.StringIO()
    for result in predictor.predict(images[:warmup]):
        sink.write(format_result(result) + "\n")
    predictor.times = StageTimes()
    start = time.perf_counter()
    for result in predictor.predict(images[warmup:]):  # what `ppcls-hrnet predict` does per image
        if "error" not in result:
            print(format_result(result), file=sink)
    wall = time.perf_counter() - start
    t = predictor.times
    per_image = lambda seconds: 1000 * seconds / t.images  # noqa: E731
    return {"preprocess_ms": per_image(t.preprocess), "inference_ms": per_image(t.inference),
            "postprocess_ms": per_image(t.postprocess), "images": t.images, "images_per_s": t.images / wall}


def decode_floor_ms(images: list) -> float:
    """cv2.imdecode alone, best of 3 per image: the bulk of both sides' preprocessing (libjpeg-turbo or
    libpng on both; the C++ side decodes only the rows and columns its crop uses, which saves the
    inverse DCT and colour conversion of the rest of a JPEG, not its entropy decoding)."""
    total = 0.0
    for path in images:
        data = np.fromfile(path, np.uint8)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            cv2.imdecode(data, cv2.IMREAD_COLOR)
            best = min(best, time.perf_counter() - start)
        total += best
    return 1000 * total / len(images)


def wait_idle(seconds: float = 0.5) -> None:
    time.sleep(seconds)  # let the other side's threads settle (OpenVINO's, OpenCV's)


def table(cpp: dict, py: dict, ratios: dict) -> str:
    rows = [("preprocess (read, decode, resize, crop, normalize) ms/img", "preprocess_ms"),
            ("inference (OpenVINO fp32) ms/img", "inference_ms"),
            ("postprocess (top-k) ms/img", "postprocess_ms"),
            ("preprocess + postprocess ms/img", "prepost_ms"),
            ("end-to-end images/s", "images_per_s")]
    lines = ["| | C++ `ppcls_hrnet_infer` | Python predictor | C++ / Python (median of the rounds' ratios) |",
             "|---|---:|---:|---:|"]
    for label, key in rows:
        digits = 2 if key == "images_per_s" else 3
        lines.append(f"| {label} | {cpp[key]:.{digits}f} | {py[key]:.{digits}f} | {ratios[key]:.2f}x |")
    return "\n".join(lines)


def median_of(runs: list) -> dict:
    for r in runs:
        r["prepost_ms"] = r["preprocess_ms"] + r["postprocess_ms"]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def paired_ratios(cpp_runs: list, py_runs: list) -> dict:
    """Median over rounds of C++ / Python within a round: the two ran back to back, so a slow
    stretch of a shared machine slows both and cancels out of their ratio."""
    return {k: statistics.median(c[k] / p[k] for c, p in zip(cpp_runs, py_runs)) for k in cpp_runs[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="HRNet_W18_C")
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--resize_short", type=int, default=256)
    p.add_argument("--images", default="jpeg", choices=["jpeg", "png"], help="generated photo-like images")
    p.add_argument("--num_images", type=int, default=30, help="timed images per run")
    p.add_argument("--warmup", type=int, default=5, help="untimed images at the start of each run")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--cpu_threads", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--cpp_build", default=str(ROOT / "cpp_infer" / "build"), help="folder with ppcls_hrnet_infer")
    p.add_argument("--work_dir", default=None, help="where the model and images go (default: a temp folder)")
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    p.add_argument("--export_only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.export_only:  # legacy .pdmodel: what OpenVINO reads
        from ppcls_hrnet.evaluation.prepare import export_random_model

        export_random_model(args.model, args.image_size, Path(args.work_dir) / "model", ("legacy",),
                            resize_short=args.resize_short)
        return 0
    if args.warmup % args.batch_size:
        p.error("--warmup must be a multiple of --batch_size (the C++ binary skips whole batches)")
    binary = Path(args.cpp_build) / "ppcls_hrnet_infer"
    if not binary.is_file():
        p.error(f"{binary} not found: build it with cpp_infer/build.sh")

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="cpp_vs_python_"))
    os.environ["PPCLS_HRNET_HOME"] = str(work / "home")  # the OpenVINO cache both sides use
    # exported in a child process: this one must not load paddle (its bundled libtbb/OpenVINO would be
    # what the Python predictor runs on, which `ppcls-hrnet predict --backend openvino` never does)
    model_dir = work / "model"
    subprocess.run([sys.executable, __file__, "--export_only", "--model", args.model, "--image_size",
                    str(args.image_size), "--resize_short", str(args.resize_short), "--work_dir", str(work)],
                   check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    images = make_images(work / "images", args.warmup + args.num_images, args.images)

    from ppcls_hrnet.evaluation.environment import cpu_name
    from ppcls_hrnet.runtime.options import RuntimeOptions
    from ppcls_hrnet.runtime.predictor import ClassificationPredictor

    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="openvino", cpu_threads=args.cpu_threads),
                                        batch_size=args.batch_size)
    run_cpp(binary, model_dir, images[:args.warmup + 1], 0, args.cpu_threads, 1)  # fills the compile cache
    cpp_runs, py_runs = [], []
    for round_no in range(args.rounds):
        order = ("cpp", "python") if round_no % 2 == 0 else ("python", "cpp")
        for side in order:
            wait_idle()
            if side == "cpp":
                cpp_runs.append(run_cpp(binary, model_dir, images, args.warmup, args.cpu_threads, args.batch_size))
            else:
                py_runs.append(run_python(predictor, images, args.warmup))
        print(f"round {round_no + 1}/{args.rounds}: C++ {cpp_runs[-1]['images_per_s']:.2f} img/s, "
              f"Python {py_runs[-1]['images_per_s']:.2f} img/s", file=sys.stderr)
    cpp, py = median_of(cpp_runs), median_of(py_runs)
    ratios = paired_ratios(cpp_runs, py_runs)
    floor = decode_floor_ms(images[args.warmup:])
    assert "paddle" not in sys.modules  # the Python side ran as the CLI runs it

    import openvino
    sample = cv2.imread(images[0])
    command = "python benchmarks/cpp_vs_python.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: `{command.strip()}`\n")
    print(f"{args.model} at {args.image_size} (resize_short {args.resize_short}), batch {args.batch_size}, "
          f"{args.cpu_threads} threads, OpenVINO {openvino.__version__.split('-')[0]} fp32 on both sides; "
          f"{args.num_images} timed images ({args.images.upper()}, photo-like, {len(PHOTO_SIZES)} ImageNet-like "
          f"sizes from {min(PHOTO_SIZES)[0]}x{min(PHOTO_SIZES)[1]} to 800x600, e.g. {sample.shape[1]}x"
          f"{sample.shape[0]}) after {args.warmup} warm-up images per run; median of {args.rounds} alternated "
          f"rounds (ratios: the median of each round's C++ / Python). {cpu_name()}, {os.cpu_count()} logical cores, Python "
          f"{platform.python_version()}, opencv-python {cv2.__version__}; "
          f"{datetime.datetime.now():%Y-%m-%d %H:%M}.\n")
    print(table(cpp, py, ratios))
    prepost, speed = ratios["prepost_ms"], ratios["images_per_s"]
    print(f"\nC++ / Python:\n"
          f"- preprocess + postprocess: {prepost:.2f}x "
          f"({cpp['prepost_ms']:.3f} vs {py['prepost_ms']:.3f} ms/img)\n"
          f"- end-to-end images/s: {speed:.2f}x "
          f"({cpp['images_per_s']:.2f} vs {py['images_per_s']:.2f} images/s)\n"
          f"- decoding the whole image alone (cv2.imdecode, best of 3, same images): {floor:.3f} ms/img, the bulk "
          f"of both sides' preprocessing; beyond it C++ {cpp['prepost_ms'] - floor:.3f} vs Python "
          f"{py['prepost_ms'] - floor:.3f} ms/img ({(cpp['prepost_ms'] - floor) / (py['prepost_ms'] - floor):.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "cpp": cpp_runs, "python": py_runs,
                                               "cpp_median": cpp, "python_median": py, "ratios": ratios,
                                               "decode_floor_ms": floor},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
