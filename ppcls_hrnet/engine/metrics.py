"""Top-k accuracy accumulated over batches (and over ranks when distributed)."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


class TopkAcc:
    def __init__(self, topk: Sequence[int] = (1, 5), class_num: int = None):
        # top-5 of a 3-class problem is meaningless; PaddleClas would crash on it
        self.topk = [k for k in topk if class_num is None or k <= class_num]
        self.reset()

    def reset(self) -> None:
        self.correct = {k: 0 for k in self.topk}
        self.count = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
        """Add a batch; returns this batch's accuracies."""
        labels = np.asarray(labels).reshape(-1)
        order = np.argsort(-np.asarray(logits), axis=1)
        batch = {}
        for k in self.topk:
            hits = int((order[:, :k] == labels[:, None]).any(axis=1).sum())
            self.correct[k] += hits
            batch[f"top{k}"] = hits / max(1, len(labels))
        self.count += len(labels)
        return batch

    def merge(self, other_correct: Dict[int, int], other_count: int) -> None:
        for k in self.topk:
            self.correct[k] += other_correct[k]
        self.count += other_count

    def result(self) -> Dict[str, float]:
        return {f"top{k}": self.correct[k] / max(1, self.count) for k in self.topk}


def build_topk_acc(cfg, split: str) -> TopkAcc:
    """The Metric.<split> TopkAcc (the only metric PaddleClas's HRNet configs use)."""
    entries = cfg.Metric[split] or [{"TopkAcc": {"topk": [1, 5]}}]
    return TopkAcc(entries[0]["TopkAcc"]["topk"], class_num=cfg.Arch.class_num)
