"""Serving load test: C concurrent loopback clients for T seconds on real photographs, in one run:
`ppcls-hrnet serve` at each --precisions x each --workers count, the in-process predictor at each
precision, and Paddle Serving's pipeline on the same model (started here with --start_paddle_serving,
or at the --paddle_serving_url given).

    python benchmarks/serve_load.py                                  # HRNet_W18_C 224, fp32 and auto, 8 clients, 30 s
    python benchmarks/serve_load.py --precisions fp32 auto --workers 1 2 --concurrency 8 \\
        --start_paddle_serving --paddle_serving_python .venv-serving/bin/python
    python benchmarks/serve_load.py --concurrency 8 --duration 30 --workers 1 2 \\
        --paddle_serving_url http://127.0.0.1:18080/imagenet/prediction       # a bundle started by hand
    python benchmarks/serve_load.py --inference_model_dir DIR --images DIR --duration 3   # a short bounded run
    python benchmarks/serve_load.py --precisions fp32 auto --workers 2 --protocols pipeline http_v2 grpc_v2 \\
        pipeline_rpc --start_paddle_serving --paddle_serving_python .venv-serving/bin/python   # HTTP and gRPC

Images (the same for every configuration): by default --num_images photo-sized JPEGs written
into the work dir from the 12 camera photographs of Debian's mate-backgrounds package
(`apt-get install mate-backgrounds`; benchmarks/photos.py): JPEG quality 90, long side scaled
down to --photo_size (1600 px: 1280x1024 to 1600x1203, mean 1.6 MP, ~180 KiB; 0: their native
1280x1024 to 2560x1920, mean 3.1 MP, ~300 KiB; never scaled up). --image_source fashion_mnist: Fashion-MNIST test PNGs (28x28,
Debian's dataset-fashion-mnist), as earlier runs; --images DIR: the files of a folder as they are.

Precisions: our server is started once per (precision, worker count) with `--precision P`
and the in-process predictor is made once per precision; a row names the precision asked for
and, when it differs, what it ran (auto -> bf16 or fp32: our server's GET /v2/models/<name>
`parameters.precision`, the in-process predictor's options). Paddle Serving runs its own
setup (Paddle Inference fp32, oneDNN): one row per protocol.

Protocols (--protocols, default pipeline; a row per configuration and protocol, our server started
with --grpc_port when a gRPC protocol is asked):
- pipeline: PaddleClas's HTTP pipeline request, POST /imagenet/prediction with
  `{"key": ["image"], "value": [<base64>]}` (also Paddle Serving's HTTP gateway);
- http_v2: the Open Inference Protocol over HTTP, POST /v2/models/<name>/infer with the image as
  a BYTES input in Triton's binary tensor extension (Inference-Header-Content-Length, outputs
  binary: what tritonclient.http sends by default); top-1 from `class_ids`;
- grpc_v2: inference.GRPCInferenceService/ModelInfer through tritonclient.grpc (the image as one
  BYTES element in raw_input_contents); top-1 from `class_ids`;
- pipeline_rpc: Paddle Serving's pipeline RPC, baidu.paddle_serving.pipeline_serving.PipelineService/
  inference with Request{key: ["image"], value: [<base64>]} (what its PipelineClient sends), to our
  --grpc_port and to the Paddle Serving bundle's rpc_port (--start_paddle_serving: the port the bundle
  was given; a bundle started by hand: --paddle_serving_rpc HOST:PORT).
Paddle Serving gets a row per asked protocol it speaks (pipeline, pipeline_rpc; its HTTP pipeline
row when none of the asked ones). The anchor ("vs Paddle Serving" column) is its pipeline_rpc row
when there is one, else its HTTP pipeline row.

Every client keeps one connection: an HTTP/1.1 keep-alive connection (--reconnect: one per
HTTP request) or a gRPC channel of its own (one HTTP/2 connection: gRPC shares a connection among
channels to the same address unless told not to, grpc.use_local_subchannel_pool), and sends one
image per request, images in turn, as soon as its previous answer arrived. Requests are counted
when they start after the warm-up and end within the window; a request without an answer is
"lost" (no reply, a dropped connection, or the gRPC status UNAVAILABLE, DEADLINE_EXCEEDED or
CANCELLED), one with an HTTP error or another gRPC status, err_no != 0 or (ours) a top-1 label
(class id for v2) other than the in-process predictor's at the same precision and thread count is
"failed". The in-process row is the same predictor called in a loop from one thread
(no HTTP): the ceiling serving is measured against. Weights are random unless
--inference_model_dir is given (speed does not depend on them). Requests go to loopback
addresses only; every wait is bounded. (Paddle Serving's HTTP gateway itself listens on all
interfaces, which its Go library does not let us change: deploy/paddleserving/README.md.)
"""
from __future__ import annotations

import argparse
import ast
import base64
import http.client
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[0]
sys.path.insert(0, str(HERE))  # cold_start.py's export helper, photos.py
sys.path.insert(0, str(ROOT))  # this checkout's ppcls_hrnet
BUNDLE_DIR = ROOT / "deploy" / "paddleserving"  # bundle.py: start/stop Paddle Serving's pipeline

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SERVING_PYTHON_ENV = "PPCLS_HRNET_SERVING_PYTHON"  # as deploy/paddleserving/bundle.py and the tests

