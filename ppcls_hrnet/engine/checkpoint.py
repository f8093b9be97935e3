"""Checkpoints in PaddleClas's layout, written so a crash never corrupts one.

A checkpoint ``<dir>/<prefix>`` is ``.pdparams`` (model), ``.pdopt``
(optimizer + lr schedule), optionally ``.pdema``, and ``.pdstates`` (epoch,
metrics, ...). Every file is written to a temp name and renamed into place;
``.pdstates`` goes last and records the sha256 of the others, so it is the
commit record: a checkpoint whose files do not match it was interrupted
mid-save and is refused with a clear message instead of resuming from a mix
of two epochs.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, Optional

import paddle

from ..errors import HRNetError

STATES = ".pdstates"
PAYLOAD_SUFFIXES = (".pdparams", ".pdopt", ".pdema")


class CheckpointError(HRNetError):
    pass


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(directory: str, prefix: str, payload: Dict[str, object], states: dict) -> str:
    """payload: {".pdparams": model_state, ".pdopt": opt_state, [".pdema": ema_state]}.

    Everything is written to temp files first; only then are they renamed into
    place (``.pdstates`` last), so a crash while writing leaves the previous
    checkpoint of that name whole, and one between renames is detected on load.
    """
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, prefix)
    staged = []
    try:
        digests = {}
        for suffix in PAYLOAD_SUFFIXES:
            if suffix in payload:
                paddle.save(payload[suffix], base + suffix + ".tmp")
                staged.append(base + suffix)
                digests[suffix] = _sha256(base + suffix + ".tmp")
        paddle.save({**states, "files": digests}, base + STATES + ".tmp")
        staged.append(base + STATES)
    except BaseException:
        for path in staged + [base + s for s in PAYLOAD_SUFFIXES + (STATES,)]:
            if os.path.exists(path + ".tmp"):
                os.remove(path + ".tmp")
        raise
    for path in staged:
        os.replace(path + ".tmp", path)
    return base


def strip_suffix(path: str) -> str:
    for suffix in PAYLOAD_SUFFIXES + (STATES,):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def load_checkpoint(path: str, verify: bool = True) -> Dict[str, object]:
    """Returns {".pdparams": ..., ".pdopt": ..., [".pdema": ...], "states": {...}}."""
    base = strip_suffix(path)
    if not os.path.exists(base + STATES):
        hint = " (found only the weights: use Global.pretrained_model to fine-tune from them)" \
            if os.path.exists(base + ".pdparams") else ""
        raise CheckpointError(
            f"checkpoint {base!r} not found: expected {base}{STATES} beside .pdparams/.pdopt{hint}"
        )
    try:
        states = paddle.load(base + STATES)
    except Exception as e:  # paddle raises many types for a damaged file
        raise CheckpointError(f"cannot read {base}{STATES} ({e}); resume from another checkpoint") from None
    loaded: Dict[str, object] = {"states": states}
    for suffix, digest in states.get("files", {}).items():
        file = base + suffix
        if not os.path.exists(file):
            raise CheckpointError(f"checkpoint {base!r} is incomplete: {file} is missing")
        if verify and _sha256(file) != digest:
            raise CheckpointError(
                f"checkpoint {base!r} was interrupted while being saved: {file} does not match "
                f"{base}{STATES}. Resume from another one (epoch_N or best_model) in the same directory."
            )
        loaded[suffix] = paddle.load(file)
    return loaded


def find_resumable(path: str) -> Optional[str]:
    base = strip_suffix(path)
    return base if os.path.exists(base + STATES) else None


# Paddle keys optimizer state by auto-generated parameter names
# ("conv2d_182.w_0_velocity_0") that depend on how many layers the process
# built before; a checkpoint keys them by the model's structured names
# ("conv_layer1_1.conv.weight/velocity_0") so any process can resume it.
_SEP = "/"


def _split_accumulator_key(key: str):
    """'conv2d_182.w_0_velocity_0' -> ('conv2d_182.w_0', 'velocity_0'), else None."""
    head, dot, tail = key.partition(".")
    parts = tail.split("_", 2)
    if not dot or len(parts) < 3:
        return None
    return f"{head}.{parts[0]}_{parts[1]}", parts[2]


def portable_optimizer_state(opt_state: dict, model) -> dict:
    structured = {p.name: n for n, p in model.named_parameters()}
    out = {}
    for key, value in opt_state.items():
        split = _split_accumulator_key(key) if isinstance(key, str) else None
        if split and split[0] in structured:
            key = structured[split[0]] + _SEP + split[1]
        out[key] = value
    return out


def restore_optimizer_state(state: dict, model) -> dict:
    runtime = {n: p.name for n, p in model.named_parameters()}
    out = {}
    for key, value in state.items():
        name, sep, accumulator = key.rpartition(_SEP) if isinstance(key, str) else ("", "", key)
        if sep and name in runtime:
            key = f"{runtime[name]}_{accumulator}"
        out[key] = value
    return out
