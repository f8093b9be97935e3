"""`ppcls-hrnet serve` against slow and careless clients, on loopback: stalled headers and bodies, idle
connections, disconnects, a connection flood and SIGTERM with a stalled upload.

Bounds are generous (seconds, descriptors, megabytes): they tell a closed connection from one held for
ever, not a fast server from a slow one.
"""
import os
import socket
import time
from pathlib import Path

import pytest

from ppcls_hrnet.evaluation.server_process import ServerProcess, running_server
from test_serve import _samples, call
from test_serve_limits import wait_until

READ_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(small_deploy, tmp_path_factory):
    model_dir, _, _ = small_deploy
    log = tmp_path_factory.mktemp("serve_connections") / "server.log"
    with running_server(["--inference_model_dir", str(model_dir), "--workers", "1", "--read_timeout",
                         str(READ_TIMEOUT), "--keep_alive", "1", "--max_connections", "600", "--max_body_mb", "4"],
                        log_path=log) as process:
        yield process


def worker(server):
    (pid,) = server.worker_pids()
    return pid


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def metric(server, name):
    status, _, raw = call(server, "GET", "/metrics")
    assert status == 200
    return _samples(raw.decode(), name)


def connect(server):
    sock = socket.create_connection((server.host, server.port), timeout=30)
    sock.settimeout(30)
    return sock


def closed_by_server(sock, within):
    """True when the server closes ``sock`` (recv gives EOF or a reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


PARTIAL_HEADERS = b"POST /imagenet/prediction HTTP/1.1\r\nHost: test\r\n"
STALLED_BODY = (b"POST /imagenet/prediction HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{")


@pytest.mark.parametrize("sent", [b"", PARTIAL_HEADERS, STALLED_BODY], ids=["idle", "stalled header", "stalled body"])
def test_a_connection_that_sends_nothing_mid_request_is_closed(server, sent):
    sock = connect(server)
    try:
        sock.sendall(sent)
        start = time.monotonic()
        assert closed_by_server(sock, READ_TIMEOUT + 5), "still open"
        assert time.monotonic() - start >= READ_TIMEOUT - 0.5  # not before the timeout
    finally:
        sock.close()
    assert "Traceback" not in server.log()


def test_a_client_that_leaves_mid_body_is_one_info_line_and_499(server):
    before = metric(server, "ppcls_hrnet_requests_total")
    sock = connect(server)
    sock.sendall(STALLED_BODY + b'"key": ["a"]')
    time.sleep(0.3)
    sock.close()
    label = '{method="POST",route="/{service}/prediction",status="499"}'
    wait_until(lambda: metric(server, "ppcls_hrnet_requests_total").get(label, 0) == before.get(label, 0) + 1, 10,
               "a 499 counted")
    log = server.log()
    assert "Traceback" not in log and "ClientDisconnect" not in log
    assert log.count("disconnected before sending all of its request (POST /imagenet/prediction)") >= 1


def test_500_idle_connections_are_closed_and_descriptors_return(server):
    pid = worker(server)
    baseline = open_fds(pid)
    socks = [connect(server) for _ in range(500)]
    try:
        wait_until(lambda: open_fds(pid) >= baseline + 400, 20, "the connections accepted")
        wait_until(lambda: open_fds(pid) <= baseline + 5, READ_TIMEOUT + 15, "the descriptors back to baseline")
        assert all(closed_by_server(sock, 5) for sock in socks[:20])
    finally:
        for sock in socks:
            sock.close()
    status, _, _ = call(server, "GET", "/v2/health/ready")
    assert status == 200


def test_half_sent_bodies_give_their_memory_back(server):
    pid = worker(server)
    call(server, "GET", "/v2/health/ready")
    baseline = rss_mb(pid)
    head = (b"POST /imagenet/prediction HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4000000\r\n\r\n")
    socks = []
    try:
        for _ in range(200):
            sock = connect(server)
            sock.sendall(head + b"[" + b"0," * 500_000)  # 1 MB of the 4 MB body, then silence
            socks.append(sock)
        grown = rss_mb(pid)
        wait_until(lambda: open_fds(pid) < 50, READ_TIMEOUT + 20, "the stalled uploads closed")
    finally:
        for sock in socks:
            sock.close()
    wait_until(lambda: rss_mb(pid) < baseline + 100, 15, f"RSS back near {baseline:.0f} MB (it grew to {grown:.0f})")


def test_connections_over_the_cap_are_closed_at_once(small_deploy, tmp_path):
    model_dir, _, _ = small_deploy
    with running_server(["--inference_model_dir", str(model_dir), "--workers", "1", "--max_connections", "20"],
                        log_path=tmp_path / "server.log") as process:
        socks = [connect(process) for _ in range(20)]
        try:
            extra = connect(process)
            assert closed_by_server(extra, 5)
            extra.close()
        finally:
            for sock in socks:
                sock.close()
        assert metric(process, "ppcls_hrnet_connections_closed_total")['{reason="over_capacity"}'] >= 1
        status, _, _ = call(process, "GET", "/v2/health/ready")
        assert status == 200


def test_sigterm_does_not_wait_for_a_stalled_upload(small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    server = ServerProcess(["--inference_model_dir", str(model_dir), "--workers", "1", "--graceful_timeout", "20"],
                           log_path=tmp_path / "server.log").start()
    try:
        server.wait_ready()
        sock = connect(server)
        sock.sendall(STALLED_BODY)
        time.sleep(0.5)
        start = time.monotonic()
        code = server.stop(timeout=60)
        took = time.monotonic() - start
        sock.close()
    finally:
        server.stop(timeout=10)
    assert code == 0, server.log()
    assert took < 10, f"SIGTERM took {took:.1f} s with a stalled upload (graceful timeout 20 s)"