PROTOCOLS = {  # --protocols: what a row's clients send -> its label in the table
    "pipeline": "HTTP pipeline",
    "http_v2": "HTTP v2",
    "grpc_v2": "gRPC v2",
    "pipeline_rpc": "pipeline RPC",
}
GRPC_PROTOCOLS = ("grpc_v2", "pipeline_rpc")
PADDLE_PROTOCOLS = ("pipeline", "pipeline_rpc")  # what Paddle Serving's pipeline speaks
INPROCESS = "in-process"  # the protocol of the in-process rows: none
REQUEST_TIMEOUT = 120.0  # seconds a request may take before it is lost
GRPC_LOST = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED")  # no answer from the service
# a channel per client is a connection per client only with a subchannel pool of its own: gRPC
# otherwise shares one connection among channels to the same address (one worker would get them all)
GRPC_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_send_message_length", 2 ** 31 - 1),
                ("grpc.max_receive_message_length", 2 ** 31 - 1)]


@dataclass
class Run:
    name: str
    precision: str = ""  # asked for ("" for Paddle Serving: its own setup)
    resolved: str = ""  # what it ran, when known and different from what was asked
    workers: str = ""
    protocol: str = "pipeline"  # a PROTOCOLS key, or INPROCESS
    requests: int = 0
    images: int = 0
    failed: int = 0
    lost: int = 0
    seconds: float = 0.0
    latencies: List[float] = field(default_factory=list)
    notes: str = ""

    @property
    def throughput(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    @property
    def label(self) -> str:
        """The configuration and protocol, for the comparison lines."""
        return self.name if self.protocol == INPROCESS else f"{self.name}, {PROTOCOLS[self.protocol]}"

    @property
    def precision_label(self) -> str:
        if not self.precision:
            return self.resolved
        if self.resolved and self.resolved != self.precision:
            return f"{self.precision} → {self.resolved}"
        return self.precision

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def summary(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "latencies"}, "throughput": self.throughput,
                "p50": self.percentile(50), "p99": self.percentile(99)}


# ------------------------------------------------------------------ inputs


def prepare_images(args, work: Path) -> Tuple[List[Path], dict]:
    """The request images and a description of them (source, pixel sizes, mean bytes)."""
    if args.images:
        from ppcls_hrnet.preprocess.images import list_images

        paths = [Path(p) for p in list_images(args.images)][:args.num_images]
        return paths, describe_files(paths, f"the folder {args.images}")
    if args.image_source == "photos":
        from photos import write_photos

        return write_photos(work / "photos", args.num_images, long_side=args.photo_size,
                            photo_dir=args.photo_dir)
    from ppcls_hrnet.data import convert_fashion_mnist

    out = work / "fashion"
    if not (out / "images").is_dir():
        convert_fashion_mnist(str(out), limit_train=10, limit_test=args.num_images, progress=False)
    paths = sorted((out / "images" / "test").rglob("*.png"))[:args.num_images]
    return paths, describe_files(paths, "Fashion-MNIST test images (Debian's dataset-fashion-mnist)")


def describe_files(paths: List[Path], source: str) -> dict:
    import cv2

    sizes = set()
    megapixels = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is not None:
            sizes.add(f"{image.shape[1]}x{image.shape[0]}")
            megapixels.append(image.shape[0] * image.shape[1] / 1e6)
    nbytes = [p.stat().st_size for p in paths]
    return {"source": source, "count": len(paths), "sizes": sorted(sizes),
            "mean_megapixels": round(sum(megapixels) / len(megapixels), 3) if megapixels else 0,
            "mean_bytes": round(sum(nbytes) / len(nbytes)) if nbytes else 0}


def describe_images(info: dict) -> str:
    sizes = info["sizes"] if len(info["sizes"]) <= 6 else info["sizes"][:3] + ["..."] + info["sizes"][-2:]
    extra = f", JPEG quality {info['jpeg_quality']}" if "jpeg_quality" in info else ""
    return (f"{info['count']} images from {info['source']}{extra}: {', '.join(sizes)}; "
            f"mean {info['mean_megapixels']:.2f} MP, {info['mean_bytes'] / 1024:.0f} KiB per file")


def prepare_model(args, work: Path) -> Path:
    if args.inference_model_dir:
        return Path(args.inference_model_dir)
    from cold_start import export_model

    return export_model(args.model, work, args.image_size)


# ------------------------------------------------------------------ load generator


def pipeline_body(data: bytes) -> bytes:
    return json.dumps({"key": ["image"], "value": [base64.b64encode(data).decode("utf8")]}).encode()


def v2_binary_body(data: bytes) -> Tuple[bytes, dict]:
    """(body, headers) of an HTTP v2 infer request with ``data`` as the one element of a BYTES input,
    in Triton's binary tensor extension with every output binary: what tritonclient.http sends by
    default (InferInput BYTES + set_data_from_numpy, no outputs named)."""
    raw = struct.pack("<I", len(data)) + data
    header = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + raw, {"Content-Type": "application/octet-stream",
                          "Inference-Header-Content-Length": str(len(header))}


class Top1(NamedTuple):
    """The in-process predictor's top-1 per image: label (pipeline replies) and class id (v2)."""
    labels: List[str]
    ids: List[int]


