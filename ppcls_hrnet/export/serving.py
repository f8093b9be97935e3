"""Paddle Serving's model configs for an exported model: ``serving_server_conf.prototxt``
and ``serving_client_conf.prototxt``.

Paddle Serving's own converter (``python -m paddle_serving_client.convert``)
needs ``paddle.fluid``, which Paddle 2.6 and 3.x no longer have, so the files
are written here, in protobuf text format, from two sources:

- ``inference.yml`` (the deploy contract): the input's shape, the class count;
- the legacy program ``inference.pdmodel``: the real names and dtypes of the
  feed and fetch variables (e.g. ``x`` and ``softmax_0.tmp_0``), which the
  serving predictor binds to; their shapes must agree with inference.yml.

Both files go into the model directory itself, beside ``inference.pdmodel`` and
``inference.pdiparams``: Paddle Serving's local predictor opens ``*.pdmodel``
+ ``*.pdiparams`` + ``serving_server_conf.prototxt`` in the directory its
``model_config`` names, so the export directory is the serving model directory.
They are recorded in inference.yml (``files.serving_server_conf``,
``files.serving_client_conf``).

Aliases follow PaddleClas's serving models: the input keeps its name (Paddle
Serving's local predictor looks inputs up by their real name), the output's
alias is ``prediction`` (the ``fetch_list`` of PaddleClas's config.yml).

Usable on any export: ``python -m ppcls_hrnet.export.serving MODEL_DIR``
(or ``ppcls-hrnet export -c CONFIG --serving`` at export time).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..base.process import run_guarded
from ..errors import HRNetError
from ..runtime.contract import read_deploy_config, register_model_files
from ..runtime.paddle.program import legacy_block

SERVER_CONF = "serving_server_conf.prototxt"
CLIENT_CONF = "serving_client_conf.prototxt"
FILE_KEYS = {"serving_server_conf": SERVER_CONF, "serving_client_conf": CLIENT_CONF}
FETCH_ALIAS = "prediction"

# Paddle Serving's feed_type / fetch_type codes (general_model_config.proto)
SERVING_TYPES = {"int64": 0, "float32": 1, "int32": 2, "float64": 3, "int16": 4, "float16": 5,
                 "uint16": 6, "uint8": 7, "int8": 8, "bool": 9}
# Paddle's VarType.Type codes (framework.proto) of the dtypes above
_PADDLE_DTYPES = {0: "bool", 1: "int16", 2: "int32", 3: "int64", 4: "float16", 5: "float32",
                  6: "float64", 20: "uint8", 21: "int8"}


class ServingConfError(HRNetError):
    """The model directory cannot be served by Paddle Serving as it is."""


@dataclass(frozen=True)
class ServingVar:
    name: str        # the program's variable
    alias_name: str  # what requests and fetch_list call it
    dtype: str       # key of SERVING_TYPES
    shape: Tuple[int, ...]  # without the batch dimension

    def to_prototxt(self, kind: str) -> str:
        lines = [f"{kind}_var {{", f'  name: "{self.name}"', f'  alias_name: "{self.alias_name}"',
                 "  is_lod_tensor: false", f"  {kind}_type: {SERVING_TYPES[self.dtype]}"]
        lines += [f"  shape: {d}" for d in self.shape]
        return "\n".join(lines + ["}"])


def format_prototxt(feed_vars: Sequence[ServingVar], fetch_vars: Sequence[ServingVar]) -> str:
    """GeneralModelConfig in protobuf text format, as Paddle Serving's converter writes it."""
    return "\n".join([v.to_prototxt("feed") for v in feed_vars]
                     + [v.to_prototxt("fetch") for v in fetch_vars]) + "\n"


