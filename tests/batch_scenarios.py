"""Batch-job scenarios that start Ray, run as a script inside a loopback-only namespace (netns.py).

    python tests/batch_scenarios.py SCENARIO '{"model": ..., "input": ..., "output": ..., ...}'

Prints one JSON line: the job's summary plus what the scenario did (which
actor it killed, which node it removed). Every wait is bounded.
"""
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from ppcls_hrnet.batch.job import predict_batch

WAIT_S = 300  # no scenario waits longer for anything


def job_arguments(args):
    return dict(workers=args.get("workers", 2), chunk_images=args.get("chunk_images", 20),
                backend=args.get("backend", "auto"), progress=False, resume=args.get("resume", False))


def wait_for_parts(output, count):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if len(list(Path(output).glob("part-*.parquet"))) >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{count} part files did not appear in {WAIT_S} s")


def actor_pids():
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"ChunkPredictor" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return sorted(pids)


def run_in_thread(function):
    outcome = {}

    def target():
        try:
            outcome["summary"] = function()
        except BaseException as err:  # noqa: BLE001  (reported to the test)
            outcome["error"] = f"{type(err).__name__}: {err}"

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def report(outcome, **extra):
    summary = outcome.get("summary")
    print(json.dumps({"summary": asdict(summary) if summary else None, "error": outcome.get("error"), **extra}))


def local(args):
    outcome = {}
    try:
        outcome["summary"] = predict_batch(args["model"], args["input"], args["output"], **job_arguments(args))
    except Exception as err:  # noqa: BLE001
        outcome["error"] = f"{type(err).__name__}: {err}"
    report(outcome)


def kill_actor(args):
    """SIGKILL one predictor actor once a few chunks are written; the job must still finish."""
    thread, outcome = run_in_thread(lambda: predict_batch(args["model"], args["input"], args["output"],
                                                          **job_arguments(args)))
    wait_for_parts(args["output"], 2)
    victims = actor_pids()
    if victims:
        os.kill(victims[0], signal.SIGKILL)
    thread.join(WAIT_S)
    report(outcome, killed=victims[:1], actors_before=victims)


def cluster(args):
    """A head without CPUs (nothing runs there) and two worker nodes of 3 CPUs each (after one is removed the
    other still has a CPU beside two actors); optionally remove one worker node mid-run."""
    import ray
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [nodes.add_node(num_cpus=3) for _ in range(2)]
    ray.init(address=nodes.address, logging_level="WARNING", log_to_driver=False)
    worker_ids = [node.node_id for node in workers]
    thread, outcome = run_in_thread(lambda: predict_batch(args["model"], args["input"], args["output"],
                                                          **job_arguments(args)))
    removed = None
    if args.get("remove_node"):
        wait_for_parts(args["output"], 3)
        nodes.remove_node(workers[1], allow_graceful=False)
        removed = worker_ids[1]
    thread.join(WAIT_S)
    report(outcome, worker_nodes=worker_ids, removed=removed)
    ray.shutdown()
    nodes.shutdown()


def s3(args):
    """Images in a bucket of moto's S3 server, on loopback."""
    import subprocess

    import boto3

    port = args["port"]
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_EC2_METADATA_DISABLED", "true"), ("AWS_DEFAULT_REGION", "us-east-1"),
                       ("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")):
        os.environ[key] = value  # moto takes any key; nothing looks for others
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket="photos")
                break
            except Exception:  # noqa: BLE001  (the server is still starting)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for path in sorted(Path(args["input"]).iterdir()):
            client.upload_file(str(path), "photos", f"batch/{path.name}")
        options = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
        output = f"s3://photos/predictions?{options}"
        outcome = {}
        try:
            outcome["summary"] = predict_batch(args["model"], f"s3://photos/batch?{options}", output,
                                               **job_arguments(args))
        except Exception as err:  # noqa: BLE001
            outcome["error"] = f"{type(err).__name__}: {err}"
        import pyarrow.dataset
        from pyarrow import fs

        bucket, _ = fs.FileSystem.from_uri(output)
        table = pyarrow.dataset.dataset("photos/predictions", filesystem=bucket, format="parquet").to_table()
        rows = [{k: v for k, v in row.items() if k != "path_bytes"} for row in table.to_pylist()]
        objects = sorted(info.path for info in bucket.get_file_info(fs.FileSelector("photos/predictions",
                                                                                    recursive=True)))
        report(outcome, rows=rows, objects=objects)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    scenario, arguments = sys.argv[1], json.loads(sys.argv[2])
    {"local": local, "kill_actor": kill_actor, "cluster": cluster, "s3": s3}[scenario](arguments)
