"""The batch job: inputs -> chunks -> Ray Data's actor pool of predictors -> part files, exactly once.

    summary = predict_batch("output/inference", "photos/", "predictions/", workers=2)
    print(summary.report())

The inputs are sorted and cut into chunks of ``chunk_images``; each chunk is
one Ray Data row, one task of an actor, and one part file named by the chunk
(:mod:`.table`). Ray Data restarts a lost actor and retries its task (its
actor pools default to unlimited restarts and retries), and a chunk done
twice replaces its own file; a resumed job does only the chunks whose part
files are missing. At the end the part files are counted against the
inputs: the table holds every input exactly once, or the job fails saying so.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

from tqdm import tqdm

from ..base.cpus import available_cpus
from ..errors import ConfigError, HRNetError
from ..runtime.contract import read_deploy_config
from ..runtime.options import RuntimeOptions
from ..runtime.predictor import ClassificationPredictor
from .cluster import ray_session
from .inputs import expand_inputs
from .table import Manifest, OutputDataset, inputs_digest
from .worker import ChunkPredictor, WorkerSettings

logger = logging.getLogger("ppcls_hrnet")

DEFAULT_CHUNK_IMAGES = 1024  # rows per part file, and per retried task
DEFAULT_BATCH_SIZE = 8


class IncompleteTableError(HRNetError):
    pass


@dataclass
class BatchSummary:
    output: str
    inputs: int
    rows: int  # in the table at the end
    errors: int  # rows with an error, among those written by this run
    skipped: int  # inputs already in the table (--resume)
    predicted: int  # inputs this run predicted
    wall_seconds: float  # the whole job, Ray's shutdown included
    startup_seconds: float  # Ray's start and the first actor's model load, before the first chunk's work
    predicting_seconds: float  # from then to the last chunk's arrival
    workers: int
    chunks: List[Dict] = field(default_factory=list)  # per chunk this run did: chunk, node, pid, paddle_loaded

    @property
    def images_per_s(self) -> float:
        return self.predicted / self.predicting_seconds if self.predicting_seconds > 0 else 0.0

    def report(self) -> str:
        lines = [f"predict-batch: {self.rows} rows in {self.output} for {self.inputs} inputs"
                 f" ({self.predicted} predicted now, {self.skipped} already there); {self.errors} with an error",
                 f"{self.images_per_s:.1f} images/s on {self.workers} workers after {self.startup_seconds:.1f} s of "
                 f"start-up (Ray, model loads); {self.wall_seconds:.1f} s in all"]
        return "\n".join(lines)


def predict_batch(inference_model_dir, input: str, output: str, *, backend: str = "auto", precision: str = "auto",
                  workers: Optional[int] = None, threads_per_worker: int = 1,
                  batch_size: int = DEFAULT_BATCH_SIZE, ray_address: Optional[str] = None, resume: bool = False,
                  chunk_images: int = DEFAULT_CHUNK_IMAGES, progress: bool = True) -> BatchSummary:
    """Predict every image ``input`` names into the Parquet table ``output`` (see the module)."""
    start = time.perf_counter()
    for name, value in (("workers", workers or 1), ("threads_per_worker", threads_per_worker),
                        ("batch_size", batch_size), ("chunk_images", chunk_images)):
        if value < 1:
            raise ConfigError(f"predict-batch: {name} must be >= 1, got {value}")
    deploy = read_deploy_config(inference_model_dir)
    settings = WorkerSettings(model_dir=str(deploy.model_dir.resolve()), output=_absolute(output), backend=backend,
                              precision=precision, threads=threads_per_worker, batch_size=batch_size,
                              model_id=deploy.identity())
    # the model loads here first: a backend that cannot run it stops the job before Ray starts
    check = ClassificationPredictor(settings.model_dir, RuntimeOptions(
        backend=backend, precision=precision, cpu_threads=threads_per_worker), batch_size=batch_size)
    # every actor runs what auto chose here: the same answers whichever node computes a chunk
    settings = replace(settings, backend=check.backend, precision=check.options.precision)
    del check
    inputs = expand_inputs(input)
    if inputs.remote:
        settings = replace(settings, remote_source=input)
    manifest = Manifest(inputs=len(inputs), inputs_digest=inputs_digest(inputs.paths), chunk_images=chunk_images,
                        model_id=settings.model_id, model_name=deploy.model_name, source=input)
    table = OutputDataset(settings.output)
    done = table.start(manifest, resume)
    chunks = [inputs.paths[first:first + chunk_images] for first in range(0, len(inputs), chunk_images)]
    todo = [i for i, paths in enumerate(chunks) if done.get(i) != len(paths)]
    skipped = len(inputs) - sum(len(chunks[i]) for i in todo)
    if resume:
        logger.info("predict-batch --resume: %d of %d inputs are already in %s, %d to predict",
                    skipped, len(inputs), output, len(inputs) - skipped)
    summary = BatchSummary(output=output, inputs=len(inputs), rows=skipped, errors=0, skipped=skipped, predicted=0,
                           wall_seconds=0.0, startup_seconds=0.0, predicting_seconds=0.0, workers=0)
    if todo:
        _run_chunks(chunks, todo, settings, summary, workers, ray_address, progress, start)
    table.clean_up()
    rows = sum(table.complete_parts().values())
    summary.rows, summary.wall_seconds = rows, time.perf_counter() - start
    if rows != len(inputs):
        raise IncompleteTableError(f"{output} holds {rows} rows for {len(inputs)} inputs; run the same command "
                                   "with --resume to finish it")
    return summary


def _run_chunks(chunks, todo, settings: WorkerSettings, summary: BatchSummary, workers, ray_address, progress,
                start) -> None:
    threads = settings.threads
    local_workers = workers or max(1, available_cpus() // threads)
    # one logical CPU more than the actors hold: Ray Data's own tasks must find a slot beside them
    local_cpus = local_workers * threads + 1
    with ray_session(ray_address, None if ray_address else local_cpus) as ray:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts images
        context.print_on_execution_start = False
        total_cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = workers or (local_workers if ray_address is None else max(1, (total_cpus - 1) // threads))
        if workers * threads >= total_cpus and total_cpus > threads:
            logger.warning("predict-batch: %d workers x %d threads hold all %d CPUs of the cluster; Ray Data needs "
                           "one free for its own tasks", workers, threads, total_cpus)
        summary.workers = workers
        settings = replace(settings, cpu_pinning=False if workers > 1 else None)
        items = [{"chunk": i, "paths": [os.fsencode(p) for p in chunks[i]]} for i in todo]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ChunkPredictor, fn_constructor_args=(settings,), batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads,
            scheduling_strategy="SPREAD")  # on a cluster, predictors on every node rather than packed
        total = sum(len(chunks[i]) for i in todo)
        with tqdm(total=total, unit="img", desc="predict-batch", disable=not progress, dynamic_ncols=True) as bar:
            for row in dataset.iter_rows():
                if not summary.chunks:  # what came before the first chunk's own work
                    summary.startup_seconds = time.perf_counter() - start - float(row["seconds"])
                summary.chunks.append({key: _plain(value) for key, value in row.items()})
                summary.predicted += int(row["images"])
                summary.errors += int(row["errors"])
                summary.predicting_seconds = time.perf_counter() - start - summary.startup_seconds
                bar.update(int(row["images"]))


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _absolute(output: str) -> str:
    return output if "://" in output else os.path.abspath(output)