class Payloads:
    """Every asked protocol's request per image, built once: the same photos for every row."""

    def __init__(self, images: List[bytes], model_name: str, protocols: List[str]):
        self.model_name = model_name
        self.count = len(images)
        json_headers = {"Content-Type": "application/json"}
        self.pipeline = [(pipeline_body(data), json_headers) for data in images]  # Paddle's HTTP anchor too
        self.http_v2 = [v2_binary_body(data) for data in images] if "http_v2" in protocols else []
        self.pipeline_rpc, self.grpc_v2 = [], []
        if "pipeline_rpc" in protocols:
            from ppcls_hrnet.serving.messages import pipeline as pipeline_pb

            self.pipeline_rpc = [pipeline_pb.Request(key=["image"], value=[base64.b64encode(data).decode("utf8")])
                                 for data in images]
        if "grpc_v2" in protocols:
            import numpy as np
            import tritonclient.grpc as tritongrpc

            for data in images:  # read only by InferenceServerClient.infer: shared by the clients
                tensor = tritongrpc.InferInput("image", [1], "BYTES")
                tensor.set_data_from_numpy(np.array([data], dtype=np.object_))
                self.grpc_v2.append(tensor)


class Lost(Exception):
    """A request without an answer: no reply, a dropped connection, a transport-level gRPC status."""


def loopback(host: Optional[str], what: str) -> None:
    if host not in LOOPBACK:
        raise SystemExit(f"{what}: this benchmark sends only to loopback addresses")


def split_address(address: str) -> Tuple[str, int]:
    """HOST:PORT or [V6]:PORT -> (host, port); SystemExit unless loopback."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise SystemExit(f"{address}: give the gRPC address as HOST:PORT")
    loopback(host, address)
    return host, int(port)


def grpc_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pipeline_answer_ok(reply_value: List[str], err_no: int, expected: Optional[str]) -> bool:
    """PaddleClas's reply (HTTP or RPC): err_no 0 and, when known, the top-1 label expected (the first
    value is the str() of the label list)."""
    return err_no == 0 and (expected is None or ast.literal_eval(reply_value[0]) == [expected])


def v2_http_top1(response: http.client.HTTPResponse, raw: bytes) -> int:
    """The first class id of an HTTP v2 reply, binary (Inference-Header-Content-Length) or JSON."""
    size = response.getheader("Inference-Header-Content-Length")
    header, binary = (json.loads(raw), b"") if size is None else (json.loads(raw[:int(size)]), raw[int(size):])
    offset = 0
    for output in header["outputs"]:
        nbytes = (output.get("parameters") or {}).get("binary_data_size")
        if output["name"] == "class_ids":
            if nbytes is None:
                return int(output["data"][0])
            return struct.unpack_from("<q", binary, offset)[0]  # INT64 [1, k], row-major: top-1 first
        offset += nbytes or 0
    raise KeyError("the reply has no class_ids output")


class HttpClient:
    """One client of an HTTP protocol: a keep-alive connection (``reconnect``: one per request)."""

    def __init__(self, url: str, requests: List[Tuple[bytes, dict]],
                 check: Callable[[http.client.HTTPResponse, bytes, int], bool], reconnect: bool):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.requests, self.check, self.reconnect = requests, check, reconnect
        self.conn: Optional[http.client.HTTPConnection] = None

    def call(self, item: int) -> bool:
        body, headers = self.requests[item]
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
            self.conn.request("POST", self.path, body=body, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            raise Lost(str(err)) from None
        if self.reconnect:  # a new connection per request, as requests.post() makes
            self.close()
        if response.status != 200:
            return False
        try:
            return self.check(response, raw, item)
        except (ValueError, KeyError, IndexError, TypeError, SyntaxError, struct.error):
            return False  # an answer, not the one expected

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class PipelineRpcClient:
    """One client of Paddle Serving's pipeline RPC: a gRPC channel (connection) of its own."""

    def __init__(self, target: str, requests: list, expected: Optional[List[str]]):
        import grpc

        from ppcls_hrnet.serving.messages import PIPELINE_SERVICE
        from ppcls_hrnet.serving.messages import pipeline as pipeline_pb

        self.grpc, self.requests, self.expected = grpc, requests, expected
        self.channel = grpc.insecure_channel(target, options=GRPC_OPTIONS)
        self.stub = self.channel.unary_unary(f"/{PIPELINE_SERVICE}/inference",
                                             request_serializer=pipeline_pb.Request.SerializeToString,
                                             response_deserializer=pipeline_pb.Response.FromString)

    def call(self, item: int) -> bool:
        try:
            reply = self.stub(self.requests[item], timeout=REQUEST_TIMEOUT)
        except self.grpc.RpcError as err:
            if err.code().name in GRPC_LOST:
                raise Lost(str(err.code())) from None
            return False
        try:
            return pipeline_answer_ok(list(reply.value), reply.err_no,
                                      None if self.expected is None else self.expected[item])
        except (ValueError, IndexError, SyntaxError):
            return False

    def close(self) -> None:
        self.channel.close()


class TritonGrpcClient:
    """One client of the Open Inference Protocol over gRPC: a tritonclient.grpc InferenceServerClient
    (its own channel and connection)."""

    def __init__(self, target: str, payloads: Payloads, expected: Optional[List[int]]):
        import tritonclient.grpc as tritongrpc
        from tritonclient.utils import InferenceServerException

        self.error, self.payloads, self.expected = InferenceServerException, payloads, expected
        self.client = tritongrpc.InferenceServerClient(url=target, channel_args=GRPC_OPTIONS)

    def call(self, item: int) -> bool:
        try:
            result = self.client.infer(self.payloads.model_name, [self.payloads.grpc_v2[item]],
                                       client_timeout=REQUEST_TIMEOUT)
        except self.error as err:
            if str(err.status()).rpartition(".")[2] in GRPC_LOST:
                raise Lost(str(err)) from None
            return False
        ids = result.as_numpy("class_ids")
        return ids is not None and ids.size > 0 and (self.expected is None or
                                                     int(ids.reshape(-1)[0]) == self.expected[item])

    def close(self) -> None:
        self.client.close()


