"""predict-batch on a local Ray vs the in-process CLI, on the same 2,000 images, in one run.

    python benchmarks/batch_speed.py                       # HRNet_W18_C at 224, 2 rounds
    python benchmarks/batch_speed.py --model HRNet_W18_small_v1 --image_size 224 --rounds 3

The images are 1,990 Fashion-MNIST test PNGs (Debian's dataset-fashion-mnist),
5 generated photo-sized JPEGs and 5 bad files. Each round runs, in turn:
``ppcls-hrnet --infer_imgs DIR`` on one image (its start-up) and on all of
them, then ``ppcls-hrnet predict-batch`` (local Ray, 2 workers x 1 thread,
the default on 2 cores). Throughput leaves out each side's start-up: the
in-process CLI's is its one-image run, the batch job's is what its summary
reports (Ray's start and the actors' model load before the first chunk) and
is stated apart. Peak memory is the sum of the resident memory of every
process of the job, polled every 0.2 s: everything in the job's network
namespace, which every run gets (Ray runs only inside a loopback-only one:
tests/netns.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE), str(HERE / "tests")]

from netns import loopback_only, namespace_problem  # noqa: E402  (the tests' helpers, written once)
from test_bad_data import zero_png  # noqa: E402

from ppcls_hrnet.evaluation.environment import environment  # noqa: E402


def make_images(root: Path) -> Path:
    """2000 inputs in one folder: 1990 Fashion-MNIST PNGs, 5 photo JPEGs, 5 bad files."""
    import cv2
    import numpy as np

    from ppcls_hrnet.data import convert_fashion_mnist

    folder = root / "images"
    if folder.is_dir():
        return folder
    convert_fashion_mnist(str(root / "fm"), limit_train=10, limit_test=1990, progress=False)
    folder.mkdir()
    for path in sorted((root / "fm" / "images" / "test").rglob("*.png")):
        os.link(path, folder / f"{path.parent.name}_{path.name}")
    rng = np.random.default_rng(0)
    for i in range(5):
        photo = cv2.GaussianBlur(rng.integers(0, 255, (1536, 2048, 3), np.uint8), (31, 31), 0)
        cv2.imwrite(str(folder / f"photo{i}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    good = next(folder.glob("*.png")).read_bytes()
    (folder / "zz_truncated.png").write_bytes(good[:len(good) // 2])
    (folder / "zz_empty.png").write_bytes(b"")
    (folder / "zz_text.png").write_text("not an image")
    (folder / "zz_huge.png").write_bytes(zero_png(40000, 40000))
    os.symlink("missing.png", folder / "zz_missing.png")
    assert len(list(folder.iterdir())) == 2000
    return folder


def export_model(model: str, size: int, work: Path) -> Path:
    from ppcls_hrnet.evaluation.prepare import export_random_model

    out = work / f"{model}_{size}"
    if not (out / "inference.yml").is_file():
        export_random_model(model, size, out, formats=("legacy",))
    return out


def namespace_memory_mb(namespace_inode: int) -> float:
    """Resident memory of every process in the network namespace ``namespace_inode``."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino != namespace_inode:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def timed(command, env):
    """(wall seconds, stdout, stderr, peak MB of the namespace's processes) of ``command`` in a new namespace."""
    process = subprocess.Popen(loopback_only(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    start = time.perf_counter()
    peak, inode = [0.0], [None]
    ours = os.stat("/proc/self/ns/net").st_ino

    def poll():
        while process.poll() is None:
            try:
                if inode[0] is None:  # unshare execs the command in place, once the namespace is made
                    found = os.stat(f"/proc/{process.pid}/ns/net").st_ino
                    inode[0] = found if found != ours else None
                if inode[0] is not None:
                    peak[0] = max(peak[0], namespace_memory_mb(inode[0]))
            except OSError:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate(timeout=3600)
    wall = time.perf_counter() - start
    watcher.join(5)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(map(str, command))} failed ({process.returncode}):\n{stderr[-3000:]}")
    return wall, stdout, stderr, peak[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="HRNet_W18_C")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work_dir", default=None, help="keep the images and the export here")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    problem = namespace_problem()
    if problem:
        raise SystemExit(f"cannot fence Ray off the network: {problem}")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="ppcls_hrnet_batch_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    folder = make_images(work)
    model = export_model(args.model, args.image_size, work)
    env = {**os.environ, "PYTHONPATH": str(HERE), "RAY_USAGE_STATS_ENABLED": "0",
           "PPCLS_HRNET_HOME": str(work / "home")}
    cli = [sys.executable, "-m", "ppcls_hrnet.cli"]
    one = sorted(folder.glob("*.png"))[0]
    common = ["--inference_model_dir", model, "--backend", "openvino"]
    timed([*cli, *common, "--infer_imgs", one], env)  # OpenVINO's compiled-model cache, page cache
    runs = {"in-process start-up": [], "in-process": [], "predict-batch": [], "Ray start-up": [],
            "predict-batch images/s": [], "in-process MB": [], "predict-batch MB": []}
    for round_no in range(args.rounds):
        runs["in-process start-up"].append(timed([*cli, *common, "--infer_imgs", one], env)[0])
        wall, _, _, mb = timed([*cli, *common, "--infer_imgs", folder, "--batch_size", "8"], env)
        runs["in-process"].append(wall)
        runs["in-process MB"].append(mb)
        out = work / f"table_{round_no}"
        wall, stdout, _, mb = timed([*cli, "predict-batch", *common, "--input", folder, "--output", out,
                                     "--no_progress", "--batch_size", "8"], env)
        match = re.search(r"([\d.]+) images/s on \d+ workers after ([\d.]+) s of start-up", stdout)
        runs["predict-batch images/s"].append(float(match[1]))  # its own clock: Ray's shutdown left out
        startup = float(match[2])
        runs["predict-batch"].append(wall)
        runs["Ray start-up"].append(startup)
        runs["predict-batch MB"].append(mb)
        subprocess.run(["rm", "-rf", str(out)], check=True)
        print(f"round {round_no + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items()),
              flush=True)
    n = 2000
    in_process = [n / (w - s) for w, s in zip(runs["in-process"], runs["in-process start-up"])]
    batch = runs["predict-batch images/s"]
    ratio = statistics.median(b / i for b, i in zip(batch, in_process))
    info = environment()
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\nCommand: `python benchmarks/batch_speed.py --model {args.model} --image_size {args.image_size} "
          f"--rounds {args.rounds}`")
    print(f"Machine: {info['cpu']}, {info['logical_cores']} logical cores; Python {info['python']}, openvino "
          f"{info['openvino']}; {info['date']}\n")
    print("| run (2000 images, OpenVINO fp32, batch 8) | wall s | start-up s | images/s after start-up | "
          "peak memory MB |")
    print("|---|---:|---:|---:|---:|")
    print(f"| `ppcls-hrnet --infer_imgs DIR` (one process, 2 threads) | {median['in-process']:.1f} | "
          f"{median['in-process start-up']:.1f} | {statistics.median(in_process):.1f} | "
          f"{median['in-process MB']:.0f} |")
    print(f"| `ppcls-hrnet predict-batch` (local Ray, 2 workers x 1 thread) | {median['predict-batch']:.1f} | "
          f"{median['Ray start-up']:.1f} | {statistics.median(batch):.1f} | {median['predict-batch MB']:.0f} |")
    print(f"\npredict-batch / in-process images/s after start-up: {ratio:.2f}x (median of {args.rounds} rounds)")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "image_size": args.image_size, "runs": runs,
                                               "ratio": ratio, "machine": info}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
