"""The HRNet family as data: one table row per registered variant.

Every model in the registry is built from an ``HRNetSpec`` by the one
``HRNet`` class; nothing about a variant lives anywhere else. Stage 1 is the
bottleneck stem stage (one branch); stages 2-4 add one lower-resolution branch
each. The classification head (per-branch bottleneck to ``head_channels`` x4,
stride-2 merges, 1x1 to ``num_features``, pool, fc) is shared by the whole family.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

BASIC = "BASIC"
BOTTLENECK = "BOTTLENECK"
_EXPANSION = {BASIC: 1, BOTTLENECK: 4}


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: ``num_modules`` repeats of a multi-branch module."""

    num_modules: int
    block: str
    num_blocks: Tuple[int, ...]  # blocks per branch
    channels: Tuple[int, ...]  # block width per branch

    def __post_init__(self):
        if self.block not in _EXPANSION:
            raise ValueError(f"block must be one of {sorted(_EXPANSION)}, got {self.block!r}")
        if len(self.num_blocks) != len(self.channels):
            raise ValueError(
                f"num_blocks {self.num_blocks} and channels {self.channels} must have one entry per branch"
            )
        if self.num_modules < 1 or min(self.num_blocks) < 1:
            raise ValueError("a stage needs at least one module and one block per branch")

    @property
    def num_branches(self) -> int:
        return len(self.channels)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(c * _EXPANSION[self.block] for c in self.channels)


@dataclass(frozen=True)
class Published:
    """Figures from the upstream model tables, kept next to the spec."""

    params_m: Optional[float] = None  # trainable params, millions
    flops_g: Optional[float] = None  # as published (see docs: 2xMACs for W30+)
    top1: Optional[float] = None  # ImageNet val top-1
    top1_ssld: Optional[float] = None
    source: str = "PaddleClas"


@dataclass(frozen=True)
class HRNetSpec:
    name: str
    stages: Tuple[StageSpec, StageSpec, StageSpec, StageSpec]
    has_se: bool = False
    stem_channels: int = 64
    head_channels: Tuple[int, int, int, int] = (32, 64, 128, 256)
    num_features: int = 2048  # width of the pooled features the fc reads
    # the input side the variant is designed for (its export/config default);
    # every variant still runs at any multiple of 32
    native_size: int = 224
    # official PaddleClas weight files: "<name>_<tag>.pdparams" for each tag
    weight_tags: Tuple[str, ...] = ()
    published: Published = field(default_factory=Published)

    def __post_init__(self):
        if self.native_size % 32 or self.native_size < 32:
            raise ValueError(f"{self.name}: native_size must be a positive multiple of 32, got {self.native_size}")
        if len(self.stages) != 4:
            raise ValueError(f"{self.name}: HRNet has 4 stages, got {len(self.stages)}")
        for i, st in enumerate(self.stages):
            if st.num_branches != i + 1:
                raise ValueError(f"{self.name}: stage {i + 1} must have {i + 1} branches, got {st.num_branches}")
        for prev, cur in zip(self.stages[1:], self.stages[2:]):
            # transitions only add the new lowest-resolution branch
            if cur.channels[:-1] != prev.out_channels:
                raise ValueError(
                    f"{self.name}: stage widths {cur.channels} must extend the previous stage's {prev.out_channels}"
                )

    @property
    def feature_channels(self) -> Tuple[int, ...]:
        return self.stages[3].out_channels


FEATURE_STRIDES = (4, 8, 16, 32)


def _wide_c(width: int) -> Tuple[StageSpec, ...]:
    """PaddleClas's HRNet_W*_C layout: 4 basic blocks per branch everywhere."""
    w = width
    return (
        StageSpec(1, BOTTLENECK, (4,), (64,)),
        StageSpec(1, BASIC, (4, 4), (w, 2 * w)),
        StageSpec(4, BASIC, (4, 4, 4), (w, 2 * w, 4 * w)),
        StageSpec(3, BASIC, (4, 4, 4, 4), (w, 2 * w, 4 * w, 8 * w)),
    )


# Published params (M) / FLOPs (G) / top-1 from PaddleClas's model list.
_PADDLECLAS_TABLE: Dict[int, Published] = {
    18: Published(21.29, 4.14, 0.769, 0.816),
    30: Published(37.71, 16.23, 0.780),
    32: Published(41.23, 17.86, 0.783),
    40: Published(57.55, 25.41, 0.788),
    44: Published(67.06, 29.79, 0.790),
    48: Published(77.47, 34.58, 0.790, 0.836),
    60: Published(None, None, None),
    64: Published(128.06, 57.83, 0.793),
}
_SSLD = {"HRNet_W18_C", "HRNet_W48_C", "SE_HRNet_W64_C"}


