"""Export a model from its weights in a child process, for callers that must not import Paddle.

``ppcls-hrnet serve --model_name``: the server's supervisor and workers only
ever read the exported directory.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..base.paddle_import import import_paddle


def export_in_subprocess(model_name: str, pretrained=True, *, use_ssld: bool = False) -> Path:
    """:func:`~ppcls_hrnet.export.from_weights.export_from_weights`, run in a spawned child."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return Path(pool.submit(_export, model_name, pretrained, use_ssld).result())


def _export(model_name: str, pretrained, use_ssld: bool) -> str:
    # runs in the child: only it imports Paddle (quietly first, then through the exporter)
    import_paddle()
    from .from_weights import export_from_weights

    return str(export_from_weights(model_name, pretrained, use_ssld=use_ssld))
