"""The model table behind `ppcls-hrnet models`: measured figures beside published ones.

Measuring all 18 models takes about a minute on 2 cores (each is built and
run once at the given size), so results are cached per spec and image size;
the cache key includes the spec itself, so a changed spec is re-measured.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

from .complexity import measure
from .registry import create_model, get_spec


@dataclass(frozen=True)
class ModelRow:
    name: str
    params_m: float
    gmacs: float
    published_params_m: Optional[float]
    published_flops_g: Optional[float]
    top1: Optional[float]
    top1_ssld: Optional[float]
    weights: str  # official weight tags, or "-"
    native_size: int = 224  # the input side the variant is designed for


def _cache_file() -> Path:
    home = os.environ.get("PPCLS_HRNET_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "ppcls_hrnet")
    return Path(home) / "complexity.json"


def _cache_key(name: str, image_size: int) -> str:
    return hashlib.sha256(f"{get_spec(name)!r}|{image_size}".encode()).hexdigest()[:16]


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict) -> None:
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the next run a re-measure


def measured(name: str, image_size: int = 224, cache: Optional[dict] = None):
    """(params, macs) for one model, from the cache when it has them."""
    key = _cache_key(name, image_size)
    if cache is not None and key in cache:
        return tuple(cache[key])
    c = measure(create_model(name), image_size)
    if cache is not None:
        cache[key] = [c.params, c.macs]
    return c.params, c.macs


def model_rows(names: Iterable[str], image_size: int = 224, use_cache: bool = True,
               progress: bool = True) -> List[ModelRow]:
    from tqdm import tqdm

    names = list(names)
    cache = _load_cache() if use_cache else None
    rows = []
    for name in tqdm(names, desc="measuring models", disable=not progress, leave=False):
        params, macs = measured(name, image_size, cache)
        spec = get_spec(name)
        pub = spec.published
        rows.append(ModelRow(
            name=name, params_m=params / 1e6, gmacs=macs / 1e9,
            published_params_m=pub.params_m, published_flops_g=pub.flops_g,
            top1=pub.top1, top1_ssld=pub.top1_ssld,
            weights=",".join(spec.weight_tags) or "-", native_size=spec.native_size,
        ))
    if cache is not None:
        _save_cache(cache)
    return rows


def format_table(rows: List[ModelRow], image_size: int = 224) -> str:
    def opt(v, fmt):
        return "-" if v is None else format(v, fmt)

    def top1(r):
        parts = [format(r.top1, ".3f")] if r.top1 is not None else []
        if r.top1_ssld is not None:
            parts.append(f"ssld {r.top1_ssld:.3f}")
        return " / ".join(parts) or "-"

    header = ("model", "params(M)", f"GMACs@{image_size}", "native size", "pub.params(M)", "pub.FLOPs(G)",
              "top-1 (ImageNet)", "official weights")
    lines = [header] + [
        (r.name, f"{r.params_m:.3f}", f"{r.gmacs:.2f}", str(r.native_size), opt(r.published_params_m, ".2f"),
         opt(r.published_flops_g, ".2f"), top1(r), r.weights)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
