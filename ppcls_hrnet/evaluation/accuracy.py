"""Top-1 of fp32 and int8 engines over a PaddleClas label list, and how far int8 moves it.

    print(format_report(compare_top1("inference/", "dataset/test_list.txt")))

The engines compared are named by runtime.variants' ``accuracy_name`` column
(paddle, onnxruntime, openvino, onnxruntime-int8, openvino-int8, paddle-bf16,
openvino-bf16). All of them
see the same preprocessed batches: each batch is read once, through the
model's own inference.yml transforms, the way calibration images are
(:mod:`ppcls_hrnet.export.quantize`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from tqdm import tqdm

from ..data.dataset import LabelEntry
from ..errors import ConfigError
from ..export.quantize import QuantizationError, check_positive_int, label_entries, read_image
from ..preprocess.errors import DataError
from ..runtime.backends import create_engine
from ..runtime.contract import DeployConfig, read_deploy_config
from ..runtime.postprocess import topk_indices
from ..runtime.variants import BY_ACCURACY_NAME

logger = logging.getLogger("ppcls_hrnet")


@dataclass
class ListPredictions:
    """One engine's predictions over a label list (the images it could read)."""

    entries: List[LabelEntry]  # the images predicted, in list order
    labels: np.ndarray         # (N,) int64, from the list
    topk: np.ndarray           # (N, k) class ids, best first
    scores: np.ndarray         # (N, k) the model's outputs for those classes
    skipped: List[str]         # one message per unreadable image

    @property
    def top1(self) -> np.ndarray:
        return self.topk[:, 0]

    def accuracy(self, k: int = 1) -> float:
        if not len(self.labels):
            return float("nan")
        return float((self.topk[:, :k] == self.labels[:, None]).any(axis=1).mean())


def predict_list(engines, deploy: DeployConfig, entries_or_list, image_root=None, *,
                 batch_size: int = 64, topk: int = 1, progress: bool = True,
                 desc: str = "predict") -> Union[ListPredictions, Dict[str, ListPredictions]]:
    """Run engine(s) over a label list's images -> ListPredictions.

    engines: one Engine (returns a ListPredictions) or a {name: Engine} mapping
    (returns {name: ListPredictions}); with several, each batch is read and
    preprocessed once and fed to all of them, so they see identical inputs.
    entries_or_list: a label list path (``image_root`` defaults to its folder)
    or LabelEntry objects (``image_root`` required). Images go through
    ``deploy``'s transforms; unreadable ones are skipped with a warning.
    """
    single = not isinstance(engines, Mapping)
    named = {"engine": engines} if single else dict(engines)
    check_positive_int("batch_size", batch_size)
    check_positive_int("topk", topk)
    entries, root = label_entries(entries_or_list, image_root, "evaluation")
    transforms = deploy.build_transforms()
    kept: List[LabelEntry] = []
    skipped: List[str] = []
    top = {name: ([], []) for name in named}
    with tqdm(total=len(entries), desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, len(entries), batch_size):
            images = []
            for entry in entries[start:start + batch_size]:
                try:
                    images.append(read_image(transforms, root, entry))
                    kept.append(entry)
                except DataError as err:
                    skipped.append(str(err))
                    logger.warning("skipping %s", err)
            bar.update(min(batch_size, len(entries) - start))
            if not images:
                continue
            batch = np.stack(images)
            for name, engine in named.items():
                ids, scores = topk_indices(engine.run(batch), topk)
                top[name][0].append(ids)
                top[name][1].append(scores)
    labels = np.array([e.label for e in kept], dtype=np.int64)
    results = {}
    for name, (ids, scores) in top.items():
        k = ids[0].shape[1] if ids else topk
        results[name] = ListPredictions(
            entries=kept, labels=labels,
            topk=np.concatenate(ids) if ids else np.zeros((0, k), np.int64),
            scores=np.concatenate(scores) if scores else np.zeros((0, k), np.float32),
            skipped=skipped)
    return results["engine"] if single else results


# ------------------------------------------------------------- accuracy report

