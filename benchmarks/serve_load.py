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
setup (Paddle Inference fp32, oneDNN): one row.

Every client keeps one HTTP/1.1 connection (--reconnect: one per request) and sends PaddleClas's pipeline request
(`{"key": ["image"], "value": [<base64>]}`, one image per request, images in turn) as soon as
its previous answer arrived. Requests are counted when they start after the warm-up and end
within the window; a request without an answer is "lost", one with an HTTP error, err_no != 0
or (ours) a top-1 label other than the in-process predictor's at the same precision and thread
count is "failed". The in-process row is the same predictor called in a loop from one thread
(no HTTP): the ceiling serving is measured against. Weights are random unless
--inference_model_dir is given (speed does not depend on them). Requests go to loopback
addresses only; every wait is bounded. (Paddle Serving's HTTP gateway itself listens on all
interfaces, which its Go library does not let us change: deploy/paddleserving/README.md.)
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[0]
sys.path.insert(0, str(HERE))  # cold_start.py's export helper, photos.py
sys.path.insert(0, str(ROOT))  # this checkout's ppcls_hrnet
BUNDLE_DIR = ROOT / "deploy" / "paddleserving"  # bundle.py: start/stop Paddle Serving's pipeline

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SERVING_PYTHON_ENV = "PPCLS_HRNET_SERVING_PYTHON"  # as deploy/paddleserving/bundle.py and the tests


@dataclass
class Run:
    name: str
    precision: str = ""  # asked for ("" for Paddle Serving: its own setup)
    resolved: str = ""  # what it ran, when known and different from what was asked
    workers: str = ""
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


