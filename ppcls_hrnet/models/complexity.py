"""Parameter and multiply-add counts measured on the real models.

MACs are counted with forward hooks on every Conv2D and Linear during one
forward pass: conv = out_elements * (in_channels / groups) * kh * kw,
linear = in_features * out_features per sample. BatchNorm, ReLU, additions,
upsampling and pooling are not counted (together < 1 % for HRNet).
PaddleClas's published "FLOPs" are 2 x MACs for W30 and wider, but W18's
4.14 G is close to its MACs (4.3 G): compare MACs with MACs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn as nn


@dataclass(frozen=True)
class Complexity:
    params: int  # trainable parameters (BN running statistics excluded)
    macs: int  # multiply-adds for one image at the given size

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count_params(model: nn.Layer) -> int:
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def _layer_macs(layer: nn.Layer, output) -> int:
    if isinstance(layer, nn.Conv2D):
        kh, kw = layer.weight.shape[2:]
        per_output = layer.weight.shape[1] * kh * kw  # weight is [out, in/groups, kh, kw]
        return int(np.prod(output.shape)) * per_output
    in_features, out_features = layer.weight.shape  # paddle Linear weight is [in, out]
    return int(np.prod(output.shape[:-1])) * in_features * out_features


def count_macs(model: nn.Layer, image_size: int = 224) -> int:
    total = [0]

    def hook(layer, _inputs, output):
        total[0] += _layer_macs(layer, output)

    handles = [
        layer.register_forward_post_hook(hook)
        for layer in model.sublayers()
        if isinstance(layer, (nn.Conv2D, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, 3, image_size, image_size], dtype="float32"))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]


def measure(model: nn.Layer, image_size: int = 224) -> Complexity:
    return Complexity(params=count_params(model), macs=count_macs(model, image_size))
