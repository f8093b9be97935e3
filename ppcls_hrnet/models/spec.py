"""The HRNet family as data: one table row per registered variant.

Every model in the registry is built from an ``HRNetSpec`` by the one
``HRNet`` class; nothing about a variant lives anywhere else. Stage 1 is the
bottleneck stem stage (one branch); stages 2-4 add one lower-resolution branch
each. The classification head (per-branch bottleneck to ``head_channels`` x4,
stride-2 merges, 1x1 to 2048, pool, fc) is shared by the whole family.
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
    # official PaddleClas weight files: "<name>_<tag>.pdparams" for each tag
    weight_tags: Tuple[str, ...] = ()
    published: Published = field(default_factory=Published)

    def __post_init__(self):
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
    return table


ARCH_TABLE: Dict[str, HRNetSpec] = _build_table()
