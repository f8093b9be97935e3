"""Open Inference Protocol v2 (KServe, Triton, Seldon): request/response codec and metadata.

JSON body, or Triton's binary tensor extension: the JSON header (its length
in the ``Inference-Header-Content-Length`` HTTP header) followed by the raw
tensors of every input whose ``parameters.binary_data_size`` is set, in input
order. BYTES tensors are, in binary, each element as a 4-byte little-endian
length and its bytes; in JSON, strings (images as base64, as KServe's image
examples send them). Outputs are binary when the request says so per output
(``parameters.binary_data``) or for all (``parameters.binary_data_output``,
which ``tritonclient`` sets when no outputs are named).

The model takes one of two inputs:
- ``image`` (BYTES, one encoded image file per element) -> ``class_ids``
  (INT64 [N, k]), ``scores`` (FP32 [N, k]), ``label_names`` (BYTES [N, k]):
  the model's inference.yml preprocessing and top-k;
- its own input tensor (name and [-1, C, H, W] from inference.yml, FP32) ->
  its output, ``probabilities`` (FP32 [N, classes]; ``logits`` when the
  export has no Softmax).
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .errors import ServingError
from .pipeline import decode_base64, parse_json

HEADER_LENGTH = "inference-header-content-length"
IMAGE_INPUT = "image"
VERSION = "1"
CLASSIFY_OUTPUTS = ("class_ids", "scores", "label_names")

DTYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
          "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
          "FP32": np.float32, "FP64": np.float64}


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: List[int]
    data: object  # np.ndarray, or a list of bytes for BYTES

    @property
    def count(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass
class InferRequest:
    id: Optional[str]
    inputs: List[Tensor]
    outputs: List[Tuple[str, Optional[bool]]]  # (name, binary) in the order asked
    binary_output: bool = False
    parameters: dict = field(default_factory=dict)

    def wants_binary(self, name: str) -> bool:
        for asked, binary in self.outputs:
            if asked == name and binary is not None:
                return binary
        return self.binary_output


def output_tensor_name(deploy) -> str:
    return "probabilities" if deploy.softmax else "logits"


# ------------------------------------------------------------------ requests


def parse_infer_request(body: bytes, header_length: Optional[str], max_images: int) -> InferRequest:
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise ServingError("bad_request", "Inference-Header-Content-Length is not an integer") from None
        if not 0 < size <= len(body):
            raise ServingError("bad_request", f"Inference-Header-Content-Length {size} does not fit the "
                                              f"{len(body)}-byte body")
        header, binary = body[:size], memoryview(body)[size:]
    else:
        header, binary = body, memoryview(b"")
    data = parse_json(header, "the inference request")
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list) or not data["inputs"]:
        raise ServingError("bad_request", 'the request needs "inputs": [{"name", "shape", "datatype", "data"}]')
    offset = 0
    inputs = []
    for position, spec in enumerate(data["inputs"]):
        tensor, used = _parse_input(spec, position, binary[offset:], max_images)
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise ServingError("bad_request", f"{len(binary) - offset} bytes of binary data follow the inputs' "
                                          "binary_data_size")
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ServingError("bad_request", '"parameters" must be an object')
    outputs = []
    for spec in data.get("outputs") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ServingError("bad_request", 'each of "outputs" needs a "name"')
        binary_flag = (spec.get("parameters") or {}).get("binary_data")
        outputs.append((spec["name"], None if binary_flag is None else bool(binary_flag)))
    request_id = data.get("id")
    return InferRequest(id=None if request_id is None else str(request_id), inputs=inputs, outputs=outputs,
                        binary_output=bool(parameters.get("binary_data_output", False)), parameters=parameters)


def _parse_input(spec, position: int, binary: memoryview, max_images: int) -> Tuple[Tensor, int]:
    if not isinstance(spec, dict):
        raise ServingError("bad_request", f"input {position} is not an object")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise ServingError("bad_request", f"input {position} needs a \"name\" and a \"datatype\"")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ServingError("bad_request", f"input {name!r}: \"shape\" must be a list of non-negative integers")
    tensor = Tensor(name, datatype, list(shape), None)
    size = (spec.get("parameters") or {}).get("binary_data_size")
    if datatype == "BYTES":
        if tensor.count > max_images:
            raise too_many_images(name, tensor.count, max_images)
        if size is not None:
            tensor.data = bytes_elements(_take(binary, size, name), name)
        else:
            values = _flat(spec.get("data"), name)
            if not all(isinstance(v, str) for v in values):
                raise ServingError("input", f"input {name!r}: BYTES data in JSON must be strings (images: base64)")
            tensor.data = values  # decoded by the route, which knows what the strings mean
        if len(tensor.data) != tensor.count:
            raise ServingError("input", f"input {name!r}: shape {shape} has {tensor.count} elements but "
                                        f"{len(tensor.data)} were sent")
        return tensor, size or 0
    dtype = DTYPES.get(datatype)
    if dtype is None:
        raise ServingError("input", f"input {name!r}: unknown datatype {datatype!r}")
    if size is not None:
        raw = _take(binary, size, name)
        if size != tensor.count * np.dtype(dtype).itemsize:
            raise ServingError("input", f"input {name!r}: {size} bytes for shape {shape} of {datatype} (expected "
                                        f"{tensor.count * np.dtype(dtype).itemsize})")
        tensor.data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
        return tensor, size
    values = _flat(spec.get("data"), name)
    if len(values) != tensor.count:
        raise ServingError("input", f"input {name!r}: shape {shape} has {tensor.count} elements but "
                                    f"{len(values)} were sent")
    try:
        tensor.data = np.asarray(values, dtype=dtype).reshape(shape)
    except (TypeError, ValueError):
        raise ServingError("input", f"input {name!r}: data are not {datatype} numbers") from None
    return tensor, 0


def too_many_images(name: str, count: int, max_images: int) -> ServingError:
    return ServingError("too_many", f"input {name!r} has {count} elements; this server takes at most "
                                    f"{max_images} images per request (--max_images)")


def _take(binary: memoryview, size, name: str) -> bytes:
    if not isinstance(size, int) or size < 0:
        raise ServingError("bad_request", f"input {name!r}: binary_data_size must be a non-negative integer")
    if size > len(binary):
        raise ServingError("bad_request", f"input {name!r}: binary_data_size {size} but only {len(binary)} "
                                          "bytes follow the JSON header")
    return bytes(binary[:size])


def _flat(data, name: str) -> list:
    if data is None:
        raise ServingError("bad_request", f"input {name!r} has no \"data\" and no binary_data_size")
    if not isinstance(data, list):
        return [data]
    out = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def bytes_elements(raw: bytes, name: str) -> List[bytes]:
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ServingError("input", f"input {name!r}: truncated BYTES element length")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise ServingError("input", f"input {name!r}: BYTES element of {length} bytes runs past the data")
        elements.append(raw[offset:offset + length])
        offset += length
    return elements


def image_bytes(tensor: Tensor) -> List[bytes]:
    """The encoded images of an ``image`` input (base64 strings in JSON, raw in binary)."""
    return [item if isinstance(item, bytes) else decode_base64(item, f"element {i} of input {tensor.name!r}")
            for i, item in enumerate(tensor.data)]


# ----------------------------------------------------------------- responses


def encode_response(model_name: str, request: InferRequest,
                    outputs: List[Tuple[str, str, np.ndarray]]) -> Tuple[bytes, Dict[str, str]]:
    """(body, headers) for outputs given as (name, datatype, array); BYTES arrays hold str or bytes."""
    described, blobs = [], []
    for name, datatype, array in outputs:
        entry = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if request.wants_binary(name):
            blob = serialize_bytes(array) if datatype == "BYTES" else \
                np.ascontiguousarray(array, dtype=np.dtype(DTYPES[datatype]).newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif datatype == "BYTES":
            entry["data"] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                             for v in array.reshape(-1)]
        else:
            entry["data"] = array.reshape(-1).tolist()
        described.append(entry)
    reply = {"model_name": model_name, "model_version": VERSION, "outputs": described}
    if request.id is not None:
        reply["id"] = request.id
    header = json.dumps(reply, ensure_ascii=False).encode("utf-8")
    if not blobs:
        return header, {"content-type": "application/json"}
    return b"".join([header, *blobs]), {"content-type": "application/octet-stream",
                                        "inference-header-content-length": str(len(header))}


def serialize_bytes(array: np.ndarray) -> bytes:
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def classification_outputs(results: List[dict], k: int) -> List[Tuple[str, str, np.ndarray]]:
    ids = np.array([r["class_ids"] for r in results], dtype=np.int64).reshape(len(results), k)
    scores = np.array([r["scores"] for r in results], dtype=np.float32).reshape(len(results), k)
    names = np.empty((len(results), k), dtype=object)
    for row, result in enumerate(results):
        labels = result["label_names"] or [""] * k
        names[row, :] = labels
    return [("class_ids", "INT64", ids), ("scores", "FP32", scores), ("label_names", "BYTES", names)]


def select_outputs(request: InferRequest, available: List[Tuple[str, str, np.ndarray]]):
    if not request.outputs:
        return available
    by_name = {name: (name, datatype, array) for name, datatype, array in available}
    unknown = [name for name, _ in request.outputs if name not in by_name]
    if unknown:
        raise ServingError("input", f"unknown output {unknown[0]!r}: this input gives {sorted(by_name)}")
    return [by_name[name] for name, _ in request.outputs]


# ------------------------------------------------------------------ metadata


def model_metadata(deploy, backend: str, precision: str, topk: int) -> dict:
    _, channels, height, width = deploy.input_shape
    k = min(topk, deploy.class_num)
    return {
        "name": deploy.model_name,
        "versions": [VERSION],
        "platform": f"ppcls_hrnet_{backend}",
        # how the workers run it: what --backend/--precision auto chose on this machine
        "parameters": {"backend": backend, "precision": precision},
        "inputs": [
            {"name": IMAGE_INPUT, "datatype": "BYTES", "shape": [-1]},
            {"name": deploy.input_name, "datatype": "FP32", "shape": [-1, channels, height, width]},
        ],
        "outputs": [
            {"name": "class_ids", "datatype": "INT64", "shape": [-1, k]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, k]},
            {"name": "label_names", "datatype": "BYTES", "shape": [-1, k]},
            {"name": output_tensor_name(deploy), "datatype": "FP32", "shape": [-1, deploy.class_num]},
        ],
    }


def server_metadata() -> dict:
    from importlib import metadata

    try:
        version = metadata.version("ppcls-hrnet")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": "ppcls-hrnet", "version": version, "extensions": ["binary_tensor_data"]}
