"""`ppcls-hrnet serve` flags -> one frozen :class:`ServeSettings`, handed to every worker.

Importing this module is cheap (no Paddle, no web stack): the CLI builds its
parser from it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Optional

from ..errors import ConfigError

API_KEY_ENV = "PPCLS_HRNET_API_KEY"
SETTINGS_ENV = "PPCLS_HRNET_SERVE_SETTINGS"  # supervisor -> worker (environment: not visible in `ps`)

DEFAULT_PORT = 18080  # PaddleClas's config.yml http_port
DEFAULT_NAME = "imagenet"  # PaddleClas's config.yml op name: POST /imagenet/prediction
# Two workers, each with half the cores (one worker on a one-core machine): measured with
# benchmarks/serve_load.py (docs/benchmarks.md, "Serving"), HRNet_W18_C 224 on 2 cores, 8 clients,
# configurations interleaved: 2 workers x 1 thread served 1.11x to 1.71x the images/s of
# 1 worker x 2 threads in four runs (e.g. 17.2 vs 14.8 img/s): one worker decodes, preprocesses
# and runs one request at a time; two overlap that work. OpenVINO's CPU pinning stays off for
# several workers (openvino_pinning below): on, it was 0.75x, 0.70x and 1.04x of off.
DEFAULT_WORKERS = 2
DEFAULT_MAX_BODY_MB = 20.0
DEFAULT_MAX_IMAGES = 32  # images (or tensor rows) per request; one request is one batch
# The package's own image limit (ppcls_hrnet.data.transforms, 2**27 px = 134 MP, 384 MB decoded).
DEFAULT_MAX_IMAGE_PIXELS = 1 << 27
DEFAULT_MAX_QUEUE = 32  # requests waiting or running, per worker
DEFAULT_TIMEOUT = 30.0  # seconds from admission to answer
DEFAULT_GRACEFUL_TIMEOUT = 30.0  # seconds SIGTERM waits for in-flight requests


@dataclass(frozen=True)
class ServeSettings:
    model_dir: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    threads: int = 0  # math threads per worker; 0: cores // workers
    name: str = DEFAULT_NAME
    backend: str = "auto"
    precision: str = "fp32"
    cpu_pinning: Optional[bool] = None  # OpenVINO; None: off with several workers, its default with one
    api_key: Optional[str] = None
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * (1 << 20))
    max_images: int = DEFAULT_MAX_IMAGES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_queue: int = DEFAULT_MAX_QUEUE
    timeout: float = DEFAULT_TIMEOUT
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    log_level: str = "info"

    def __post_init__(self):
        positive = {"workers": self.workers, "max_body_bytes": self.max_body_bytes, "max_images": self.max_images,
                    "max_image_pixels": self.max_image_pixels, "max_queue": self.max_queue}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"serve: {key} must be >= 1, got {value}")
        if self.threads < 0:
            raise ConfigError(f"serve: threads must be >= 1 (or 0 for cores / workers), got {self.threads}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port must be 0..65535, got {self.port}")
        if self.timeout <= 0 or self.graceful_timeout < 0:
            raise ConfigError("serve: timeout must be > 0 and graceful_timeout >= 0")
        if not self.name or "/" in self.name or self.name == "v2":
            raise ConfigError(f"serve: --name {self.name!r} must be one path segment other than v2")

    @property
    def math_threads(self) -> int:
        return self.threads or max(1, available_cpus() // self.workers)

    @property
    def openvino_pinning(self) -> Optional[bool]:
        if self.cpu_pinning is not None:
            return self.cpu_pinning
        return False if self.workers > 1 else None

    def __repr__(self):  # never print the key
        shown = asdict(self)
        if shown["api_key"]:
            shown["api_key"] = "***"
        return f"ServeSettings({shown})"

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ=os.environ) -> "ServeSettings":
        data = json.loads(environ[SETTINGS_ENV])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_model_dir(self, model_dir) -> "ServeSettings":
        return replace(self, model_dir=str(model_dir))


def default_workers() -> int:
    return max(1, min(DEFAULT_WORKERS, available_cpus()))


def available_cpus() -> int:
    """Cores this process may use: its affinity mask, capped by a cgroup CPU quota
    (a Kubernetes CPU limit), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_cpu_quota() -> Optional[float]:
    try:  # cgroup v2: "max 100000" or "150000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def add_arguments(p: argparse.ArgumentParser):
    """`ppcls-hrnet serve` arguments; returns the handler."""
    from ..cli import _flag
    from ..predictors.backends import BACKENDS, PRECISIONS

    p.add_argument("--inference_model_dir", default=None, help="an exported model (has inference.yml)")
    p.add_argument("--model_name", default=None, help="e.g. HRNet_W18_C: exported once from --pretrained "
                   "(default: PaddleClas's official weights), as `ppcls-hrnet predict` does")
    p.add_argument("--pretrained", default=None, help="weights for --model_name: a .pdparams path or URL")
    _flag(p, "--use_ssld", False, "official SSLD weights for --model_name")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                   "only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT} (PaddleClas's "
                   "config.yml); 0 picks a free port and prints it")
    p.add_argument("--workers", type=int, default=None,
                   help=f"worker processes, each with its own predictor (default {DEFAULT_WORKERS}, "
                        "1 on a one-core machine)")
    p.add_argument("--threads", type=int, default=0,
                   help="math threads per worker (default: available cores / workers)")
    p.add_argument("--name", default=DEFAULT_NAME,
                   help=f"Paddle Serving service name: POST /<name>/prediction (default {DEFAULT_NAME})")
    p.add_argument("--backend", default="auto", choices=["auto", *BACKENDS])
    p.add_argument("--precision", default="fp32", choices=PRECISIONS)
    _flag(p, "--cpu_pinning", None, "OpenVINO's ENABLE_CPU_PINNING (default: off with several workers, "
          "which would pin their threads to the same cores)")
    p.add_argument("--api_key", default=None, help=f"require `Authorization: Bearer KEY` on every route but "
                   f"/v2/health/*; prefer the environment variable {API_KEY_ENV} (a flag shows in `ps`)")
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
    p.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])

    def run(args):
        from .supervisor import serve

        return serve(settings_from_args(args), model_name=args.model_name, pretrained=args.pretrained,
                     use_ssld=args.use_ssld)

    return run


def settings_from_args(args) -> ServeSettings:
    if bool(args.inference_model_dir) == bool(args.model_name):
        raise ConfigError("serve: give --inference_model_dir DIR (an exported model) or --model_name NAME "
                          "(with --pretrained WEIGHTS), not both")
    if args.pretrained is not None and not args.model_name:
        raise ConfigError("serve: --pretrained applies to --model_name")
    if args.max_body_mb <= 0:
        raise ConfigError(f"serve: --max_body_mb must be > 0, got {args.max_body_mb}")
    return ServeSettings(
        model_dir=str(args.inference_model_dir or ""), host=args.host, port=args.port,
        workers=args.workers if args.workers is not None else default_workers(),
        threads=args.threads, name=args.name, backend=args.backend, precision=args.precision,
        cpu_pinning=args.cpu_pinning, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        max_body_bytes=int(args.max_body_mb * (1 << 20)), max_images=args.max_images,
        max_image_pixels=args.max_image_pixels, max_queue=args.max_queue, timeout=args.timeout,
        graceful_timeout=args.graceful_timeout, log_level=args.log_level)
