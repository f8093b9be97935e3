"""`ppcls-hrnet models`: every registered model with its measured params and GMACs."""
from __future__ import annotations

import argparse

from ..errors import HRNetError
from ..models.registry import list_models
from ..models.zoo_table import format_table, model_rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'HRNet_W18*'")
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--no_cache", action="store_true", help="re-measure instead of reading the cache")


def run(args) -> int:
    names = list_models(args.pattern)
    if not names:
        raise HRNetError(f"no model matches {args.pattern!r}; run `ppcls-hrnet models` for all names")
    rows = model_rows(names, args.image_size, use_cache=not args.no_cache)
    print(format_table(rows, args.image_size))
    return 0
