"""CPU training speed: images/s of the real trainer, one setting against another, same run.

    python benchmarks/train_speed.py --data dataset/fashion_mnist                     # the default table
    python benchmarks/train_speed.py --data DIR --model HRNet_W18_C --size 128 --batch 16 --iters 12
    python benchmarks/train_speed.py --data DIR --settings eager,ddp2 --json train_speed.json

Each setting is one `ppcls-hrnet train` run of the quick-start config (or
`python -m paddle.distributed.launch --nproc_per_node 2 tools/train.py` for
the data-parallel ones) on the first images of the Fashion-MNIST train list,
resized to --size, for --iters iterations of --batch images per rank. The
trainer logs its mean batch cost from the start of the epoch; the benchmark
takes two of those logs (after --skip iterations and at the end) and reports
the steady-state rate between them, so start-up, the first iterations and
to_static's tracing are left out. Settings run in turn, --repeat times
(A B C A B C ...), and the median is reported, so a busy shared machine
slows them alike; compare the ratios, not the absolute numbers, across
machines.

Settings:
  before     one process, dygraph, one CPU thread: Paddle's default, what the
             trainer did before it set the thread count (OMP_NUM_THREADS=1)
  eager      one process, dygraph, 2 CPU threads (OMP_NUM_THREADS=2)
  static     one process, Global.to_static=True
  bf16       one process, AMP bfloat16 autocast (only where the CPU has AVX512-BF16; else skipped)
  ddp2       two data-parallel processes (gloo), dygraph: the 2 cores each run one rank
  ddp2_static  two processes with to_static
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICK_START = REPO / "configs" / "quick_start" / "HRNet_W18_small_v1_fashion_mnist.yaml"
SETTINGS = {  # name: (ranks, -o overrides, environment)
    "before": (1, [], {"OMP_NUM_THREADS": "1"}),
    "eager": (1, [], {"OMP_NUM_THREADS": "2"}),
    "static": (1, ["Global.to_static=True"], {}),
    "bf16": (1, ["AMP.use_amp=True", "AMP.dtype=bfloat16"], {}),
    "ddp2": (2, [], {}),
    "ddp2_static": (2, ["Global.to_static=True"], {}),
}
_ITER_LINE = re.compile(r"\[Iter: (\d+)/(\d+)\].*?batch_cost: ([0-9.]+)s")


def _overrides(data: Path, train_list: Path, model: str, size: int, batch: int, out: Path) -> list:
    return [
        f"Arch.name={model}", f"Global.output_dir={out}", "Global.epochs=1", "Global.eval_during_train=False",
        "Global.print_batch_step=1", "Global.seed=0", f"Global.image_shape=[3,{size},{size}]",
        f"DataLoader.Train.dataset.image_root={data}", f"DataLoader.Train.dataset.cls_label_path={train_list}",
        f"DataLoader.Train.dataset.transform_ops.1.ResizeImage.size={size}",
        f"DataLoader.Train.sampler.batch_size={batch}", "DataLoader.Train.sampler.drop_last=True",
    ]


def steady_rate(log: str, batch: int, ranks: int, skip: int) -> float:
    """images/s between iteration `skip` and the last one, from the trainer's mean batch costs."""
    points = {int(it): float(cost) for it, _, cost in _ITER_LINE.findall(log)}
    if not points:
        raise RuntimeError("no [Train] iteration lines in the trainer's log:\n" + log[-2000:])
    last = max(points)
    if skip not in points or last <= skip:
        raise RuntimeError(f"need iteration {skip} and a later one in the log, got {sorted(points)}")
    seconds = points[last] * last - points[skip] * skip
    return batch * ranks * (last - skip) / seconds


def bf16_supported() -> bool:
    from paddle.base import core

    return bool(core.supports_bfloat16_fast_performance())


def run_setting(name: str, args, work: Path, train_list: Path) -> float:
    ranks, extra, setting_env = SETTINGS[name]
    out = work / f"out_{name}"
    options = _overrides(args.data, train_list, args.model, args.size, args.batch, out) + extra
    flags = ["-c", str(QUICK_START)] + [x for o in options for x in ("-o", o)]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(setting_env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    if ranks == 1:
        cmd = [sys.executable, "-m", "ppcls_hrnet.cli", "train"] + flags
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
        log = done.stdout + done.stderr
    else:
        log_dir = work / f"log_{name}"
        cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(ranks),
               "--log_dir", str(log_dir), str(REPO / "tools" / "train.py")] + flags
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
        log = (log_dir / "workerlog.0").read_text() if (log_dir / "workerlog.0").exists() else done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"{name}: training exited {done.returncode}:\n{log[-3000:]}")
    return steady_rate(log, args.batch, ranks, args.skip)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="Fashion-MNIST folder (ppcls-hrnet data fashion-mnist)")
    p.add_argument("--model", default="EffHRNet_H2")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=64, help="images per rank per iteration")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--skip", type=int, default=5, help="iterations left out as warm-up")
    p.add_argument("--settings", default="before,eager,static,bf16,ddp2,ddp2_static")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    names = [s for s in args.settings.split(",") if s]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        p.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")
    if "bf16" in names and not bf16_supported():
        print("bf16: skipped, this CPU has no AVX512-BF16/AMX (Paddle: supports_bfloat16_fast_performance() "
              "is False)", file=sys.stderr)
        names.remove("bf16")
    lines = (args.data / "train_list.txt").read_text().splitlines()
    needed = args.batch * 2 * args.iters
    if len(lines) < needed:
        p.error(f"{args.data}/train_list.txt has {len(lines)} images, {needed} needed")
    rates = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        work = Path(tmp)
        results = {}
        for repeat in range(args.repeat):
            for name in names:
                ranks = SETTINGS[name][0]
                train_list = work / f"train_{ranks}.txt"
                train_list.write_text("\n".join(lines[:args.batch * ranks * args.iters]) + "\n")
                rates[name].append(run_setting(name, args, work, train_list))
                print(f"[{repeat + 1}/{args.repeat}] {name}: {rates[name][-1]:.1f} img/s", file=sys.stderr, flush=True)
    base = statistics.median(rates[names[0]])
    print(f"\n{args.model}, {args.size}x{args.size}, batch {args.batch} per rank, {os.cpu_count()} CPUs; "
          f"median of {args.repeat}, steady state after {args.skip} iterations\n")
    print(f"| setting | images/s | vs {names[0]} |")
    print("|---|---|---|")
    for name in names:
        rate = statistics.median(rates[name])
        results[name] = {"img_per_s": rate, "runs": rates[name], "ratio": rate / base}
        print(f"| {name} | {rate:.1f} | {rate / base:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "size": args.size, "batch": args.batch,
                                         "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
