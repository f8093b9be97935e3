"""Loss terms from the config's ``Loss.Train`` / ``Loss.Eval`` lists."""
from __future__ import annotations

from typing import Dict, List

import paddle
import paddle.nn.functional as F

from ..errors import ConfigError


class CELoss:
    """Cross-entropy, with label smoothing when ``epsilon`` > 0."""

    def __init__(self, epsilon: float = 0.0):
        self.epsilon = float(epsilon or 0.0)

    def __call__(self, logits, labels):
        labels = labels.reshape([-1])
        if not self.epsilon:
            return F.cross_entropy(logits, labels)
        one_hot = F.one_hot(labels, logits.shape[-1])
        soft = F.label_smooth(one_hot, epsilon=self.epsilon)
        return F.cross_entropy(logits, soft, soft_label=True)


_LOSSES = {"CELoss": CELoss}


class CombinedLoss:
    """Weighted sum of the listed terms; returns each term and ``loss``."""

    def __init__(self, entries: List[dict]):
        self.terms = []
        for entry in entries:
            (name, params), = entry.items()
            if name not in _LOSSES:
                raise ConfigError(f"Loss: unknown loss {name!r}; available: {', '.join(_LOSSES)}")
            params = dict(params or {})
            weight = float(params.pop("weight", 1.0))
            self.terms.append((name, weight, _LOSSES[name](**params)))

    def __call__(self, logits, labels) -> Dict[str, paddle.Tensor]:
        out = {name: fn(logits, labels) for name, _, fn in self.terms}
        out["loss"] = paddle.add_n([w * out[name] for name, w, _ in self.terms])
        return out
