"""`ppcls-hrnet predict-batch`: a folder, glob or label list of images -> a Parquet table, on Ray Data."""
from __future__ import annotations

import argparse
from dataclasses import replace

from ..batch.cluster import import_ray
from ..runtime.options import AUTO_PRECISION_HELP, PREDICTOR_OPTIONS, add_flags

# the predictor's options as predict declares them; a batch job batches 8 images by default
BATCH_OPTIONS = (
    replace(PREDICTOR_OPTIONS["backend"], help=""),
    replace(PREDICTOR_OPTIONS["precision"], default="auto", help=AUTO_PRECISION_HELP),
    replace(PREDICTOR_OPTIONS["batch_size"], default=8, help="images per inference call"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference_model_dir", required=True, help="an exported model (has inference.yml); on a "
                   "cluster every node must read it at this path")
    p.add_argument("--input", required=True, metavar="SRC", help="a folder (recursive), a glob ('photos/**/*.jpg'), "
                   "a PaddleClas label list (.txt), or the same on s3://bucket/prefix")
    p.add_argument("--output", required=True, metavar="OUT", help="the Parquet table's folder (local, shared by "
                   "the nodes, or s3://...): one row per input")
    add_flags(p, BATCH_OPTIONS)
    p.add_argument("--workers", type=int, default=None, help="predictor actors (default: a local Ray's cores / "
                   "threads_per_worker; a cluster's CPUs - 1, over threads_per_worker)")
    p.add_argument("--threads_per_worker", type=int, default=1, help="math threads of each actor's engine")
    p.add_argument("--chunk_images", type=int, default=1024,
                   help="images per part file and per task (a lost worker redoes at most one chunk)")
    p.add_argument("--ray_address", default=None, help="join a Ray cluster: auto (this node's) or ray://HEAD:10001; "
                   "default: start a local Ray on this machine")
    p.add_argument("--resume", action="store_true", help="finish the job that wrote OUT: only the missing chunks")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import_ray()  # a missing extra is one clear line, before the job's modules (they need pyarrow)
    from ..batch.job import predict_batch

    summary = predict_batch(
        args.inference_model_dir, args.input, args.output, backend=args.backend, precision=args.precision,
        workers=args.workers, threads_per_worker=args.threads_per_worker, batch_size=args.batch_size,
        ray_address=args.ray_address, resume=args.resume, chunk_images=args.chunk_images,
        progress=not args.no_progress)
    print(summary.report())
    # a bad image is a row with its error, not a failed job: the table is complete
    return 0
