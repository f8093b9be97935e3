"""The one HRNet implementation, driven by an ``HRNetSpec``.

Module and attribute names follow PaddleClas (``conv_layer1_1``, ``layer1``,
``conv_tr1_1``, ``st2.stage_func_list.0.basic_block_list.0.0``,
``fuse_func.residual_func_list.N``, ``last_cls.func_list``,
``cls_head_conv_list``, ``conv_last``, ``fc``) so official weights load as
they are.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .layers import BLOCKS, Bottleneck, ConvBN, global_avg_pool, upsample_nearest
from .spec import FEATURE_STRIDES, HRNetSpec, StageSpec


class FuseLayers(nn.Layer):
    """Exchange information across branches: every output i sums all inputs j.

    j > i: 1x1 conv-BN, then nearest upsampling by 2^(j-i).
    j < i: (i-j) stride-2 3x3 conv-BNs (ReLU on all but the last).
    The convs live in one flat ``residual_func_list`` (PaddleClas's key
    layout); ``self.paths[i]`` says which of them each (i, j) pair uses.
    """

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        self.residual_func_list = nn.LayerList()
        self.paths: List[List[Tuple[int, Tuple[int, ...]]]] = []
        for i, out_ch in enumerate(channels):
            row = []
            for j, in_ch in enumerate(channels):
                if j == i:
                    continue
                if j > i:
                    convs = [ConvBN(in_ch, out_ch, 1, relu=False)]
                else:
                    steps = i - j
                    convs = [ConvBN(in_ch, in_ch, 3, stride=2) for _ in range(steps - 1)]
                    convs.append(ConvBN(in_ch, out_ch, 3, stride=2, relu=False))
                first = len(self.residual_func_list)
                for conv in convs:
                    self.residual_func_list.append(conv)
                row.append((j, tuple(range(first, first + len(convs)))))
            self.paths.append(row)

    def forward(self, xs):
        outs = []
        for i, row in enumerate(self.paths):
            acc = xs[i]
            for j, path in row:
                y = xs[j]
                for k in path:
                    y = self.residual_func_list[k](y)
                if j > i:
                    y = upsample_nearest(y, 2 ** (j - i))
                acc = acc + y
            outs.append(F.relu(acc))
        return outs


class HighResolutionModule(nn.Layer):
    def __init__(self, stage: StageSpec, has_se: bool):
        super().__init__()
        block = BLOCKS[stage.block]
        self.basic_block_list = nn.LayerList([
            nn.Sequential(*[block(ch, ch, has_se) for _ in range(n)])
            for n, ch in zip(stage.num_blocks, stage.channels)
        ])
        self.fuse_func = FuseLayers(stage.out_channels)

    def forward(self, xs):
        return self.fuse_func([blocks(x) for blocks, x in zip(self.basic_block_list, xs)])


class Stage(nn.Layer):
    def __init__(self, stage: StageSpec, has_se: bool):
        super().__init__()
        self.stage_func_list = nn.LayerList(
            [HighResolutionModule(stage, has_se) for _ in range(stage.num_modules)]
        )

    def forward(self, xs):
        for module in self.stage_func_list:
            xs = module(xs)
        return xs


class LastClsOut(nn.Layer):
    """Per-branch bottleneck lifting branch i to head_channels[i] * 4."""

    def __init__(self, in_channels: Sequence[int], head_channels: Sequence[int], has_se: bool):
        super().__init__()
        self.func_list = nn.LayerList(
            [Bottleneck(c, h, has_se) for c, h in zip(in_channels, head_channels)]
        )

    def forward(self, xs):
        return [f(x) for f, x in zip(self.func_list, xs)]


def _stem_stage(spec: HRNetSpec) -> nn.Sequential:
    st = spec.stages[0]
    block = BLOCKS[st.block]
    width = st.channels[0]
    in_chs = [spec.stem_channels] + [width * block.expansion] * (st.num_blocks[0] - 1)
    return nn.Sequential(*[block(c, width, spec.has_se) for c in in_chs])


class HRNet(nn.Layer):
    """HRNet classifier (or, with ``features_only``, a 4-scale backbone).

    forward(x) -> logits [N, class_num] (or pooled ``num_features``-d features when
    class_num == 0); with ``features_only`` it returns the stage-4 feature
    maps, described by ``feature_info`` (channels and strides 4/8/16/32).
    """

    def __init__(self, spec: HRNetSpec, class_num: int = 1000, features_only: bool = False):
        super().__init__()
        self.spec = spec
        self.features_only = features_only
        s1, s2, s3, s4 = spec.stages
        stem = spec.stem_channels
        self.conv_layer1_1 = ConvBN(3, stem, 3, stride=2)
        self.conv_layer1_2 = ConvBN(stem, stem, 3, stride=2)
        self.layer1 = _stem_stage(spec)
        stage1_out = s1.out_channels[0]
        # Transitions: stage 1 -> two new branches; later stages keep the
        # existing branches and grow one more from the lowest resolution.
        self.conv_tr1_1 = ConvBN(stage1_out, s2.channels[0], 3)
        self.conv_tr1_2 = ConvBN(stage1_out, s2.channels[1], 3, stride=2)
        self.st2 = Stage(s2, spec.has_se)
        self.conv_tr2 = ConvBN(s2.out_channels[-1], s3.channels[-1], 3, stride=2)
        self.st3 = Stage(s3, spec.has_se)
        self.conv_tr3 = ConvBN(s3.out_channels[-1], s4.channels[-1], 3, stride=2)
        self.st4 = Stage(s4, spec.has_se)
        self.feature_info = [
            {"channels": c, "stride": s, "name": f"st4.branch{i}"}
            for i, (c, s) in enumerate(zip(s4.out_channels, FEATURE_STRIDES))
        ]
        if features_only:
            self.class_num = None
            return
        head = [h * Bottleneck.expansion for h in spec.head_channels]
        self.last_cls = LastClsOut(s4.out_channels, spec.head_channels, spec.has_se)
        self.cls_head_conv_list = nn.LayerList(
            [ConvBN(head[i], head[i + 1], 3, stride=2) for i in range(3)]
        )
        self.num_features = spec.num_features
        self.conv_last = ConvBN(head[3], self.num_features, 1)
        self.reset_classifier(class_num)

    def reset_classifier(self, class_num: int) -> None:
        """Replace the fc head (class_num=0: no fc, forward gives features)."""
        if self.features_only:
            raise RuntimeError("a features_only model has no classifier")
        if not isinstance(class_num, int) or class_num < 0:
            raise ValueError(f"class_num must be a non-negative int, got {class_num!r}")
        self.class_num = class_num
        self.fc = nn.Linear(self.num_features, class_num) if class_num else None

    def forward_features(self, x) -> List[paddle.Tensor]:
        """The four stage-4 maps: strides 4, 8, 16, 32 (see feature_info)."""
        x = self.layer1(self.conv_layer1_2(self.conv_layer1_1(x)))
        xs = self.st2([self.conv_tr1_1(x), self.conv_tr1_2(x)])
        xs = self.st3(xs + [self.conv_tr2(xs[-1])])
        return self.st4(xs + [self.conv_tr3(xs[-1])])

    def forward_head(self, xs, pre_logits: bool = False):
        ys = self.last_cls(xs)
        y = ys[0]
        for conv, nxt in zip(self.cls_head_conv_list, ys[1:]):
            y = nxt + conv(y)
        y = global_avg_pool(self.conv_last(y))
        if pre_logits or self.fc is None:
            return y
        return self.fc(y)

    def forward(self, x):
        xs = self.forward_features(x)
        if self.features_only:
            return xs
        return self.forward_head(xs)
