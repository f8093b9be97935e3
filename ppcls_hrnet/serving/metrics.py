"""Prometheus metrics, summed over worker processes.

The supervisor gives every process one ``PROMETHEUS_MULTIPROC_DIR`` before
``prometheus_client`` is imported, so whichever worker answers ``/metrics``
reports the whole server (counters of a replaced worker stay counted; gauges
count live processes only).
"""
from __future__ import annotations

import os

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,  # noqa: E402
                               Histogram, generate_latest)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("ppcls_hrnet_requests_total", "HTTP requests answered, by route template, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("ppcls_hrnet_request_duration_seconds",
                    "Time from request start to the last byte of the answer, by route, method and status",
                    ["route", "method", "status"], buckets=LATENCY_BUCKETS)
# gRPC calls (--grpc_port): method = the full method ("/inference.GRPCInferenceService/ModelInfer",
# "/baidu.paddle_serving.pipeline_serving.PipelineService/inference"), code = the grpc.StatusCode name
GRPC_REQUESTS = Counter("ppcls_hrnet_grpc_requests_total", "gRPC calls answered, by method and status code",
                        ["method", "code"])
GRPC_LATENCY = Histogram("ppcls_hrnet_grpc_request_duration_seconds",
                         "Time from a gRPC call's start to its answer, by method and status code",
                         ["method", "code"], buckets=LATENCY_BUCKETS)
QUEUE_DEPTH = Gauge("ppcls_hrnet_queue_depth", "Requests admitted to the predictors: waiting or running",
                    multiprocess_mode="livesum")
INFERENCE = Histogram("ppcls_hrnet_inference_duration_seconds",
                      "Predictor time per request (decode, preprocess, model, top-k)", buckets=LATENCY_BUCKETS)
IMAGES = Counter("ppcls_hrnet_images_total",
                 "Images received, by outcome (predicted / rejected / dropped: not computed, their request timed out)",
                 ["outcome"])
MODEL_RUNS = Counter("ppcls_hrnet_model_runs_total", "Batches the model ran (warm-up excluded)")
CONNECTIONS_CLOSED = Counter("ppcls_hrnet_connections_closed_total",
                             "Connections the server closed, by reason (read_timeout: nothing received for "
                             "--read_timeout mid-request; over_capacity: over --max_connections)", ["reason"])
MODEL_LOAD = Gauge("ppcls_hrnet_model_load_seconds", "Seconds the worker took to build and warm up its predictor",
                   multiprocess_mode="liveall")
MODEL_INFO = Gauge("ppcls_hrnet_model_info", "The model the workers serve and how it runs (value: workers "
                   "running it): its name, backend and precision (what --backend/--precision auto chose)",
                   ["model", "backend", "precision"], multiprocess_mode="livesum")
WORKERS_READY = Gauge("ppcls_hrnet_workers_ready", "Worker processes serving", multiprocess_mode="livesum")
# ppcls_hrnet_worker_restarts_total is the supervisor's (supervisor.py): importing this module
# there would give the supervisor's pid a row in every gauge above.


def render() -> tuple:
    """(body, content type) of the /metrics page."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    return generate_latest(registry), CONTENT_TYPE_LATEST
