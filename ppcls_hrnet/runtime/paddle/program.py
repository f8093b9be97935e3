"""What a saved Paddle program holds: its input shape and its operators.

The PIR ``.json`` is read as JSON; the legacy ``.pdmodel`` is parsed with
Paddle's own protobuf class, which imports Paddle: so this module lives with
the Paddle engine.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Tuple

from ..model_files import INPUT_NAME, InferenceModelFiles


def read_input_shape(files: InferenceModelFiles) -> Tuple[Optional[int], ...]:
    """The input's NCHW shape as saved, None for dynamic dimensions."""
    if files.format == "pir":
        (op,) = [op for op in _pir_ops(files.model_file) if op["#"] == "1.data"]
        dims = next(a["AT"]["D"] for a in op["A"] if a["N"] == "shape")
    else:
        feed = next(v for v in legacy_block(files.model_file).vars if v.name == INPUT_NAME)
        dims = feed.type.dense_tensor.tensor.dims
    return tuple(None if d < 0 else int(d) for d in dims)


def list_op_types(files: InferenceModelFiles) -> List[str]:
    """Operator names in program order, e.g. "conv2d", "reshape", "expand"."""
    if files.format == "pir":
        # PIR json names ops "<dialect id>.<name>"; parameters are "p".
        return [op["#"].split(".", 1)[-1] for op in _pir_ops(files.model_file) if op["#"] != "p"]
    return [op.type for op in legacy_block(files.model_file).ops]


def _pir_ops(model_file: Path):
    program = json.loads(model_file.read_text())["program"]
    return program["regions"][0]["blocks"][0]["ops"]


def legacy_block(model_file: Path):
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc()
    program.ParseFromString(model_file.read_bytes())
    return program.blocks[0]
