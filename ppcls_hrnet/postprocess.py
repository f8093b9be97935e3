"""Top-k post-processing and label maps: shared by dygraph infer and every predictor."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import ConfigError


def load_label_map(path: Optional[str]) -> Optional[Dict[int, str]]:
    """PaddleClas's class_id_map_file: lines ``<class id> <label name>``."""
    if not path:
        return None
    if not os.path.isfile(path):
        raise ConfigError(f"class_id_map_file {path} does not exist; fix the path or set it to null")
    labels: Dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            head, _, name = line.partition(" ")
            if not head.isdigit() or not name.strip():
                raise ConfigError(f"{path}:{line_no}: expected `<class id> <label name>`, got {line!r}")
            labels[int(head)] = name.strip()
    return labels


class Topk:
    """Scores -> [{class_ids, scores, label_names}] per row, best first."""

    def __init__(self, topk: int = 5, class_id_map_file: Optional[str] = None,
                 label_list: Optional[Sequence[str]] = None):
        self.topk = int(topk)
        if label_list is not None:
            self.labels = dict(enumerate(label_list))
        else:
            self.labels = load_label_map(class_id_map_file)

    def __call__(self, scores: np.ndarray, file_names: Optional[Sequence[str]] = None) -> List[dict]:
        scores = np.asarray(scores)
        k = min(self.topk, scores.shape[-1])
        results = []
        for row_no, row in enumerate(scores):
            ids = np.argsort(-row, kind="stable")[:k]
            result = {
                "class_ids": [int(i) for i in ids],
                "scores": [round(float(row[i]), 5) for i in ids],
                "label_names": [self.labels.get(int(i), "") for i in ids] if self.labels else [],
            }
            if file_names is not None:
                result["file_name"] = file_names[row_no]
            results.append(result)
        return results
