"""The ``paddleclas`` command: PaddleClas's whl command line, answered by ppcls-hrnet for HRNet.

    paddleclas --model_name=HRNet_W18_C --pretrained=W.pdparams --infer_imgs=photo.jpg
    paddleclas --inference_model_dir=output/inference --infer_imgs=photos/ --batch_size=4

HRNet models (every registered name) and exported model directories go to
``ppcls-hrnet predict``, which takes PaddleClas's whl flags. Any other model
name belongs to PaddleClas: when the real PaddleClas package is importable
the same arguments are handed to its command; otherwise one line says which
models this command serves. Installing PaddleClas after ppcls-hrnet replaces
this script with PaddleClas's own; ``ppcls-hrnet`` always stays ours.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from typing import List, Optional

from ..models.registry import list_models
from .main import main as ppcls_hrnet_main

PADDLECLAS_MODULE = "paddleclas.paddleclas"  # its console script: paddleclas.paddleclas:main


def model_name_of(argv: List[str]) -> Optional[str]:
    """The value of ``--model_name`` (``--model_name X`` or ``--model_name=X``), if any."""
    for position, arg in enumerate(argv):
        if arg == "--model_name" and position + 1 < len(argv):
            return argv[position + 1]
        if arg.startswith("--model_name="):
            return arg.split("=", 1)[1]
    return None


def paddleclas_main():
    """PaddleClas's own command-line entry, or None when PaddleClas is not installed."""
    try:
        if importlib.util.find_spec("paddleclas") is None:
            return None
        return getattr(importlib.import_module(PADDLECLAS_MODULE), "main", None)
    except ImportError:
        return None


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = model_name_of(argv)
    served = list_models()
    if name is None or name in served:
        return ppcls_hrnet_main(["predict", *argv])
    handover = paddleclas_main()
    if handover is not None:
        sys.argv = ["paddleclas", *argv]  # PaddleClas parses sys.argv itself
        result = handover()
        return result if isinstance(result, int) else 0
    close = difflib.get_close_matches(name, served, n=2, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    print(f"error: {name} is not one of the HRNet models this paddleclas command (from ppcls-hrnet) serves{hint}: "
          f"{', '.join(served)}; other models need PaddleClas (pip install paddleclas)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