def client_factory(protocol: str, address: str, payloads: Payloads, top1: Optional[Top1],
                   reconnect: bool) -> Callable[[], object]:
    """What makes one client of a row: ``address`` is the pipeline URL (pipeline), the server's base
    URL (http_v2) or the gRPC HOST:PORT; ``top1`` None: no top-1 check (Paddle Serving)."""
    labels = top1.labels if top1 is not None else None
    ids = top1.ids if top1 is not None else None
    if protocol == "pipeline":
        loopback(urllib.parse.urlsplit(address).hostname, address)

        def check(response, raw, item):
            reply = json.loads(raw)
            return pipeline_answer_ok(reply.get("value"), reply.get("err_no"),
                                      None if labels is None else labels[item])

        return lambda: HttpClient(address, payloads.pipeline, check, reconnect)
    if protocol == "http_v2":
        loopback(urllib.parse.urlsplit(address).hostname, address)
        url = f"{address}/v2/models/{urllib.parse.quote(payloads.model_name)}/infer"

        def check_v2(response, raw, item):
            top = v2_http_top1(response, raw)
            return ids is None or top == ids[item]

        return lambda: HttpClient(url, payloads.http_v2, check_v2, reconnect)
    target = grpc_target(*split_address(address))
    if protocol == "pipeline_rpc":
        return lambda: PipelineRpcClient(target, payloads.pipeline_rpc, labels)
    if protocol == "grpc_v2":
        return lambda: TritonGrpcClient(target, payloads, ids)
    raise ValueError(f"unknown protocol {protocol!r}")


def run_clients(connect: Callable[[], object], count: int, concurrency: int, warmup: float, duration: float,
                run: Run) -> Run:
    """One measured slice into ``run`` (a fresh Run of the same name and labels): ``concurrency``
    clients made by ``connect`` sending the ``count`` images in turn."""
    lock = threading.Lock()
    start = time.monotonic()
    window = (start + warmup, start + warmup + duration)

    def client(index: int):
        agent = connect()
        position = index
        try:
            while time.monotonic() < window[1]:
                item = position % count
                position += 1
                began = time.monotonic()
                try:
                    outcome = "ok" if agent.call(item) else "failed"
                except Lost:
                    outcome = "lost"
                ended = time.monotonic()
                if began >= window[0] and ended <= window[1]:
                    with lock:
                        run.requests += 1
                        if outcome == "ok":
                            run.images += 1
                            run.latencies.append(ended - began)
                        elif outcome == "failed":
                            run.failed += 1
                        else:
                            run.lost += 1
                elif outcome != "ok" and began >= window[0]:
                    with lock:  # an error just after the window still counts as one
                        run.failed += outcome == "failed"
                        run.lost += outcome == "lost"
        finally:
            agent.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(warmup + duration + REQUEST_TIMEOUT + 60)
    run.seconds = duration
    return run


def run_inprocess(predictor, images: List[bytes], warmup: float, duration: float, run: Run) -> Run:
    start = time.monotonic()
    window = (start + warmup, start + warmup + duration)
    position = 0
    while time.monotonic() < window[1]:
        began = time.monotonic()
        (result,) = predictor.predict_encoded([images[position % len(images)]])
        ended = time.monotonic()
        position += 1
        if began >= window[0] and ended <= window[1]:
            run.requests += 1
            if "error" in result:
                run.failed += 1
            else:
                run.images += 1
                run.latencies.append(ended - began)
    run.seconds = duration
    return run


def fresh(template: Run) -> Run:
    """An empty Run with ``template``'s name and labels: one slice's counts."""
    return Run(template.name, template.precision, template.resolved, template.workers, template.protocol)


def merge(total: Optional[Run], part: Run) -> Run:
    if total is None:
        return part
    total.requests += part.requests
    total.images += part.images
    total.failed += part.failed
    total.lost += part.lost
    total.seconds += part.seconds
    total.latencies += part.latencies
    return total


# ------------------------------------------------------------------ the configurations


def create_inprocess(model_dir: Path, precision: str, threads: int):
    """A predictor at ``precision`` (auto included); SystemExit with the reason when it is refused."""
    from ppcls_hrnet.api import create_predictor
    from ppcls_hrnet.errors import HRNetError

    try:
        return create_predictor(inference_model_dir=str(model_dir), cpu_num_threads=threads, precision=precision)
    except (HRNetError, RuntimeError, ValueError) as err:
        raise SystemExit(f"precision {precision}: the predictor refused it ({type(err).__name__}: {err})") from None


def inprocess_precision(predictor, requested: str) -> str:
    """What an in-process predictor runs: its options after auto (read defensively)."""
    for holder in (predictor, getattr(predictor, "options", None), getattr(predictor, "engine", None)):
        value = getattr(holder, "precision", None) if holder is not None else None
        if isinstance(value, str) and value and value != "auto":
            return value
    return "" if requested == "auto" else requested


