"""``ppcls-hrnet serve``: an HTTP (and gRPC) server for an exported model.

Protocols, all on one port:

- Paddle Serving's pipeline HTTP protocol (``POST /<name>/prediction``), the
  shape PaddleClas's ``pipeline_http_client.py`` sends and its
  ``classification_web_service.py`` answers;
- the Open Inference Protocol v2 of KServe / Triton / Seldon (``/v2/...``),
  JSON and Triton's binary tensor extension;
- ``POST /predict`` (multipart upload) answering what ``ppcls-hrnet predict
  --save_dir`` writes; ``GET /metrics`` for Prometheus.

With ``--grpc_port``, on a second port (:mod:`.grpc_server`): Paddle Serving's
pipeline RPC (PaddleClas's ``pipeline_rpc_client.py``) and the Open Inference
Protocol's ``inference.GRPCInferenceService``, in the same workers.

Modules, one job each: :mod:`.settings` (flags -> one frozen record),
:mod:`.supervisor` (listening socket, worker processes, restarts, signals),
:mod:`.worker` (one process: predictor built after start, uvicorn on the
shared socket), :mod:`.app` (routes), :mod:`.boundary` (auth, body limit,
metrics, no tracebacks), :mod:`.runner` (the predictor behind a bounded
queue and a timeout), :mod:`.pipeline` and :mod:`.v2` (protocol codecs),
:mod:`.metrics`, :mod:`.errors`; :mod:`.grpc_server` (the gRPC services) on
:mod:`.messages` (their message classes, from :mod:`.protos`).
"""