def run_clients(url: str, bodies: List[bytes], expected: Optional[List[str]], concurrency: int, warmup: float,
                duration: float, run: Run, headers: Optional[dict] = None, reconnect: bool = False) -> Run:
    """One measured slice into ``run`` (a fresh Run of the same name and labels)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"{url}: this benchmark sends only to loopback addresses")
    lock = threading.Lock()
    start = time.monotonic()
    window = (start + warmup, start + warmup + duration)

    def client(index: int):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        position = index
        while time.monotonic() < window[1]:
            item = position % len(bodies)
            position += 1
            began = time.monotonic()
            outcome = "ok"
            try:
                conn.request("POST", parts.path, body=bodies[item],
                             headers={"Content-Type": "application/json", **(headers or {})})
                response = conn.getresponse()
                raw = response.read()
                if response.status != 200:
                    outcome = "failed"
                else:
                    reply = json.loads(raw)
                    if reply.get("err_no") != 0:
                        outcome = "failed"
                    elif expected is not None and eval(reply["value"][0], {}) != [expected[item]]:  # noqa: S307
                        outcome = "failed"  # a wrong answer
            except (OSError, http.client.HTTPException, ValueError):
                outcome = "lost"
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            if reconnect and outcome != "lost":  # a new connection per request, as requests.post() makes
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
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
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(warmup + duration + 180)
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
    return Run(template.name, template.precision, template.resolved, template.workers)


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


def top1_labels(predictor, images: List[bytes]) -> List[str]:
    labels = []
    for result in predictor.predict_encoded(images):
        if "error" in result:
            raise SystemExit(f"the in-process predictor cannot predict {result.get('file_name')}: {result['error']}")
        name = result["label_names"][0] if result["label_names"] else str(result["class_ids"][0])
        labels.append(name.strip().replace(",", ""))
    return labels


class Expected:
    """The in-process predictor's top-1 label per image at a (precision, threads): what a server
    at that precision and thread count must answer (bf16's top-1 of a random-weight model may
    change with the threads' summation order, so the same thread count is used)."""

    def __init__(self, model_dir: Path, images: List[bytes]):
        self.model_dir, self.images = model_dir, images
        self.labels: Dict[Tuple[str, int], List[str]] = {}
        self.resolved: Dict[Tuple[str, int], str] = {}

    def add(self, precision: str, threads: int, predictor) -> List[str]:
        key = (precision, threads)
        if key not in self.labels:
            self.labels[key] = top1_labels(predictor, self.images)
            self.resolved[key] = inprocess_precision(predictor, precision)
        return self.labels[key]

    def get(self, precision: str, threads: int) -> List[str]:
        if (precision, threads) not in self.labels:
            predictor = create_inprocess(self.model_dir, precision, threads)
            self.add(precision, threads, predictor)
            del predictor
        return self.labels[(precision, threads)]


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


def start_ours(model_dir: Path, model_name: str, precision: str, workers: int, threads: int, args, work: Path,
               pinning: Optional[bool]):
    from ppcls_hrnet.evaluation.server_process import ServerProcess

    extra = [] if pinning is None else ["--cpu_pinning", str(pinning)]
    tag = f"{precision}_{workers}w" + ("" if pinning is None else f"_pin{int(pinning)}")
    server = ServerProcess(["--inference_model_dir", str(model_dir), "--workers", str(workers),
                            "--threads", str(threads), "--precision", precision,
                            "--max_queue", str(max(32, 2 * args.concurrency)), *extra],
                           log_path=work / f"serve_{tag}.log").start()
    try:
        server.wait_ready(timeout=300)
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


def table(runs: List[Run], paddle: Optional[Run]) -> str:
    base = paddle.throughput if paddle is not None else 0.0
    lines = [("| configuration | precision | workers | images/s | p50 ms | p99 ms | p99/p50 | requests | failed "
              "| lost | vs Paddle Serving |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        p50, p99 = run.percentile(50), run.percentile(99)
        ratio = f"{run.throughput / base:.2f}x" if base and run is not paddle else ("1.00x" if base else "-")
        lines.append(f"| {run.name} | {run.precision_label or '-'} | {run.workers or '-'} | {run.throughput:.1f} | "
                     f"{1000 * p50:.0f} | {1000 * p99:.0f} | {p99 / p50:.2f} | {run.requests} | {run.failed} | "
                     f"{run.lost} | {ratio} |")
    return "\n".join(lines)


def comparisons(ours: List[Run], inprocess: Dict[str, Run], paddle: Optional[Run],
                paddle_reference: float) -> List[str]:
    """Per configuration of our server: errors, tail latency and throughput against the others
    (the in-process predictor at the same precision; docs/benchmarks.md reads them against the
    serving goals)."""
    lines = []
    for run in ours:
        lines.append(f"{run.name}: {run.failed} failed, {run.lost} lost requests; "
                     f"p99 {run.percentile(99) / run.percentile(50):.2f}x p50")
        same = inprocess.get(run.precision)
        if same is not None and same.throughput:
            lines.append(f"{run.name}: {run.throughput / same.throughput:.2f}x the in-process predictor's "
                         f"images/s at {same.precision_label}")
        base = paddle.throughput if paddle is not None else paddle_reference
        if base:
            source = "measured in this run" if paddle is not None else "reference, not measured in this run"
            lines.append(f"{run.name}: {run.throughput / base:.2f}x Paddle Serving's pipeline "
                         f"({base:.1f} img/s, {source})")
    return lines


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
                        help="a new connection per request (PaddleClas's pipeline_http_client.py calls "
                             "requests.post without a session); default: one keep-alive connection per client")
    parser.add_argument("--paddle_serving_url", default=None,
                        help="Paddle Serving's pipeline on the same model, e.g. http://127.0.0.1:18080/imagenet/prediction")
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
    if args.photo_dir is None:
        from photos import PHOTO_DIR

        args.photo_dir = PHOTO_DIR
    precisions = list(dict.fromkeys(args.precisions))

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="ppcls_hrnet_serve_load_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PPCLS_HRNET_HOME", str(work / "home"))
    paths, image_info = prepare_images(args, work)  # first: a missing photo package stops before the export
    if not paths:
        raise SystemExit("no images to send")
    model_dir = prepare_model(args, work)
    from ppcls_hrnet.runtime.contract import read_deploy_config

    model_name = read_deploy_config(model_dir).model_name
    images = [p.read_bytes() for p in paths]
    bodies = [pipeline_body(data) for data in images]
    print(f"{model_dir}: {describe_images(image_info)}", flush=True)
    print(f"{args.concurrency} clients, {args.duration:g} s each after {args.warmup:g} s warm-up; precisions "
          f"{', '.join(precisions)}; workers {', '.join(map(str, args.workers)) or 'none'}", flush=True)

    # Every configuration runs in turn, in short slices over --rounds rounds, so that load from
    # other processes on a shared machine slows them alike; servers idle while not measured.
    cores = len(os.sched_getaffinity(0))
    measured = {}  # name -> (template Run, callable(slice seconds, Run) -> Run)
    totals: Dict[str, Optional[Run]] = {}
    names: List[str] = []
    servers = []
    bundle = None
    paddle_info = None
    predictors = []
    expected = Expected(model_dir, images)
    load_before = load_after = (float("nan"),) * 3
    try:
        paddle_url = args.paddle_serving_url
        if args.start_paddle_serving:
            bundle, setup = start_paddle_serving(model_dir, args, work)
            paddle_url = bundle.url
            paddle_info = {"started_here": True, "python": args.paddle_serving_python or
                           os.environ.get(SERVING_PYTHON_ENV), "setup": setup, "url": paddle_url}
        elif paddle_url:
            paddle_info = {"started_here": False, "url": paddle_url}
        for precision in precisions:
            if not args.no_inprocess:
                predictor = create_inprocess(model_dir, precision, cores)
                predictors.append(predictor)
                expected.add(precision, cores, predictor)
                resolved = inprocess_precision(predictor, precision)
                label = f"{precision} → {resolved}" if resolved and resolved != precision else precision
                template = Run(f"in-process predictor ({predictor.backend}, {label}, {cores} threads, 1 caller)",
                               precision, resolved, "-")
                measured[template.name] = (template, lambda seconds, run, p=predictor: run_inprocess(
                    p, images, args.warmup, seconds, run))
            for workers in args.workers:
                threads = max(1, cores // workers)
                labels = expected.get(precision, threads)
                for pinning in ([None, True] if args.compare_pinning and workers > 1 else [None]):
                    template, server = start_ours(model_dir, model_name, precision, workers, threads, args, work,
                                                  pinning)
                    servers.append((template.name, server))
                    measured[template.name] = (template, lambda seconds, run, url=server.url, labels=labels:
                                               run_clients(url + "/imagenet/prediction", bodies, labels,
                                                           args.concurrency, args.warmup, seconds, run,
                                                           reconnect=args.reconnect))
        if paddle_url:
            if bundle is not None:
                name = f"Paddle Serving 0.9 pipeline (deploy/paddleserving bundle: {paddle_info['setup']})"
            else:
                name = "Paddle Serving 0.9 pipeline (PaddleClas's classification_web_service)"
            template = Run(name, "", "fp32 (Paddle Inference)", "-")
            measured[name] = (template, lambda seconds, run: run_clients(
                paddle_url, bodies, None, args.concurrency, args.warmup, seconds, run, reconnect=args.reconnect))
        print(f"{len(measured)} configurations ready", flush=True)
        time.sleep(1.0)
        load_before = os.getloadavg()
        names = list(measured)
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
        for name, server in servers:
            code = server.stop()
            if code != 0 and totals.get(name) is not None:
                totals[name].notes = f"server exited with {code} on SIGTERM"
        if bundle is not None:
            bundle.stop()
    runs: List[Run] = [totals[name] for name in names]
    inprocess = {r.precision: r for r in runs if r.name.startswith("in-process")}
    paddle = next((r for r in runs if r.name.startswith("Paddle Serving")), None)
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
          f"load; {args.concurrency} clients; configurations interleaved.")
    print()
    print(table(runs, paddle))
    print()
    results = comparisons(ours, inprocess, paddle, args.paddle_serving_reference)
    print("\n".join(results))
    for run in runs:
        if run.notes:
            print(f"{run.name}: {run.notes}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model_dir": str(model_dir), "concurrency": args.concurrency, "duration": args.duration,
            "rounds": args.rounds, "warmup": args.warmup, "precisions": precisions, "images": image_info,
            "paddle_serving": paddle_info, "load_average": [load_before[0], load_after[0]],
            "runs": [r.summary() for r in runs], "comparisons": results}, indent=1, ensure_ascii=False))
    return 0 if all(r.failed == 0 and r.lost == 0 for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
