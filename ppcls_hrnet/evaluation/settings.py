"""What `ppcls-hrnet benchmark` measures: models, input sizes, batch sizes, engines, run counts."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from ..errors import ConfigError
from ..export.exporter import SIZE_MULTIPLE
from ..models import get_spec
from ..runtime.variants import TIMED

DEFAULT_MODEL, DEFAULT_IMAGE_SIZE = "HRNet_W18_C", 224


def select_engines(patterns: Sequence[str]) -> Tuple[str, ...]:
    """Engine keys matching any of the glob ``patterns`` ("openvino-*"), in table order; an
    opt-in engine only by its exact key."""
    def matches(variant, pattern):
        return variant.key == pattern if variant.opt_in else fnmatch.fnmatchcase(variant.key, pattern)

    unmatched = [p for p in patterns if not any(matches(v, p) for v in TIMED.values())]
    if unmatched:
        raise ConfigError(f"--engines {' '.join(unmatched)} matches no engine; choose from: " + ", ".join(TIMED))
    return tuple(v.key for v in TIMED.values() if any(matches(v, p) for p in patterns))


@dataclass(frozen=True)
class BenchmarkSettings:
    models: Tuple[str, ...] = (DEFAULT_MODEL,)
    image_sizes: Tuple[int, ...] = (DEFAULT_IMAGE_SIZE,)
    batch_sizes: Tuple[int, ...] = (1, 4, 8)
    engines: Tuple[str, ...] = tuple(TIMED)  # keys of runtime.variants.TIMED
    cpu_threads: int = 2
    warmup: int = 5
    runs: int = 30
    settle_ms: float = 500  # longest wait for the process to go idle before a run; 0: no wait
    num_calib: int = 32  # synthetic images that set the int8 scales
    work_dir: Optional[str] = None  # keep the exported models here (default: a temporary directory)

    @property
    def needs_int8(self) -> bool:
        return any(TIMED[k].precision == "int8" for k in self.engines)

    def check(self) -> None:
        if not self.models or not self.image_sizes:
            raise ConfigError("give at least one model and one image size")
        for name in self.models:
            get_spec(name)  # UnknownModelError with a suggestion
        bad_sizes = [s for s in self.image_sizes if s <= 0 or s % SIZE_MULTIPLE]
        if bad_sizes:
            raise ConfigError(f"image sizes must be positive multiples of {SIZE_MULTIPLE}, got {bad_sizes}")
        unknown = [k for k in self.engines if k not in TIMED]
        if unknown or not self.engines:
            raise ConfigError(f"engines must be a non-empty subset of {', '.join(TIMED)}, got {unknown}")
        for name, value, least in (("batch size", min(self.batch_sizes, default=0), 1), ("runs", self.runs, 1),
                                   ("warmup", self.warmup, 0), ("cpu_threads", self.cpu_threads, 1),
                                   ("num_calib", self.num_calib, 1), ("settle_ms", self.settle_ms, 0)):
            if value < least:
                raise ConfigError(f"{name} must be >= {least}, got {value}")
