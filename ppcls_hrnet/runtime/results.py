"""How prediction results are shown and saved (CLI, deploy script, API users)."""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import List

RESULTS_FILE = "predictions.json"
# A file name that is not valid UTF-8 reaches Python with its bad bytes as lone surrogates
# (U+DC80..U+DCFF, os.fsdecode's surrogateescape); UTF-8 cannot encode them
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def format_result(result: dict) -> str:
    """PaddleClas whl's line (its ``paddleclas`` command, 2.5 and later):
    ``filename: a.jpg, top-5, class_ids: [...], scores: [...], label_names: [...]``."""
    return (f"filename: {result['file_name']}, top-{len(result['class_ids'])}, class_ids: {result['class_ids']}, "
            f"scores: {result['scores']}, label_names: {result['label_names']}")


PREDICT_COMPLETE = "Predict complete!"  # PaddleClas's command ends with this line


def format_deploy_result(result: dict) -> str:
    """PaddleClas deploy/python/predict_cls.py's line, as it prints it: the file's
    base name and scores to 2 decimals (predictions.json keeps the full values)."""
    scores = "[" + ", ".join(f"{score:.2f}" for score in result["scores"]) + "]"
    name = os.path.basename(result["file_name"].rstrip("/"))
    return f"{name}:\tclass id(s): {result['class_ids']}, score(s): {scores}, label_name(s): {result['label_names']}"


def results_document(results: List[dict], predictor=None, *, with_model_dir: bool = True) -> dict:
    """What ``predictions.json`` holds. The serving ``/predict`` route answers the same
    without ``model_dir``: a server does not tell its clients where its files are."""
    content = {"results": results}
    if predictor is not None:
        where = {"model_dir": str(predictor.deploy.model_dir)} if with_model_dir else {}
        content = {"model_name": predictor.deploy.model_name, **where, "backend": predictor.backend,
                   "precision": predictor.options.precision, **content}
    return content


def json_text(content, **dump_options) -> str:
    """``json.dumps`` with non-ASCII text kept readable, and lone surrogates -- the bytes of a file
    name that is not UTF-8 -- written as ``\\udcXX`` escapes: valid JSON, and ``os.fsencode``
    of the decoded name gives the name's bytes back."""
    text = json.dumps(content, ensure_ascii=False, **dump_options)
    return _LONE_SURROGATE.sub(lambda match: "\\u%04x" % ord(match.group()), text)


def save_results(results: List[dict], save_dir, predictor=None) -> Path:
    """Write ``save_dir/predictions.json`` (atomically) and return its path."""
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    content = results_document(results, predictor)
    path = save_dir / RESULTS_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{RESULTS_FILE}.", dir=save_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json_text(content, indent=1))
    os.replace(tmp, path)
    return path
