"""Evaluation: loss and top-k accuracy over a loader, with a progress bar."""
from __future__ import annotations

import logging
from typing import Dict

import paddle
from tqdm import tqdm

from ..preprocess.errors import DataError
from .builders import build_loader, build_model, require_trained_weights, set_device
from .logs import format_metrics
from .losses import CombinedLoss
from .metrics import TopkAcc, build_topk_acc


@paddle.no_grad()
def evaluate(model, loader, loss_fn: CombinedLoss, metric: TopkAcc, progress: bool = True,
             desc: str = "eval", over_ranks: bool = False) -> Dict[str, float]:
    """over_ranks: each rank of a data-parallel job holds its shard of the eval set
    (build_loader(..., pad_shards=False)) and the sums are added over the ranks,
    so every rank returns the whole set's result. (Evaluating on rank 0 alone
    left the other ranks waiting in a gloo collective, whose fixed ~30 s timeout
    killed the job when an eval took longer.)"""
    was_training = model.training
    model.eval()
    metric.reset()
    loss_sums: Dict[str, float] = {}
    seen = 0
    try:
        for images, labels in tqdm(loader, desc=desc, disable=not progress, leave=False):
            logits = model(images)
            n = int(labels.shape[0])
            for name, value in loss_fn(logits, labels).items():
                loss_sums[name] = loss_sums.get(name, 0.0) + float(value) * n
            metric.update(logits.numpy(), labels.numpy())
            seen += n
    finally:
        model.train(was_training)
    if over_ranks:
        loss_sums, seen = _sum_over_ranks(loss_fn, metric, loss_sums, seen)
    if seen == 0:
        raise DataError("evaluation saw no image: every image was skipped as bad (see the warnings above); "
                        "fix the images or the eval list")
    result = {name: total / max(1, seen) for name, total in loss_sums.items()}
    result.update(metric.result())
    result["samples"] = seen
    return result


def _sum_over_ranks(loss_fn: CombinedLoss, metric: TopkAcc, loss_sums: Dict[str, float], seen: int):
    """All-reduce the loss sums, the metric's hit counts and the image count (the
    metric is replaced by the total); a rank whose images were all skipped still
    takes part."""
    import paddle.distributed as dist

    names = [name for name, _, _ in loss_fn.terms] + ["loss"]
    values = [loss_sums.get(name, 0.0) for name in names] + [metric.correct[k] for k in metric.topk] + [seen]
    total = paddle.to_tensor(values, dtype="float64")
    dist.all_reduce(total)
    total = total.numpy().tolist()
    hits, seen = total[len(names):-1], int(round(total[-1]))
    metric.reset()  # metric.count counted the same images as `seen`
    metric.merge({k: int(round(h)) for k, h in zip(metric.topk, hits)}, seen)
    return dict(zip(names, total)), seen


def run_eval(cfg) -> Dict[str, float]:
    """`ppcls-hrnet eval`: the Eval split with Global.pretrained_model's weights."""
    require_trained_weights(cfg, "eval")
    set_device(cfg)
    model = build_model(cfg)
    loader = build_loader(cfg, "Eval", distributed=False)
    stats = evaluate(model, loader, CombinedLoss(cfg.Loss.Eval), build_topk_acc(cfg, "Eval"))
    logging.getLogger("ppcls_hrnet").info("[Eval][Avg]%s", format_metrics(
        {k: v for k, v in stats.items() if k != "samples"}))
    return stats
