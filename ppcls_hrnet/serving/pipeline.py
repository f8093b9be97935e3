"""Paddle Serving's pipeline HTTP protocol, as PaddleClas's classification service speaks it.

Request (PaddleClas ``deploy/paddleserving/pipeline_http_client.py``)::

    POST /imagenet/prediction
    {"key": ["image"], "value": ["<base64 of the image file>"], "logid": 1}

Every key/value pair is one image (PaddleClas's ``ImagenetOp.preprocess``
decodes every value); several pairs are one batch. Reply, HTTP 200, as its
``ImagenetOp.postprocess`` returns it: ``str()`` of a Python list of the
top-1 label names (commas removed) and ``str()`` of the top-1 probabilities,
one entry per image::

    {"err_no": 0, "err_msg": "", "key": ["label", "prob"], "value": ["['daisy']", "[0.93]"], "tensors": []}

The same request over Paddle Serving's RPC (:mod:`.grpc_server`) is parsed by
:func:`parse_pairs` and answered with the same reply.

Errors: ``err_no`` != 0 with a message, HTTP 200 for the service's own errors
(5000 input, 3002 unknown service name, 6000 timeout, 10000 internal), an
HTTP error status for the gateway's (400 not JSON, 401, 413, 503 busy), as
Paddle Serving does.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import List, Optional

from .errors import ServingError

OUTPUT_KEYS = ["label", "prob"]
PROFILE_KEY = "pipeline.profile"  # Paddle Serving's client-side profiling switch, not an image


@dataclass
class PipelineRequest:
    keys: List[str]
    images: List[bytes]
    logid: Optional[int]


def parse_json(body: bytes, what: str):
    """The JSON value of a request body; ``bad_request`` for anything the parser refuses."""
    try:
        return json.loads(body)
    except RecursionError:  # json's decoder recurses once per nesting level
        raise ServingError("bad_request", f"{what} is not JSON this server accepts (nested too deeply)") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError: both ValueErrors
        raise ServingError("bad_request", f"{what} is not JSON ({err})") from None


def parse_request(body: bytes, max_images: int) -> PipelineRequest:
    data = parse_json(body, "the body")
    if not isinstance(data, dict):
        raise ServingError("bad_request", 'the body must be a JSON object {"key": [...], "value": [...]}')
    keys, values = data.get("key"), data.get("value")
    if keys is None and data.get("tensors"):
        raise ServingError("input", 'this service takes images as "key"/"value" (base64 strings), not "tensors"')
    if not isinstance(keys, list) or not isinstance(values, list):
        raise ServingError("input", '"key" and "value" must be lists: {"key": ["image"], "value": ["<base64>"]}')
    logid = data.get("logid", data.get("log_id"))
    return parse_pairs(keys, values, logid if isinstance(logid, int) else None, max_images)


def parse_pairs(keys: list, values: list, logid: Optional[int], max_images: int) -> PipelineRequest:
    """The images of a request's key/value lists (JSON over HTTP, the Request message over RPC)."""
    if len(keys) != len(values):
        raise ServingError("input", f'"key" has {len(keys)} entries but "value" has {len(values)}')
    # PipelineClient.predict(..., profile=True) adds this pair; Paddle Serving's DAG takes it out
    pairs = [(k, v) for k, v in zip(keys, values) if k != PROFILE_KEY]
    keys, values = [k for k, _ in pairs], [v for _, v in pairs]
    if not keys:
        raise ServingError("input", 'no image: give {"key": ["image"], "value": ["<base64 of the file>"]}')
    if len(keys) > max_images:
        raise ServingError("too_many", f"{len(keys)} images in one request; this server takes at most {max_images} "
                                       "(--max_images)")
    if not all(isinstance(k, str) for k in keys) or not all(isinstance(v, str) for v in values):
        raise ServingError("input", '"key" and "value" entries must be strings')
    if len(set(keys)) != len(keys):
        # Paddle Serving builds a dict from them: a repeated key would silently drop images
        raise ServingError("input", 'every image needs its own key ("image_0", "image_1", ...); '
                                    f"repeated: {sorted({k for k in keys if keys.count(k) > 1})}")
    images = [decode_base64(value, f"value of key {key!r}") for key, value in zip(keys, values)]
    return PipelineRequest(keys, images, logid)


def decode_base64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ServingError("input", f"{what} is not base64 (encode the image file's bytes with base64)") from None
    if not data:
        raise ServingError("input", f"{what} is empty")
    return data


def reply(results: List[dict]) -> dict:
    """PaddleClas's reply for top-k results: top-1 label and probability per image
    (the class id as text when the model has no label names)."""
    labels, probs = [], []
    for result in results:
        name = result["label_names"][0] if result["label_names"] else str(result["class_ids"][0])
        labels.append(name.strip().replace(",", ""))
        probs.append(float(result["scores"][0]))
    return {"err_no": 0, "err_msg": "", "key": list(OUTPUT_KEYS), "value": [str(labels), str(probs)],
            "tensors": []}


def error_reply(err: ServingError) -> dict:
    return {"err_no": err.err_no, "err_msg": err.message, "key": [], "value": [], "tensors": []}


def image_errors(keys: List[str], results: List[dict]) -> Optional[ServingError]:
    """One error naming every image that could not be used (the whole request fails, as in PaddleClas)."""
    bad = [f"{key!r}: {r['error']}" for key, r in zip(keys, results) if "error" in r]
    if not bad:
        return None
    return ServingError("input", "cannot use image " + "; ".join(bad))
