"""How often bf16 changes a model's top-1 class against fp32, recorded in its inference.yml.

    check = check_bf16("inference/", "dataset/val_list.txt")
    check.record   # {"top1_agreement": 0.9972, "images": 10000, "reference": "openvino fp32", ...}

``precision="auto"`` reads the record (:mod:`ppcls_hrnet.runtime.precision`):
a model whose bf16 engines keep the fp32 top-1 class on fewer than
``runtime.precision.BF16_MIN_AGREEMENT`` of the images runs fp32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..runtime.contract import record_precision_check
from ..runtime.precision import clears_bf16_bar
from .accuracy import AccuracyReport, compare_top1

# fp32 reference first, then each engine auto may run bf16 on (runtime.variants' accuracy names)
BF16_ENGINES = ("openvino", "openvino-bf16", "paddle-bf16")


@dataclass(frozen=True)
class PrecisionCheck:
    report: AccuracyReport
    record: dict  # what inference.yml's PrecisionCheck.bf16 holds

    @property
    def allows_bf16(self) -> bool:
        return clears_bf16_bar(self.record["top1_agreement"])


def check_bf16(model_dir, eval_list, eval_root=None, *, engines: Sequence[str] = BF16_ENGINES,
               cpu_threads: int = 2, record: bool = True, progress: bool = True) -> PrecisionCheck:
    """Compare the bf16 engines with the fp32 reference over a label list; the lowest agreement
    is the model's (auto may run either engine). ``record``: write it to inference.yml."""
    report = compare_top1(model_dir, eval_list, eval_root, backends=engines, cpu_threads=cpu_threads,
                          progress=progress)
    compared = [r for r in report.results.values() if r.agreement is not None]
    worst = min(compared, key=lambda r: r.agreement)
    check = {"top1_agreement": round(worst.agreement, 6), "images": report.num_images,
             "reference": f"{report.reference} fp32", "engine": worst.backend,
             "top1_drop_points": round(worst.drop_points, 4)}
    if record:
        record_precision_check(model_dir, "bf16", check)
    return PrecisionCheck(report, check)
