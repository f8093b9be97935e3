"""Serving load test: C concurrent loopback clients for T seconds on real images, in one run:
`ppcls-hrnet serve` with each --workers count, the in-process predictor, and (given its URL)
Paddle Serving's pipeline on the same model.

    python benchmarks/serve_load.py                                  # HRNet_W18_C 224, 8 clients, 30 s
    python benchmarks/serve_load.py --concurrency 8 --duration 30 --workers 1 2 \\
        --paddle_serving_url http://127.0.0.1:18080/imagenet/prediction
    python benchmarks/serve_load.py --inference_model_dir DIR --images DIR --duration 3   # a short bounded run

Every client keeps one HTTP/1.1 connection (--reconnect: one per request) and sends PaddleClas's pipeline request
(`{"key": ["image"], "value": [<base64>]}`, one image per request, images in turn) as soon as
its previous answer arrived. Requests are counted when they start after the warm-up and end
within the window; a request without an answer is "lost", one with an HTTP error, err_no != 0
or (ours) a top-1 label other than the in-process predictor's is "failed". The in-process
row is the same predictor called in a loop from one thread (no HTTP): the ceiling serving is
measured against. Weights are random unless --inference_model_dir is given (speed does not
depend on them); images are Fashion-MNIST test images (Debian's dataset-fashion-mnist), or
--images. Only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cold_start.py's export helper
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's ppcls_hrnet

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Run:
    name: str
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

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def summary(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "latencies"}, "throughput": self.throughput,
                "p50": self.percentile(50), "p99": self.percentile(99)}


# ------------------------------------------------------------------ inputs


def prepare_images(args, work: Path) -> List[Path]:
    if args.images:
        from ppcls_hrnet.preprocess.images import list_images

        return [Path(p) for p in list_images(args.images)][:args.num_images]
    from ppcls_hrnet.data import convert_fashion_mnist

    out = work / "fashion"
    if not (out / "images").is_dir():
        convert_fashion_mnist(str(out), limit_train=10, limit_test=args.num_images, progress=False)
    return sorted((out / "images" / "test").rglob("*.png"))[:args.num_images]


def prepare_model(args, work: Path) -> Path:
    if args.inference_model_dir:
        return Path(args.inference_model_dir)
    from cold_start import export_model

    return export_model(args.model, work, args.image_size)


# ------------------------------------------------------------------ load generator


def pipeline_body(data: bytes) -> bytes:
    return json.dumps({"key": ["image"], "value": [base64.b64encode(data).decode("utf8")]}).encode()


def run_clients(url: str, bodies: List[bytes], expected: Optional[List[str]], concurrency: int, warmup: float,
                duration: float, name: str, headers: Optional[dict] = None, reconnect: bool = False) -> Run:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"{url}: this benchmark sends only to loopback addresses")
    run = Run(name)
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


def run_inprocess(predictor, images: List[bytes], warmup: float, duration: float, name: str) -> Run:
    run = Run(name)
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


def expected_labels(model_dir: Path, images: List[bytes]) -> List[str]:
    from ppcls_hrnet.api import create_predictor

    predictor = create_predictor(inference_model_dir=str(model_dir))
    labels = []
    for result in predictor.predict_encoded(images):
        name = result["label_names"][0] if result["label_names"] else str(result["class_ids"][0])
        labels.append(name.strip().replace(",", ""))
    return labels


def start_ours(model_dir: Path, workers: int, args, work: Path, pinning: Optional[bool]):
    from ppcls_hrnet.evaluation.server_process import ServerProcess

    extra = [] if pinning is None else ["--cpu_pinning", str(pinning)]
    tag = f"{workers}w" + ("" if pinning is None else f"_pin{int(pinning)}")
    server = ServerProcess(["--inference_model_dir", str(model_dir), "--workers", str(workers),
                            "--max_queue", str(max(32, 2 * args.concurrency)), *extra],
                           log_path=work / f"serve_{tag}.log").start()
    server.wait_ready(timeout=300)
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    name = f"ppcls-hrnet serve, {workers} worker{'s' if workers > 1 else ''} x {threads} thread(s)"
    if pinning is not None:
        name += f", OpenVINO pinning {'on' if pinning else 'off'}"
    elif workers > 1:
        name += " (pinning off, the default)"
    return name, server


# ------------------------------------------------------------------ report


def table(runs: List[Run]) -> str:
    lines = ["| server | images/s | p50 ms | p99 ms | p99/p50 | requests | failed | lost |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        p50, p99 = run.percentile(50), run.percentile(99)
        lines.append(f"| {run.name} | {run.throughput:.1f} | {1000 * p50:.0f} | {1000 * p99:.0f} | "
                     f"{p99 / p50:.2f} | {run.requests} | {run.failed} | {run.lost} |")
    return "\n".join(lines)


def comparisons(ours: List[Run], inprocess: Optional[Run], paddle: Optional[Run],
                paddle_reference: float) -> List[str]:
    """Per configuration of our server: errors, tail latency and throughput against the others
    (docs/benchmarks.md reads them against the serving goals)."""
    lines = []
    for run in ours:
        lines.append(f"{run.name}: {run.failed} failed, {run.lost} lost requests; "
                     f"p99 {run.percentile(99) / run.percentile(50):.2f}x p50")
        if inprocess is not None and inprocess.throughput:
            lines.append(f"{run.name}: {run.throughput / inprocess.throughput:.2f}x the in-process predictor's "
                         "images/s")
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
    parser.add_argument("--images", default=None, help="image folder (default: Fashion-MNIST test images)")
    parser.add_argument("--num_images", type=int, default=64)
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
    parser.add_argument("--paddle_serving_reference", type=float, default=5.1,
                        help="img/s to compare with when no URL is given (measured here earlier; 0: none)")
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="ppcls_hrnet_serve_load_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PPCLS_HRNET_HOME", str(work / "home"))
    model_dir = prepare_model(args, work)
    paths = prepare_images(args, work)
    if not paths:
        raise SystemExit("no images to send")
    images = [p.read_bytes() for p in paths]
    bodies = [pipeline_body(data) for data in images]
    expected = expected_labels(model_dir, images)
    print(f"{model_dir}: {len(images)} images, {args.concurrency} clients, {args.duration:g} s each "
          f"after {args.warmup:g} s warm-up", flush=True)

    # Every configuration runs in turn, in short slices over --rounds rounds, so that load from
    # other processes on a shared machine slows them alike; servers idle while not measured.
    cores = len(os.sched_getaffinity(0))
    measured = {}  # name -> callable(slice seconds) -> Run
    totals = {}
    servers = []
    predictor = None
    if not args.no_inprocess:
        from ppcls_hrnet.api import create_predictor

        predictor = create_predictor(inference_model_dir=str(model_dir), cpu_num_threads=cores)
        name = f"in-process predictor ({predictor.backend}, {cores} threads, 1 caller)"
        measured[name] = lambda seconds, name=name: run_inprocess(predictor, images, args.warmup, seconds, name)
    for workers in args.workers:
        for pinning in ([None, True] if args.compare_pinning and workers > 1 else [None]):
            name, server = start_ours(model_dir, workers, args, work, pinning)
            servers.append((name, server))
            measured[name] = lambda seconds, name=name, url=server.url: run_clients(
                url + "/imagenet/prediction", bodies, expected, args.concurrency, args.warmup, seconds, name,
                reconnect=args.reconnect)
    if args.paddle_serving_url:
        name = "Paddle Serving 0.9 pipeline (PaddleClas's classification_web_service)"
        measured[name] = lambda seconds, name=name: run_clients(
            args.paddle_serving_url, bodies, None, args.concurrency, args.warmup, seconds, name,
            reconnect=args.reconnect)
    try:
        time.sleep(1.0)  # every worker warmed up
        load_before = os.getloadavg()
        totals = {name: None for name in measured}
        names = list(measured)
        slice_seconds = args.duration / args.rounds
        for round_no in range(args.rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for name in order:
                totals[name] = merge(totals[name], measured[name](slice_seconds))
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
        load_after = os.getloadavg()
    finally:
        for name, server in servers:
            code = server.stop()
            if code != 0 and totals.get(name) is not None:
                totals[name].notes = f"server exited with {code} on SIGTERM"
    runs: List[Run] = [totals[name] for name in names]
    inprocess = next((r for r in runs if r.name.startswith("in-process")), None)
    paddle = next((r for r in runs if r.name.startswith("Paddle Serving")), None)
    ours = [r for r in runs if r.name.startswith("ppcls-hrnet")]

    from ppcls_hrnet.evaluation.environment import environment

    env = environment()
    print()
    print(f"Command: `python benchmarks/serve_load.py {' '.join(argv if argv is not None else sys.argv[1:])}`")
    print(f"Machine: {env['cpu']}, {env['logical_cores']} logical cores; Python {env['python']}, "
          f"openvino {env['openvino']}; {env['date']}; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after (other processes share these cores)")
    print(f"Each row: {args.duration:g} s measured in {args.rounds} slices, every slice after {args.warmup:g} s of "
          f"load; {args.concurrency} clients; configurations interleaved.")
    print()
    print(table(runs))
    print()
    results = comparisons(ours, inprocess, paddle, args.paddle_serving_reference)
    print("\n".join(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"model_dir": str(model_dir), "concurrency": args.concurrency,
                                               "duration": args.duration, "runs": [r.summary() for r in runs],
                                               "comparisons": results}, indent=1))
    return 0 if all(r.failed == 0 and r.lost == 0 for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