def serving_vars(model_dir) -> Tuple[List[ServingVar], List[ServingVar]]:
    """(feed vars, fetch vars) of an exported model, checked against its inference.yml."""
    deploy = read_deploy_config(model_dir)
    legacy = deploy.legacy_program("Paddle Serving (Paddle 2.6)", ServingConfError)
    feeds, fetches = _program_io(legacy)
    if [v.name for v in feeds] != [deploy.input_name]:
        raise ServingConfError(f"{legacy} feeds {[v.name for v in feeds]} but inference.yml's input is "
                               f"{deploy.input_name!r}: re-export the model")
    if len(fetches) != 1:
        raise ServingConfError(f"{legacy} has {len(fetches)} outputs ({[v.name for v in fetches]}); "
                               "a classifier has one")
    (feed,), (fetch,) = feeds, fetches
    image_shape = tuple(int(d) for d in deploy.input_shape[1:])
    if feed.shape[1:] != image_shape:
        raise ServingConfError(f"{legacy} takes input {list(feed.shape)} but inference.yml says "
                               f"{deploy.input_shape}: re-export the model")
    if fetch.shape[1:] != (deploy.class_num,):
        raise ServingConfError(f"{legacy} outputs {list(fetch.shape)} but inference.yml has "
                               f"{deploy.class_num} classes: re-export the model")
    return ([ServingVar(feed.name, feed.name, feed.dtype, image_shape)],
            [ServingVar(fetch.name, FETCH_ALIAS, fetch.dtype, (deploy.class_num,))])


@dataclass(frozen=True)
class _ProgramVar:
    name: str
    dtype: str
    shape: Tuple[int, ...]  # with the batch dimension (-1)


def _program_io(model_file: Path) -> Tuple[List[_ProgramVar], List[_ProgramVar]]:
    """The variables the legacy program's feed ops write and its fetch ops read, in column order."""
    block = legacy_block(model_file)
    descs = {v.name: v for v in block.vars}

    def var(name: str) -> _ProgramVar:
        tensor_type = descs[name].type
        # Paddle 3 calls the field dense_tensor, Paddle 2.x lod_tensor
        field = "dense_tensor" if hasattr(tensor_type, "dense_tensor") else "lod_tensor"
        tensor = getattr(tensor_type, field).tensor
        dtype = _PADDLE_DTYPES.get(tensor.data_type)
        if dtype is None:
            raise ServingConfError(f"{model_file}: variable {name} has a dtype (Paddle type "
                                   f"{tensor.data_type}) that Paddle Serving does not take")
        return _ProgramVar(name, dtype, tuple(int(d) for d in tensor.dims))

    def column(op) -> int:
        return next((a.i for a in op.attrs if a.name == "col"), 0)

    feeds = sorted((op for op in block.ops if op.type == "feed"), key=column)
    fetches = sorted((op for op in block.ops if op.type == "fetch"), key=column)
    feed_names = [next(v for v in op.outputs if v.parameter == "Out").arguments[0] for op in feeds]
    fetch_names = [next(v for v in op.inputs if v.parameter == "X").arguments[0] for op in fetches]
    if not feed_names or not fetch_names:
        raise ServingConfError(f"{model_file} has no feed/fetch ops; export it with ppcls-hrnet export --legacy")
    return [var(n) for n in feed_names], [var(n) for n in fetch_names]


def write_serving_confs(model_dir) -> Dict[str, Path]:
    """Write serving_server_conf.prototxt and serving_client_conf.prototxt into an
    exported model directory and record them in its inference.yml.

    Returns {"serving_server_conf": path, "serving_client_conf": path}.
    """
    model_dir = Path(model_dir)
    feeds, fetches = serving_vars(model_dir)
    text = format_prototxt(feeds, fetches)
    for name in FILE_KEYS.values():
        tmp = model_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, model_dir / name)
    register_model_files(model_dir, dict(FILE_KEYS))
    return {key: model_dir / name for key, name in FILE_KEYS.items()}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ppcls_hrnet.export.serving",
        description="write Paddle Serving's serving_server_conf.prototxt / serving_client_conf.prototxt "
                    "into an exported model directory (needs its legacy inference.pdmodel)")
    parser.add_argument("model_dir", help="an exported model directory (has inference.yml and inference.pdmodel)")
    args = parser.parse_args(argv)

    def run(args):
        for path in write_serving_confs(args.model_dir).values():
            print(f"wrote {path}")
        return 0

    return run_guarded(run, args)


if __name__ == "__main__":
    raise SystemExit(main())