# Accuracy names (runtime.variants.BY_ACCURACY_NAME): Paddle fp32 is the reference.
DEFAULT_BACKENDS = ("paddle", "onnxruntime-int8", "openvino-int8")


@dataclass(frozen=True)
class BackendAccuracy:
    backend: str
    precision: str                 # "fp32", "bf16" or "int8"
    top1: float
    agreement: Optional[float]     # share of images whose top-1 class is the reference's; None: reference
    drop_points: Optional[float]   # (reference top-1 - top-1) * 100; None: reference


@dataclass(frozen=True)
class AccuracyReport:
    reference: str                 # the fp32 backend the others are compared with
    num_images: int
    num_skipped: int
    results: Dict[str, BackendAccuracy]

    def __getitem__(self, backend: str) -> BackendAccuracy:
        return self.results[backend]


def make_engine(backend: str, model_dir, cpu_threads: int = 2):
    """The engine ``compare_top1`` runs for an accuracy name (runtime.variants.BY_ACCURACY_NAME)."""
    options = BY_ACCURACY_NAME[backend].runtime_options(cpu_threads)
    return create_engine(read_deploy_config(model_dir), options)[0]


def compare_top1(model_dir, eval_list, eval_root=None, *, backends: Sequence[str] = DEFAULT_BACKENDS,
                 batch_size: int = 64, cpu_threads: int = 2, progress: bool = True) -> AccuracyReport:
    """Top-1 of an fp32 backend and others (int8, bf16) over a label list, and how far they move it.

    The first fp32 backend in ``backends`` is the reference; every other one
    gets its top-1 agreement with it (same predicted class, right or wrong)
    and its accuracy drop in points. Backends: the accuracy names of runtime.variants.
    """
    backends = list(dict.fromkeys(backends))
    unknown = [b for b in backends if b not in BY_ACCURACY_NAME]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BY_ACCURACY_NAME)}")
    reference = next((b for b in backends if BY_ACCURACY_NAME[b].precision == "fp32"), None)
    if reference is None:
        fp32 = [name for name, v in BY_ACCURACY_NAME.items() if v.precision == "fp32"]
        raise ConfigError(f"compare_top1 needs an fp32 reference backend among {backends} "
                          f"({', '.join(fp32)})")
    deploy = read_deploy_config(model_dir)
    # int8 engines first: a missing int8 model fails before the slow Paddle load
    order = sorted(backends, key=lambda b: BY_ACCURACY_NAME[b].precision != "int8")
    built = {name: make_engine(name, model_dir, cpu_threads) for name in order}
    engines = {name: built[name] for name in backends}
    predictions = predict_list(engines, deploy, eval_list, eval_root, batch_size=batch_size,
                               progress=progress, desc=" vs ".join(backends))
    ref = predictions[reference]
    if not len(ref.labels):
        raise QuantizationError(f"no readable images in {eval_list}")
    results = {}
    for name, pred in predictions.items():
        is_ref = name == reference
        results[name] = BackendAccuracy(
            backend=name, precision=BY_ACCURACY_NAME[name].precision, top1=pred.accuracy(),
            agreement=None if is_ref else float((pred.top1 == ref.top1).mean()),
            drop_points=None if is_ref else (ref.accuracy() - pred.accuracy()) * 100)
    return AccuracyReport(reference, len(ref.labels), len(ref.skipped), results)


def format_report(report: AccuracyReport) -> str:
    rows = [("backend", "precision", "top-1", "agreement", "drop (points)")]
    for r in report.results.values():
        is_ref = r.agreement is None
        rows.append((f"{r.backend} (reference)" if is_ref else r.backend, r.precision,
                     f"{r.top1 * 100:.2f}%", "-" if is_ref else f"{r.agreement * 100:.2f}%",
                     "-" if is_ref else f"{r.drop_points:+.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.append(f"{report.num_images} images" + (f" ({report.num_skipped} unreadable, skipped)"
                                                  if report.num_skipped else ""))
    return "\n".join(lines)
