"""`ppcls-hrnet serve` flags -> one frozen :class:`ServeSettings`, handed to every worker.

Importing this module is cheap (no Paddle, no web stack): the CLI builds its
parser from its defaults.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Optional

from ..base.cpus import available_cpus
from ..errors import ConfigError

API_KEY_ENV = "PPCLS_HRNET_API_KEY"
# supervisor -> worker: the settings (environment: not visible in `ps`), the listening socket's
# descriptor, the pipe the worker reports "ready" (or why not) on, and its exit code for a model
# that cannot be loaded
SETTINGS_ENV = "PPCLS_HRNET_SERVE_SETTINGS"
LISTEN_FD_ENV = "PPCLS_HRNET_SERVE_LISTEN_FD"
READY_FD_ENV = "PPCLS_HRNET_SERVE_READY_FD"
EXIT_LOAD_FAILED = 3

DEFAULT_PORT = 18080  # PaddleClas's config.yml http_port
DEFAULT_NAME = "imagenet"  # PaddleClas's config.yml op name: POST /imagenet/prediction
# PaddleClas's config.yml rpc_port, where its pipeline_rpc_client.py connects: what the README
# suggests for --grpc_port (gRPC is off unless --grpc_port is given)
PADDLECLAS_RPC_PORT = 9993
# Two workers, each with half the cores (one worker on a one-core machine): measured with
# benchmarks/serve_load.py (docs/benchmarks.md, "Serving"), HRNet_W18_C 224 on 2 cores, 8 clients,
# configurations interleaved: 2 workers x 1 thread served 1.11x to 1.71x the images/s of
# 1 worker x 2 threads in four runs (e.g. 17.2 vs 14.8 img/s): one worker decodes, preprocesses
# and runs one request at a time; two overlap that work. OpenVINO's CPU pinning stays off for
# several workers (openvino_pinning below): on, it was 0.75x, 0.70x and 1.04x of off.
DEFAULT_WORKERS = 2
DEFAULT_MAX_BODY_MB = 20.0
DEFAULT_MAX_IMAGES = 32  # images (or tensor rows) per request; one request is one batch
# The package's own image limit (ppcls_hrnet.preprocess.image_header, 2**27 px = 134 MP, 384 MB decoded).
DEFAULT_MAX_IMAGE_PIXELS = 1 << 27
DEFAULT_MAX_QUEUE = 32  # requests waiting or running, per worker
DEFAULT_TIMEOUT = 30.0  # seconds from admission to answer
DEFAULT_GRACEFUL_TIMEOUT = 30.0  # seconds SIGTERM waits for in-flight requests
# A connection that sends nothing for this long while its request is incomplete (no request yet,
# headers or body half sent) is closed: stalled and idle connections would otherwise hold a file
# descriptor and their buffers for ever.
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open after a response
DEFAULT_MAX_CONNECTIONS = 256  # open connections per worker; more are closed at once
# Preprocessing may make images of at most this many times the model input's pixels (resize and
# crop outputs): an 85-byte 2048x1 PNG resized by its short side would make 134 MP.
DEFAULT_MAX_RESIZE_MULTIPLE = 16.0


@dataclass(frozen=True)
class ServeSettings:
    model_dir: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    grpc_port: Optional[int] = None  # None: no gRPC; 0: a free port (the supervisor picks it)
    workers: int = 1
    threads: int = 0  # math threads per worker; 0: cores // workers
    name: str = DEFAULT_NAME
    backend: str = "auto"
    precision: str = "auto"
    cpu_pinning: Optional[bool] = None  # OpenVINO; None: off with several workers, its default with one
    api_key: Optional[str] = None
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * (1 << 20))
    max_images: int = DEFAULT_MAX_IMAGES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_queue: int = DEFAULT_MAX_QUEUE
    timeout: float = DEFAULT_TIMEOUT
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    keep_alive: float = DEFAULT_KEEP_ALIVE
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_resize_multiple: float = DEFAULT_MAX_RESIZE_MULTIPLE
    log_level: str = "info"

    def __post_init__(self):
        positive = {"workers": self.workers, "max_body_bytes": self.max_body_bytes, "max_images": self.max_images,
                    "max_image_pixels": self.max_image_pixels, "max_queue": self.max_queue,
                    "max_connections": self.max_connections}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"serve: {key} must be >= 1, got {value}")
        if self.threads < 0:
            raise ConfigError(f"serve: threads must be >= 1 (or 0 for cores / workers), got {self.threads}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port must be 0..65535, got {self.port}")
        if self.grpc_port is not None:
            if not 0 <= self.grpc_port <= 65535:
                raise ConfigError(f"serve: grpc_port must be 0..65535, got {self.grpc_port}")
            if self.grpc_port and self.grpc_port == self.port:
                raise ConfigError(f"serve: --grpc_port {self.grpc_port} is --port too: give gRPC a port of its own")
        if self.timeout <= 0 or self.graceful_timeout < 0:
            raise ConfigError("serve: timeout must be > 0 and graceful_timeout >= 0")
        if self.read_timeout <= 0 or self.keep_alive <= 0:
            raise ConfigError("serve: read_timeout and keep_alive must be > 0 seconds")
        if self.max_resize_multiple < 1:
            raise ConfigError(f"serve: max_resize_multiple must be >= 1, got {self.max_resize_multiple}")
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