def top1(predictor, images: List[bytes]) -> Top1:
    labels, ids = [], []
    for result in predictor.predict_encoded(images):
        if "error" in result:
            raise SystemExit(f"the in-process predictor cannot predict {result.get('file_name')}: {result['error']}")
        name = result["label_names"][0] if result["label_names"] else str(result["class_ids"][0])
        labels.append(name.strip().replace(",", ""))
        ids.append(int(result["class_ids"][0]))
    return Top1(labels, ids)


class Expected:
    """The in-process predictor's top-1 (label and class id) per image at a (precision, threads): what
    a server at that precision and thread count must answer (bf16's top-1 of a random-weight model
    may change with the threads' summation order, so the same thread count is used)."""

    def __init__(self, model_dir: Path, images: List[bytes]):
        self.model_dir, self.images = model_dir, images
        self.top1: Dict[Tuple[str, int], Top1] = {}
        self.resolved: Dict[Tuple[str, int], str] = {}

    def add(self, precision: str, threads: int, predictor) -> Top1:
        key = (precision, threads)
        if key not in self.top1:
            self.top1[key] = top1(predictor, self.images)
            self.resolved[key] = inprocess_precision(predictor, precision)
        return self.top1[key]

    def get(self, precision: str, threads: int) -> Top1:
        if (precision, threads) not in self.top1:
            predictor = create_inprocess(self.model_dir, precision, threads)
            self.add(precision, threads, predictor)
            del predictor
        return self.top1[(precision, threads)]