def _weight_tags(name: str, width: int, has_se: bool) -> Tuple[str, ...]:
    # PaddleClas publishes ImageNet weights for every plain width but W60, and
    # SSLD-distilled ones for W18, W48 and SE_W64 (the only SE weights).
    tags = [] if has_se or width == 60 else ["pretrained"]
    if name in _SSLD:
        tags.append("ssld_pretrained")
    return tuple(tags)


def _build_table() -> Dict[str, HRNetSpec]:
    table: Dict[str, HRNetSpec] = {}
    for width, pub in _PADDLECLAS_TABLE.items():
        for has_se in (False, True):
            name = f"{'SE_' if has_se else ''}HRNet_W{width}_C"
            published = pub if not has_se else Published(
                top1_ssld=0.847 if width == 64 else None
            )
            table[name] = HRNetSpec(
                name=name,
                stages=_wide_c(width),
                has_se=has_se,
                weight_tags=_weight_tags(name, width, has_se),
                published=published,
            )
    # Small real-time variants from HRNet-Image-Classification
    # (experiments/cls_hrnet_w18_small_v{1,2}_*.yaml); same head as the rest.
    table["HRNet_W18_small_v1"] = HRNetSpec(
        name="HRNet_W18_small_v1",
        stages=(
            StageSpec(1, BOTTLENECK, (1,), (32,)),
            StageSpec(1, BASIC, (2, 2), (16, 32)),
            StageSpec(1, BASIC, (2, 2, 2), (16, 32, 64)),
            StageSpec(1, BASIC, (2, 2, 2, 2), (16, 32, 64, 128)),
        ),
        published=Published(13.2, 1.49, 0.721, source="HRNet-Image-Classification"),
    )
    table["HRNet_W18_small_v2"] = HRNetSpec(
        name="HRNet_W18_small_v2",
        stages=(
            StageSpec(1, BOTTLENECK, (2,), (64,)),
            StageSpec(1, BASIC, (2, 2), (18, 36)),
            StageSpec(3, BASIC, (2, 2, 2), (18, 36, 72)),
            StageSpec(2, BASIC, (2, 2, 2, 2), (18, 36, 72, 144)),
        ),
        published=Published(15.6, 2.42, 0.751, source="HRNet-Image-Classification"),
    )
    table.update(_efficient_family(table[EFFICIENT_BASELINE]))
    return table


# EfficientHRNet-style compound scaling (docs/models.md, "Real-time family").
# One coefficient phi <= 0 scales the baseline H0 down, all dimensions at once:
#   widths (stem, stage 1, branches, head, features) x WIDTH_STEP**phi
#   blocks per branch and modules per stage       x DEPTH_STEP**phi (>= 1)
#   native input side                              x RESOLUTION_STEP**phi (multiple of 32)
WIDTH_STEP, DEPTH_STEP, RESOLUTION_STEP = 1.25, 1.2, 1.15
# The baseline (phi = 0) is HRNet's own real-time layout, HRNet_W18_small_v2;
# it stays registered under that name, the scaled members are EffHRNet_H<-phi>.
EFFICIENT_BASELINE = "HRNet_W18_small_v2"
EFFICIENT_PHIS = (-1, -2, -3, -4)


def _round_to(value: float, multiple: int, minimum: int) -> int:
    return max(minimum, multiple * int(value / multiple + 0.5))


def scale_spec(base: HRNetSpec, phi: int, name: str) -> HRNetSpec:
    """``base`` scaled by the compound coefficient ``phi`` (rules above)."""
    w, d, r = WIDTH_STEP ** phi, DEPTH_STEP ** phi, RESOLUTION_STEP ** phi

    def width(c, multiple=2):
        return _round_to(c * w, multiple, 8)

    def depth(n):
        return max(1, int(n * d + 0.5))

    high = width(base.stages[1].channels[0])
    stages = [StageSpec(depth(base.stages[0].num_modules), base.stages[0].block,
                        (depth(base.stages[0].num_blocks[0]),), (width(base.stages[0].channels[0], 8),))]
    for i, st in enumerate(base.stages[1:], start=2):
        stages.append(StageSpec(depth(st.num_modules) if i > 2 else st.num_modules, st.block,
                                tuple(depth(n) for n in st.num_blocks),
                                tuple(high * 2 ** b for b in range(i))))
    return HRNetSpec(
        name=name, stages=tuple(stages), has_se=base.has_se,
        stem_channels=width(base.stem_channels, 8),
        head_channels=tuple(width(c, 8) for c in base.head_channels),
        num_features=width(base.num_features, 8),
        native_size=_round_to(base.native_size * r, 32, 32),
        published=Published(source="ppcls-hrnet (EfficientHRNet-style scaling)"),
    )


def _efficient_family(baseline: HRNetSpec) -> Dict[str, HRNetSpec]:
    return {f"EffHRNet_H{-phi}": scale_spec(baseline, phi, f"EffHRNet_H{-phi}") for phi in EFFICIENT_PHIS}


ARCH_TABLE: Dict[str, HRNetSpec] = _build_table()
