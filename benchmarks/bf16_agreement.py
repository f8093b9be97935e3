"""How often bf16 changes a trained model's top-1 answer, against fp32, on the 10,000 Fashion-MNIST test images.

    python benchmarks/bf16_agreement.py                     # trains the quick-start model, then compares
    python benchmarks/bf16_agreement.py --inference_model_dir DIR --eval_list LIST

Without a model it trains the quick-start config (HRNet_W18_small_v1, 32 px,
3,000 Fashion-MNIST training images, 4 epochs: the deploy tests' model) and
exports it; then OpenVINO fp32 (the reference), OpenVINO bf16 and Paddle
Inference bf16 (oneDNN) predict the test images through the model's own
inference.yml, and the report gives each one's top-1 and its agreement with
fp32. bf16 needs a CPU that computes it (AVX512-BF16 or AMX); elsewhere the
engines emulate it or refuse, which the report shows.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE), str(HERE / "tests")]

from conftest import QUICK_START as CONFIG, fashion_overrides  # noqa: E402  (the deploy tests' model, as they train it)

from ppcls_hrnet.evaluation.accuracy import compare_top1, format_report  # noqa: E402
from ppcls_hrnet.evaluation.environment import environment  # noqa: E402


def train_and_export(work: Path) -> tuple:
    data = work / "fashion_mnist"
    cli = [sys.executable, "-m", "ppcls_hrnet.cli"]
    subprocess.run([*cli, "data", "fashion-mnist", str(data), "--limit_train", "3000"], check=True)
    overrides = fashion_overrides(data) + [f"Global.output_dir={work}/out", "Global.epochs=4",
                                           "Global.eval_during_train=False"]
    flags = [item for o in overrides for item in ("-o", o)]
    subprocess.run([*cli, "train", "-c", str(CONFIG), *flags], check=True)
    weights = f"Global.pretrained_model={work}/out/HRNet_W18_small_v1/latest"
    subprocess.run([*cli, "export", "-c", str(CONFIG), *flags, "-o", weights, "-o",
                    f"Global.save_inference_dir={work}/inference", "--legacy"], check=True)
    return work / "inference", data / "test_list.txt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inference_model_dir", default=None)
    parser.add_argument("--eval_list", default=None)
    parser.add_argument("--backends", nargs="+", default=["openvino", "openvino-bf16", "paddle-bf16"])
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args(argv)
    if args.inference_model_dir:
        model_dir, eval_list = Path(args.inference_model_dir), Path(args.eval_list)
    else:
        model_dir, eval_list = train_and_export(Path(args.work_dir or tempfile.mkdtemp(prefix="bf16_agreement_")))
    report = compare_top1(model_dir, eval_list, backends=args.backends)
    info = environment()
    print(f"\nMachine: {info['cpu']}, {info['logical_cores']} logical cores; paddle {info['paddle']}, "
          f"openvino {info['openvino']}; {info['date']}\n")
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