def served_precision(base_url: str, model_name: str) -> str:
    """What our server says it runs: GET /v2/models/<name>, ``parameters.precision`` (or a top-level
    ``precision``); "" when it does not say."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}/v2/models/{urllib.parse.quote(model_name)}", timeout=10) as response:
            metadata = json.loads(response.read())
    except (OSError, ValueError):
        return ""
    if not isinstance(metadata, dict):
        return ""
    parameters = metadata.get("parameters") if isinstance(metadata.get("parameters"), dict) else {}
    value = parameters.get("precision") or metadata.get("precision")
    return value if isinstance(value, str) else ""


def wait_grpc(host: str, port: int, timeout: float) -> None:
    """Until a gRPC channel to host:port connects (the workers listen beside HTTP); RuntimeError if not."""
    import grpc

    with grpc.insecure_channel(grpc_target(host, port), options=GRPC_OPTIONS) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise RuntimeError(f"nothing answers gRPC on {host}:{port} within {timeout:.0f} s") from None


def start_ours(model_dir: Path, model_name: str, precision: str, workers: int, threads: int, args, work: Path,
               pinning: Optional[bool], grpc_port: Optional[int] = None):
    """(template Run, ServerProcess): the server started and ready (HTTP, and gRPC on ``grpc_port``)."""
    from ppcls_hrnet.evaluation.server_process import ServerProcess

    extra = [] if pinning is None else ["--cpu_pinning", str(pinning)]
    if grpc_port is not None:
        extra += ["--grpc_port", str(grpc_port)]
    tag = f"{precision}_{workers}w" + ("" if pinning is None else f"_pin{int(pinning)}")
    server = ServerProcess(["--inference_model_dir", str(model_dir), "--workers", str(workers),
                            "--threads", str(threads), "--precision", precision,
                            "--max_queue", str(max(32, 2 * args.concurrency)), *extra],
                           log_path=work / f"serve_{tag}.log").start()
    try:
        server.wait_ready(timeout=300)
        if grpc_port is not None:
            wait_grpc(server.host, grpc_port, timeout=60)
    except RuntimeError as err:
        server.stop(timeout=30)
        tail = "\n".join(str(err).splitlines()[-15:])
        raise SystemExit(f"ppcls-hrnet serve --precision {precision} --workers {workers} did not start:\n{tail}") from None
    resolved = served_precision(server.url, model_name)
    label = f"{precision} → {resolved}" if resolved and resolved != precision else precision
    name = (f"ppcls-hrnet serve, {label}, {workers} worker{'s' if workers > 1 else ''} x {threads} "
            f"thread{'s' if threads > 1 else ''}")
    if pinning is not None:
        name += f", OpenVINO pinning {'on' if pinning else 'off'}"
    elif workers > 1:
        name += " (pinning off, the default)"
    return Run(name, precision, resolved, str(workers)), server


def paddle_serving_model(model_dir: Path, work: Path) -> Path:
    """``model_dir`` when it has Paddle Serving's prototxt, else a copy in the work dir with it written
    (our export has the legacy inference.pdmodel it needs); the given folder is never changed."""
    if (model_dir / "serving_server_conf.prototxt").is_file():
        return model_dir
    from ppcls_hrnet.export.serving import write_serving_confs

    copy = work / "paddle_serving_model"
    if not (copy / "serving_server_conf.prototxt").is_file():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(model_dir, copy)
        write_serving_confs(copy)
    return copy


def start_paddle_serving(model_dir: Path, args, work: Path):
    """Paddle Serving 0.9's pipeline (deploy/paddleserving bundle, its config.yml) on free loopback
    ports, in its Python 3.8 venv; (bundle, description). Stopped by the caller (bundle.stop())."""
    python = args.paddle_serving_python or os.environ.get(SERVING_PYTHON_ENV)
    if not python or not Path(python).is_file():
        raise SystemExit(f"--start_paddle_serving: no Python for Paddle Serving ({python or 'none given'}): pass "
                         f"--paddle_serving_python or set {SERVING_PYTHON_ENV} (a venv from "
                         "`bash deploy/paddleserving/setup_venv.sh DIR`: DIR/bin/python)")
    sys.path.insert(0, str(BUNDLE_DIR))
    import yaml
    from bundle import DEFAULT_CONFIG, BundleError, PaddleServingBundle

    serving_model = paddle_serving_model(model_dir, work)
    conf = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))["op"]["imagenet"]
    local = conf["local_service_conf"]
    setup = (f"op concurrency {conf.get('concurrency', 1)} x thread_num {local.get('thread_num', 1)}, "
             f"oneDNN {'on' if local.get('use_mkldnn') else 'off'}")
    bundle = PaddleServingBundle(serving_model, python=python, work_dir=work / "paddle_serving")
    print(f"starting Paddle Serving's pipeline ({python}; {setup}) ...", flush=True)
    try:
        bundle.start(timeout=args.paddle_serving_timeout)
    except BundleError as err:
        raise SystemExit(f"--start_paddle_serving: {err}") from None
    return bundle, setup


# ------------------------------------------------------------------ report


def paddle_anchor(paddle_rows: List[Run]) -> Optional[Run]:
    """The row every other is compared with: Paddle Serving's pipeline RPC when measured, else its
    HTTP pipeline."""
    by_protocol = {run.protocol: run for run in paddle_rows}
    return by_protocol.get("pipeline_rpc") or by_protocol.get("pipeline")


def table(runs: List[Run], anchor: Optional[Run]) -> str:
    base = anchor.throughput if anchor is not None else 0.0
    against = "vs Paddle Serving RPC" if anchor is not None and anchor.protocol == "pipeline_rpc" else \
        "vs Paddle Serving"
    lines = [("| configuration | protocol | precision | workers | images/s | p50 ms | p99 ms | p99/p50 | requests "
              f"| failed | lost | {against} |"),
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        p50, p99 = run.percentile(50), run.percentile(99)
        ratio = f"{run.throughput / base:.2f}x" if base and run is not anchor else ("1.00x" if base else "-")
        protocol = "-" if run.protocol == INPROCESS else PROTOCOLS[run.protocol]
        lines.append(f"| {run.name} | {protocol} | {run.precision_label or '-'} | {run.workers or '-'} | "
                     f"{run.throughput:.1f} | {1000 * p50:.0f} | {1000 * p99:.0f} | {p99 / p50:.2f} | "
                     f"{run.requests} | {run.failed} | {run.lost} | {ratio} |")
    return "\n".join(lines)


def comparisons(ours: List[Run], inprocess: Dict[str, Run], paddle_rows: List[Run],
                paddle_reference: float) -> List[str]:
    """Per configuration and protocol of our server: errors, tail latency and throughput against the
    others (the in-process predictor at the same precision; Paddle Serving's anchor row and its row
    of the same protocol; docs/benchmarks.md reads them against the serving goals)."""
    anchor = paddle_anchor(paddle_rows)
    same_protocol = {run.protocol: run for run in paddle_rows}
    lines = []
    for run in ours:
        lines.append(f"{run.label}: {run.failed} failed, {run.lost} lost requests; "
                     f"p99 {run.percentile(99) / run.percentile(50):.2f}x p50")
        same = inprocess.get(run.precision)
        if same is not None and same.throughput:
            lines.append(f"{run.label}: {run.throughput / same.throughput:.2f}x the in-process predictor's "
                         f"images/s at {same.precision_label}")
        if anchor is not None:
            if anchor.throughput:
                lines.append(f"{run.label}: {run.throughput / anchor.throughput:.2f}x Paddle Serving's "
                             f"{PROTOCOLS[anchor.protocol]} ({anchor.throughput:.1f} img/s, measured in this run)")
            other = same_protocol.get(run.protocol)
            if other is not None and other is not anchor and other.throughput:
                lines.append(f"{run.label}: {run.throughput / other.throughput:.2f}x Paddle Serving's "
                             f"{PROTOCOLS[other.protocol]} ({other.throughput:.1f} img/s, measured in this run)")
        elif paddle_reference:
            lines.append(f"{run.label}: {run.throughput / paddle_reference:.2f}x Paddle Serving's HTTP pipeline "
                         f"({paddle_reference:.1f} img/s, reference, not measured in this run)")
    return lines


PROTOCOL_NOTES = {
    "pipeline": "HTTP pipeline = POST /imagenet/prediction, JSON with the image in base64",
    "http_v2": "HTTP v2 = POST /v2/models/<name>/infer, the image as a BYTES input in the binary tensor "
               "extension, binary outputs (tritonclient.http's defaults)",
    "grpc_v2": "gRPC v2 = GRPCInferenceService/ModelInfer through tritonclient.grpc (raw_input_contents)",
    "pipeline_rpc": "pipeline RPC = Paddle Serving's PipelineService/inference, key/value with the image in base64",
}


def row_key(template: Run) -> str:
    return f"{template.name} [{template.protocol}]"


def add_row(measured: dict, template: Run, connect: Callable[[], object], count: int, args) -> None:
    measured[row_key(template)] = (template, lambda seconds, run: run_clients(
        connect, count, args.concurrency, args.warmup, seconds, run))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="HRNet_W18_C", help="exported with random weights into --work_dir")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--inference_model_dir", default=None, help="benchmark this export instead")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "auto"],
                        help="our server (`serve --precision P`) and the in-process predictor at each "
                             "(default: fp32 auto; auto is bf16 on CPUs with native bf16, else fp32)")
    parser.add_argument("--images", default=None, help="an image folder, sent as its files are (instead of photos)")
    parser.add_argument("--image_source", choices=["photos", "fashion_mnist"], default="photos",
                        help="without --images: photo-sized JPEGs of real photographs (default; Debian's "
                             "mate-backgrounds, benchmarks/photos.py) or 28x28 Fashion-MNIST test PNGs")
    parser.add_argument("--num_images", type=int, default=64, help="images sent in turn (default 64)")
    parser.add_argument("--photo_size", type=int, default=1600,
                        help="photos: long side in pixels, scaled down only (default 1600; 0: native size)")
    parser.add_argument("--photo_dir", default=None, help="photos: another folder of photographs "
                        "(default /usr/share/backgrounds/mate/nature, `apt-get install mate-backgrounds`)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per configuration")
    parser.add_argument("--rounds", type=int, default=6, help="slices the duration is measured in, "
                        "configurations taking turns (default 6)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measured slice")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="our server's worker counts")
    parser.add_argument("--compare_pinning", action="store_true",
                        help="also run the multi-worker servers with OpenVINO's CPU pinning on")
    parser.add_argument("--no_inprocess", action="store_true")
    parser.add_argument("--reconnect", action="store_true",
                        help="HTTP protocols: a new connection per request (PaddleClas's pipeline_http_client.py "
                             "calls requests.post without a session); default: one keep-alive connection per "
                             "client (gRPC: always one channel per client)")
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=["pipeline"],
                        help="what the clients send, a row per configuration and protocol: pipeline (PaddleClas's "
                             "HTTP pipeline, the default), http_v2 (POST /v2/models/<name>/infer, binary BYTES), "
                             "grpc_v2 (GRPCInferenceService/ModelInfer, tritonclient.grpc), pipeline_rpc (Paddle "
                             "Serving's PipelineService/inference); our server gets --grpc_port for the gRPC ones")
    parser.add_argument("--paddle_serving_url", default=None,
                        help="Paddle Serving's pipeline on the same model, e.g. http://127.0.0.1:18080/imagenet/prediction")
    parser.add_argument("--paddle_serving_rpc", default=None, metavar="HOST:PORT",
                        help="with --paddle_serving_url: that bundle's pipeline RPC (its config.yml rpc_port, "
                             "e.g. 127.0.0.1:9993), for --protocols pipeline_rpc")
    parser.add_argument("--start_paddle_serving", action="store_true",
                        help="start Paddle Serving's pipeline here (deploy/paddleserving bundle and its config.yml, "
                             "free loopback ports, the same model with its serving prototxt) and stop it at the end")
    parser.add_argument("--paddle_serving_python", default=None,
                        help=f"the Python 3.8 venv's python for --start_paddle_serving (default ${SERVING_PYTHON_ENV})")
    parser.add_argument("--paddle_serving_timeout", type=float, default=300.0,
                        help="seconds --start_paddle_serving waits for its first answer (default 300)")
    parser.add_argument("--paddle_serving_reference", type=float, default=5.1,
                        help="img/s to compare with when Paddle Serving is not measured (measured here earlier; 0: none)")
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.start_paddle_serving and args.paddle_serving_url:
        parser.error("give --start_paddle_serving or --paddle_serving_url, not both")
    if args.paddle_serving_rpc and not args.paddle_serving_url:
        parser.error("--paddle_serving_rpc goes with --paddle_serving_url (--start_paddle_serving knows its port)")
    if args.photo_dir is None:
        from photos import PHOTO_DIR

        args.photo_dir = PHOTO_DIR
    precisions = list(dict.fromkeys(args.precisions))
    protocols = list(dict.fromkeys(args.protocols))

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="ppcls_hrnet_serve_load_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PPCLS_HRNET_HOME", str(work / "home"))
    paths, image_info = prepare_images(args, work)  # first: a missing photo package stops before the export
    if not paths:
        raise SystemExit("no images to send")
    model_dir = prepare_model(args, work)
    from ppcls_hrnet.evaluation.server_process import free_port
    from ppcls_hrnet.runtime.contract import read_deploy_config

    model_name = read_deploy_config(model_dir).model_name
    images = [p.read_bytes() for p in paths]
    payloads = Payloads(images, model_name, protocols)
    print(f"{model_dir}: {describe_images(image_info)}", flush=True)
    print(f"{args.concurrency} clients, {args.duration:g} s each after {args.warmup:g} s warm-up; precisions "
          f"{', '.join(precisions)}; workers {', '.join(map(str, args.workers)) or 'none'}; protocols "
          f"{', '.join(protocols)}", flush=True)

    # Every configuration runs in turn, in short slices over --rounds rounds, so that load from
    # other processes on a shared machine slows them alike; servers idle while not measured.
    cores = len(os.sched_getaffinity(0))
    measured = {}  # key -> (template Run, callable(slice seconds, Run) -> Run); key: name [protocol]
    totals: Dict[str, Optional[Run]] = {}
    names: List[str] = []
    servers = []  # (keys of its rows, ServerProcess)
    bundle = None
    paddle_info = None
    predictors = []
    expected = Expected(model_dir, images)
    load_before = load_after = (float("nan"),) * 3
    try:
        paddle_url, paddle_rpc = args.paddle_serving_url, args.paddle_serving_rpc
        if args.start_paddle_serving:
            bundle, setup = start_paddle_serving(model_dir, args, work)
            paddle_url, paddle_rpc = bundle.url, f"127.0.0.1:{bundle.rpc_port}"
            paddle_info = {"started_here": True, "python": args.paddle_serving_python or
                           os.environ.get(SERVING_PYTHON_ENV), "setup": setup, "url": paddle_url,
                           "rpc": paddle_rpc}
        elif paddle_url:
            paddle_info = {"started_here": False, "url": paddle_url, "rpc": paddle_rpc}
        for precision in precisions:
            if not args.no_inprocess:
                predictor = create_inprocess(model_dir, precision, cores)
                predictors.append(predictor)
                expected.add(precision, cores, predictor)
                resolved = inprocess_precision(predictor, precision)
                label = f"{precision} → {resolved}" if resolved and resolved != precision else precision
                template = Run(f"in-process predictor ({predictor.backend}, {label}, {cores} threads, 1 caller)",
                               precision, resolved, "-", INPROCESS)
                measured[template.name] = (template, lambda seconds, run, p=predictor: run_inprocess(
                    p, images, args.warmup, seconds, run))
            for workers in args.workers:
                threads = max(1, cores // workers)
                answers = expected.get(precision, threads)
                for pinning in ([None, True] if args.compare_pinning and workers > 1 else [None]):
                    grpc_port = free_port() if any(p in GRPC_PROTOCOLS for p in protocols) else None
                    base, server = start_ours(model_dir, model_name, precision, workers, threads, args, work,
                                              pinning, grpc_port)
                    keys = []
                    for protocol in protocols:
                        address = {"pipeline": server.url + "/imagenet/prediction", "http_v2": server.url}.get(
                            protocol, f"{server.host}:{grpc_port}")
                        template = Run(base.name, base.precision, base.resolved, base.workers, protocol)
                        add_row(measured, template, client_factory(protocol, address, payloads, answers,
                                                                   args.reconnect), payloads.count, args)
                        keys.append(row_key(template))
                    servers.append((keys, server))
        if paddle_url:
            if bundle is not None:
                name = f"Paddle Serving 0.9 pipeline (deploy/paddleserving bundle: {paddle_info['setup']})"
            else:
                name = "Paddle Serving 0.9 pipeline (PaddleClas's classification_web_service)"
            spoken = [p for p in protocols if p in PADDLE_PROTOCOLS] or ["pipeline"]  # its HTTP anchor at least
            if "pipeline_rpc" in spoken and not paddle_rpc:
                print("Paddle Serving's pipeline RPC: no address (--paddle_serving_rpc HOST:PORT); its HTTP "
                      "pipeline only", flush=True)
                spoken = [p for p in spoken if p != "pipeline_rpc"] or ["pipeline"]
            for protocol in spoken:
                template = Run(name, "", "fp32 (Paddle Inference)", "-", protocol)
                address = paddle_url if protocol == "pipeline" else paddle_rpc
                add_row(measured, template, client_factory(protocol, address, payloads, None, args.reconnect),
                        payloads.count, args)
        print(f"{len(measured)} configurations ready", flush=True)
        time.sleep(1.0)
        load_before = os.getloadavg()
        names = list(measured)  # row keys
        totals = {name: None for name in names}
        slice_seconds = args.duration / args.rounds
        for round_no in range(args.rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for name in order:
                template, measure = measured[name]
                totals[name] = merge(totals[name], measure(slice_seconds, fresh(template)))
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
        load_after = os.getloadavg()
    finally:
        for keys, server in servers:
            code = server.stop()
            for key in keys:
                if code != 0 and totals.get(key) is not None:
                    totals[key].notes = f"server exited with {code} on SIGTERM"
        if bundle is not None:
            bundle.stop()
    runs: List[Run] = [totals[name] for name in names]
    inprocess = {r.precision: r for r in runs if r.protocol == INPROCESS}
    paddle_rows = [r for r in runs if r.name.startswith("Paddle Serving")]
    anchor = paddle_anchor(paddle_rows)
    ours = [r for r in runs if r.name.startswith("ppcls-hrnet")]

    from ppcls_hrnet.evaluation.environment import environment

    env = environment()
    print()
    print(f"Command: `python benchmarks/serve_load.py {' '.join(argv if argv is not None else sys.argv[1:])}`")
    print(f"Machine: {env['cpu']}, {env['logical_cores']} logical cores; Python {env['python']}, "
          f"openvino {env['openvino']}; {env['date']}; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after (other processes share these cores)")
    print(f"Images: {describe_images(image_info)}")
    print(f"Each row: {args.duration:g} s measured in {args.rounds} slices, every slice after {args.warmup:g} s of "
          f"load; {args.concurrency} clients, each with a connection of its own; configurations interleaved.")
    print(f"Protocols: {'; '.join(PROTOCOL_NOTES[p] for p in protocols)}.")
    print()
    print(table(runs, anchor))
    print()
    results = comparisons(ours, inprocess, paddle_rows, args.paddle_serving_reference)
    print("\n".join(results))
    for run in runs:
        if run.notes:
            print(f"{run.label}: {run.notes}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model_dir": str(model_dir), "concurrency": args.concurrency, "duration": args.duration,
            "rounds": args.rounds, "warmup": args.warmup, "precisions": precisions, "protocols": protocols,
            "images": image_info, "paddle_serving": paddle_info,
            "anchor": None if anchor is None else {"name": anchor.name, "protocol": anchor.protocol}, "load_average": [load_before[0], load_after[0]],
            "runs": [r.summary() for r in runs], "comparisons": results}, indent=1, ensure_ascii=False))
    return 0 if all(r.failed == 0 and r.lost == 0 for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
