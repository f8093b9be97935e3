"""Exponential moving average of the weights (``EMA.decay`` in the config)."""
from __future__ import annotations

import paddle


class ModelEMA:
    def __init__(self, model: paddle.nn.Layer, decay: float = 0.9999):
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @paddle.no_grad()
    def update(self, model: paddle.nn.Layer) -> None:
        for k, v in model.state_dict().items():
            if paddle.is_floating_point(v) and not k.endswith(("._mean", "._variance")):
                self.shadow[k] = self.shadow[k] * self.decay + v.detach() * (1.0 - self.decay)
            else:  # BN running statistics are already averages: copy them
                self.shadow[k] = v.detach().clone()

    def state_dict(self):
        return self.shadow

    def set_state_dict(self, state) -> None:
        self.shadow = {k: paddle.to_tensor(v) for k, v in state.items()}
