"""Top-k post-processing and label maps: shared by dygraph infer and every predictor."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError

logger = logging.getLogger("ppcls_hrnet")

# PaddleClas's ppcls/utils/imagenet1k_label_list.txt, shipped with the package
# so ImageNet models print class names without a PaddleClas checkout.
IMAGENET1K_LABEL_FILE = Path(__file__).resolve().parents[1] / "resources" / "imagenet1k_label_list.txt"
IMAGENET1K_CLASSES = 1000


def default_label_list(class_num: int) -> Optional[List[str]]:
    """The names a model gets when no label file is given: ImageNet-1k's for a
    1000-class model (PaddleClas's default), none otherwise."""
    if class_num != IMAGENET1K_CLASSES:
        return None
    mapping = load_label_map(str(IMAGENET1K_LABEL_FILE))
    return [mapping[i] for i in range(IMAGENET1K_CLASSES)]


def resolve_label_file(path: str) -> str:
    """``path``, or the bundled ImageNet-1k list when ``path`` is PaddleClas's
    own list and is absent (its configs point into a PaddleClas checkout:
    ``ppcls/utils/imagenet1k_label_list.txt``)."""
    if not os.path.isfile(path) and os.path.basename(path) == IMAGENET1K_LABEL_FILE.name:
        logger.info("class_id_map_file %s does not exist; using the ImageNet-1k names bundled with "
                    "ppcls_hrnet (%s), which are PaddleClas's", path, IMAGENET1K_LABEL_FILE)
        return str(IMAGENET1K_LABEL_FILE)
    return path


def load_label_map(path: Optional[str]) -> Optional[Dict[int, str]]:
    """PaddleClas's class_id_map_file: lines ``<class id> <label name>``."""
    if not path:
        return None
    path = resolve_label_file(str(path))
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


def topk_indices(scores: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, values) of the k best classes per row, best first; ties go to the
    lower class id, as argmax does. Rows are flattened to one score vector each."""
    scores = np.asarray(scores).reshape(len(scores), -1)
    k = min(k, scores.shape[1])
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(scores, ids, axis=1)


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
        all_ids, all_values = topk_indices(scores, self.topk)
        results = []
        for row_no, (ids, values) in enumerate(zip(all_ids, all_values)):
            result = {
                "class_ids": [int(i) for i in ids],
                "scores": [round(float(v), 5) for v in values],
                "label_names": [self.labels.get(int(i), "") for i in ids] if self.labels else [],
            }
            if file_names is not None:
                result["file_name"] = file_names[row_no]
            results.append(result)
        return results
