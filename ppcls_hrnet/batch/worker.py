"""One Ray actor of the batch job: a predictor built once, then chunk after chunk -> part files.

The predictor is the Paddle-free runtime's
(:class:`~ppcls_hrnet.runtime.predictor.ClassificationPredictor`): an actor
on OpenVINO or ONNX Runtime never imports Paddle. Local images are read as
``ppcls-hrnet --infer_imgs`` reads them (regular files only, bounded), so a
row equals what that command prints for the file; remote ones are read
through pyarrow with the same size limit, then preprocessed alike.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
from pyarrow import fs

from ..preprocess.reading import max_image_bytes, over_limit
from ..runtime.options import RuntimeOptions
from ..runtime.predictor import ClassificationPredictor
from .inputs import filesystem_path, remote_filesystem
from .table import OutputDataset, results_table


@dataclass(frozen=True)
class WorkerSettings:
    model_dir: str
    output: str
    backend: str = "auto"
    precision: str = "auto"
    threads: int = 1
    batch_size: int = 8
    # OpenVINO pins its threads from core 0 on: several actors on one machine would share cores
    cpu_pinning: Optional[bool] = False
    remote_source: Optional[str] = None  # the input URI when images are remote
    model_id: str = ""  # the model's identity, hashed once by the job (not once per actor)


class ChunkPredictor:
    """Ray Data's callable class: a batch of chunks ({"chunk", "paths"}) -> a summary row per chunk."""

    def __init__(self, settings: WorkerSettings):
        self.settings = settings
        options = RuntimeOptions(backend=settings.backend, precision=settings.precision, cpu_threads=settings.threads,
                                 max_batch_size=settings.batch_size, cpu_pinning=settings.cpu_pinning)
        self.predictor = ClassificationPredictor(settings.model_dir, options, batch_size=settings.batch_size)
        self.output = OutputDataset(settings.output)
        self.remote = remote_filesystem(settings.remote_source)[0] if settings.remote_source else None
        self.node = _node_id()

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        # per chunk; node, pid and whether Paddle is loaded say where and how it ran (tests, logs)
        summary = {"chunk": [], "images": [], "errors": [], "seconds": [], "node": [], "pid": [], "paddle_loaded": []}
        for chunk, encoded_paths in zip(batch["chunk"], batch["paths"]):
            started = time.perf_counter()
            paths = [os.fsdecode(bytes(p)) for p in encoded_paths]
            results = self._predict(paths)
            self.output.write_part(int(chunk), results_table(results, self.settings.model_id, self.predictor.deploy.model_name))
            summary["chunk"].append(int(chunk))
            summary["images"].append(len(results))
            summary["errors"].append(sum("error" in r for r in results))
            summary["seconds"].append(time.perf_counter() - started)
            summary["node"].append(self.node)
            summary["pid"].append(os.getpid())
            summary["paddle_loaded"].append("paddle" in sys.modules)
        return {key: np.array(values) for key, values in summary.items()}

    def _predict(self, paths: List[str]) -> List[dict]:
        if self.remote is None:
            return list(self.predictor.predict_files(paths, log_errors=False))
        results: List[Optional[dict]] = [None] * len(paths)
        readable, data = [], []
        for position, uri in enumerate(paths):
            try:
                data.append(_read_remote(self.remote, uri))
                readable.append(position)
            except OSError as err:
                results[position] = {"file_name": uri, "error": f"cannot read {uri}: {err}"}
        for position, result in zip(readable, self.predictor.predict_encoded(data, [paths[i] for i in readable])):
            results[position] = result
        return results


def _read_remote(filesystem, uri: str) -> bytes:
    """An object's bytes, at most the image size limit (OSError saying why not)."""
    path = filesystem_path(uri)
    limit = max_image_bytes()
    info = filesystem.get_file_info(path)
    if info.type != fs.FileType.File:
        raise OSError("no such object" if info.type == fs.FileType.NotFound else "not a file")
    if info.size is not None and info.size > limit:
        raise OSError(over_limit(f"{info.size} bytes", limit))
    with filesystem.open_input_stream(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(over_limit(f"more than {limit} bytes", limit))
    return data


def _node_id() -> str:
    import ray  # only ever constructed inside a Ray actor

    return ray.get_runtime_context().get_node_id()
