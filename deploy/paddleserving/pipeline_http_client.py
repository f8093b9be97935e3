"""PaddleClas's pipeline_http_client.py for the bundle, plus a small load mode.

    python pipeline_http_client.py daisy.jpg                          # one request, prints the reply
    python pipeline_http_client.py a.jpg b.jpg                        # both images in one request
    python pipeline_http_client.py daisy.jpg --requests 100 --concurrency 8   # req/s, latency percentiles

Body, as PaddleClas sends it: {"key": ["image"], "value": [base64 of the file's bytes]}.
Standard library only; no proxy is used.
"""
import argparse
import statistics
import threading
import time

from bundle import image_request, post_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files, sent in one request")
    parser.add_argument("--url", default="http://127.0.0.1:18080/imagenet/prediction")
    parser.add_argument("--requests", type=int, default=1, help="requests in total (load mode when > 1)")
    parser.add_argument("--concurrency", type=int, default=1, help="clients sending at once")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    body = image_request(args.images)
    if args.requests <= 1:
        status, reply = post_json(args.url, body, args.timeout)
        print(reply if reply is not None else f"HTTP {status}")
        return 0 if status == 200 and reply and reply.get("err_no") == 0 else 1

    post_json(args.url, body, args.timeout)  # warm-up, not counted
    latencies, errors, lock = [], [], threading.Lock()
    remaining = [args.requests]

    def client():
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            start = time.perf_counter()
            try:
                status, reply = post_json(args.url, body, args.timeout)
                ok = status == 200 and reply is not None and reply.get("err_no") == 0
            except OSError as e:
                ok, reply = False, repr(e)
            elapsed = time.perf_counter() - start
            with lock:
                (latencies if ok else errors).append(elapsed if ok else reply)

    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = sorted(1000 * t for t in latencies)
    pct = (lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]) if ms else (lambda q: float("nan"))
    print(f"{len(latencies)} ok, {len(errors)} errors in {wall:.1f} s with {args.concurrency} clients: "
          f"{len(latencies) / wall:.2f} req/s, latency p50 {pct(0.5):.0f} ms, p90 {pct(0.9):.0f} ms, "
          f"p99 {pct(0.99):.0f} ms, mean {statistics.mean(ms) if ms else float('nan'):.0f} ms")
    if errors:
        print("first error:", errors[0])
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
