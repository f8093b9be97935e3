"""`ppcls-hrnet serve`: flags -> :class:`~ppcls_hrnet.serving.settings.ServeSettings` -> the supervisor.

``--model_name`` is exported first (once, cached) in a child process, so the
server's processes never import Paddle.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace

from ..base.process import add_bool_flag
from ..errors import ConfigError
from ..export.in_subprocess import export_in_subprocess
from ..runtime.options import AUTO_PRECISION_HELP, PREDICTOR_OPTIONS, add_flags
from ..serving.settings import (API_KEY_ENV, DEFAULT_GRACEFUL_TIMEOUT, DEFAULT_MAX_BODY_MB, DEFAULT_MAX_IMAGE_PIXELS,
                                DEFAULT_MAX_IMAGES, DEFAULT_MAX_QUEUE, DEFAULT_NAME, DEFAULT_PORT, DEFAULT_TIMEOUT,
                                DEFAULT_WORKERS, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_CONNECTIONS,
                                DEFAULT_MAX_RESIZE_MULTIPLE, DEFAULT_READ_TIMEOUT, PADDLECLAS_RPC_PORT, ServeSettings,
                                default_workers)
from ..serving.supervisor import serve

# serve has no --use_fp16 to fall back on, so its precision is plainly auto unless given
SERVE_OPTIONS = (
    replace(PREDICTOR_OPTIONS["backend"], help=""),
    replace(PREDICTOR_OPTIONS["precision"], default="auto", help=AUTO_PRECISION_HELP),
    PREDICTOR_OPTIONS["cpu_pinning"],
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference_model_dir", default=None, help="an exported model (has inference.yml)")
    p.add_argument("--model_name", default=None, help="e.g. HRNet_W18_C: exported once from --pretrained "
                   "(default: PaddleClas's official weights), as `ppcls-hrnet predict` does")
    p.add_argument("--pretrained", default=None, help="weights for --model_name: a .pdparams path or URL")
    add_bool_flag(p, "--use_ssld", False, "official SSLD weights for --model_name")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                   "only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT} (PaddleClas's "
                   "config.yml); 0 picks a free port and prints it")
    p.add_argument("--grpc_port", type=int, default=None,
                   help="also serve gRPC on this port: Paddle Serving's pipeline RPC (PaddleClas's "
                        f"pipeline_rpc_client.py; its config.yml's rpc_port is {PADDLECLAS_RPC_PORT}) and the Open "
                        "Inference Protocol's GRPCInferenceService (tritonclient.grpc, KServe); default: no gRPC; "
                        "0 picks a free port and prints it")
    p.add_argument("--workers", type=int, default=None,
                   help=f"worker processes, each with its own predictor (default {DEFAULT_WORKERS}, "
                        "1 on a one-core machine)")
    p.add_argument("--threads", type=int, default=0,
                   help="math threads per worker (default: available cores / workers)")
    p.add_argument("--name", default=DEFAULT_NAME,
                   help=f"Paddle Serving service name: POST /<name>/prediction (default {DEFAULT_NAME})")
    add_flags(p, SERVE_OPTIONS)
    p.add_argument("--api_key", default=None, help=f"require `Authorization: Bearer KEY` on every route but "
                   f"/v2/health/* (gRPC: metadata `authorization: Bearer KEY` on every call but ServerLive and "
                   f"ServerReady); prefer the environment variable {API_KEY_ENV} (a flag shows in `ps`)")
    p.add_argument("--max_body_mb", type=float, default=DEFAULT_MAX_BODY_MB,
                   help=f"larger request bodies get 413 (default {DEFAULT_MAX_BODY_MB:g})")
    p.add_argument("--max_images", type=int, default=DEFAULT_MAX_IMAGES,
                   help=f"images (or tensor rows) per request (default {DEFAULT_MAX_IMAGES})")
    p.add_argument("--max_image_pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                   help="width x height an image may decode to; larger ones are refused from their header "
                        f"before decoding (default {DEFAULT_MAX_IMAGE_PIXELS})")
    p.add_argument("--max_queue", type=int, default=DEFAULT_MAX_QUEUE,
                   help=f"requests waiting or running per worker; more get 503 + Retry-After "
                        f"(default {DEFAULT_MAX_QUEUE})")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds a request may wait and run (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--graceful_timeout", type=float, default=DEFAULT_GRACEFUL_TIMEOUT,
                   help=f"seconds SIGTERM/SIGINT wait for in-flight requests (default {DEFAULT_GRACEFUL_TIMEOUT:g})")
    p.add_argument("--read_timeout", type=float, default=DEFAULT_READ_TIMEOUT,
                   help="seconds a connection may send nothing while its request is incomplete (no request yet, "
                        f"headers or body half sent) before it is closed (default {DEFAULT_READ_TIMEOUT:g})")
    p.add_argument("--keep_alive", type=float, default=DEFAULT_KEEP_ALIVE,
                   help=f"seconds an idle keep-alive connection stays open (default {DEFAULT_KEEP_ALIVE:g})")
    p.add_argument("--max_connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
                   help=f"open connections per worker; more are closed at once (default {DEFAULT_MAX_CONNECTIONS})")
    p.add_argument("--max_resize_multiple", type=float, default=DEFAULT_MAX_RESIZE_MULTIPLE,
                   help="preprocessing may make images of at most this many times the model input's pixels; a "
                        "bigger one is refused before it is resized (default "
                        f"{DEFAULT_MAX_RESIZE_MULTIPLE:g})")
    p.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])


def run(args) -> int:
    settings = settings_from_args(args)
    if args.model_name:
        settings = settings.with_model_dir(export_in_subprocess(
            args.model_name, True if args.pretrained is None else args.pretrained, use_ssld=args.use_ssld))
    return serve(settings)


def settings_from_args(args) -> ServeSettings:
    if bool(args.inference_model_dir) == bool(args.model_name):
        raise ConfigError("serve: give --inference_model_dir DIR (an exported model) or --model_name NAME "
                          "(with --pretrained WEIGHTS), not both")
    if args.pretrained is not None and not args.model_name:
        raise ConfigError("serve: --pretrained applies to --model_name")
    if args.max_body_mb <= 0:
        raise ConfigError(f"serve: --max_body_mb must be > 0, got {args.max_body_mb}")
    return ServeSettings(
        model_dir=str(args.inference_model_dir or ""), host=args.host, port=args.port, grpc_port=args.grpc_port,
        workers=args.workers if args.workers is not None else default_workers(),
        threads=args.threads, name=args.name, backend=args.backend, precision=args.precision,
        cpu_pinning=args.cpu_pinning, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        max_body_bytes=int(args.max_body_mb * (1 << 20)), max_images=args.max_images,
        max_image_pixels=args.max_image_pixels, max_queue=args.max_queue, timeout=args.timeout,
        graceful_timeout=args.graceful_timeout, read_timeout=args.read_timeout, keep_alive=args.keep_alive,
        max_connections=args.max_connections, max_resize_multiple=args.max_resize_multiple, log_level=args.log_level)
