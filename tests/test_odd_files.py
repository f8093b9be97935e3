"""Odd entries in an image folder, bounded reads, undecodable names, slow URLs: through the real CLI.

A folder may hold a FIFO, a link to /dev/zero, a directory or a symlink loop
named like an image, and names that are not UTF-8. The run must end in
bounded time, predict every good image, report each odd entry once, save
every result in valid JSON and exit 1.
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ppcls_hrnet.preprocess.reading import UnreadableFileError, read_image_file
from test_bad_data import copy_data, fashion, one_error_line, run_cli, train_args  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
BAD_NAME = b"bad\xffname.png"  # not valid UTF-8: Latin-1 disks, other systems' archives
ODD = {  # entry -> the kind its error names
    "fifo.jpg": "a FIFO (named pipe), not a regular file",
    "zero.jpg": "a character device, not a regular file",
    "x.jpg": "a directory, not a regular file",
    "loop.jpg": "Too many levels of symbolic links",
}


def make_odd_folder(folder: Path, good_images):
    folder.mkdir()
    shutil.copy(good_images[0], folder / "a_good.png")
    shutil.copy(good_images[1], folder / "c_good.png")
    with open(os.path.join(os.fsencode(folder), BAD_NAME), "wb") as f:
        f.write(Path(good_images[2]).read_bytes())
    os.mkfifo(folder / "fifo.jpg")
    os.symlink("/dev/zero", folder / "zero.jpg")
    (folder / "x.jpg").mkdir()
    os.symlink("loop.jpg", folder / "loop.jpg")
    return folder


def run_predict(args, cwd, timeout=120, **env):
    """The CLI with bytes out: a name that is not UTF-8 is printed as its bytes."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, timeout=timeout)
    return done, time.perf_counter() - start


@pytest.fixture
def odd_folder(small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    return model_dir, make_odd_folder(tmp_path / "folder", sorted(image_dir.rglob("*.png"))[:3])


def test_a_folder_of_odd_entries_predicts_the_good_images_and_reports_each_odd_one_once(odd_folder, tmp_path):
    model_dir, folder = odd_folder
    done, seconds = run_predict(["--inference_model_dir", model_dir, "--infer_imgs", folder, "--save_dir",
                                 tmp_path / "out", "--backend", "openvino"], cwd=tmp_path)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, stderr[-3000:]
    assert seconds < 100 and "Traceback" not in stderr
    for name, kind in ODD.items():
        reports = [line for line in stderr.splitlines() if f"{folder / name}:" in line]
        assert len(reports) == 1, (name, stderr[-3000:])
        assert kind in reports[0]
    assert f"{len(ODD)} of {len(ODD) + 3} inputs could not be predicted" in stderr
    # the good images are printed, the undecodable name as its bytes
    printed = [line.split(b", top-", 1)[0][len(b"filename: "):] for line in done.stdout.splitlines()
               if line.startswith(b"filename: ")]
    assert [os.path.basename(p) for p in printed] == [b"a_good.png", BAD_NAME, b"c_good.png"]
    # predictions.json: valid UTF-8 JSON holding every result, the name's bytes recoverable
    document = json.loads((tmp_path / "out/predictions.json").read_bytes().decode("utf-8"))
    by_name = {os.path.basename(os.fsencode(r["file_name"])): r for r in document["results"]}
    assert sorted(by_name) == sorted(os.listdir(os.fsencode(folder)))
    for name in (b"a_good.png", BAD_NAME, b"c_good.png"):
        assert "error" not in by_name[name] and by_name[name]["class_ids"], by_name[name]
    for name, kind in ODD.items():
        assert by_name[name.encode()]["error"] == f"cannot read {folder / name}: {kind}"


def test_an_odd_entry_named_on_the_command_line_is_reported_not_opened(odd_folder, tmp_path):
    model_dir, folder = odd_folder
    done, _ = run_predict(["--inference_model_dir", model_dir, "--infer_imgs", folder / "fifo.jpg",
                           folder / "a_good.png", "--backend", "openvino"], cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    assert f"cannot read {folder / 'fifo.jpg'}: {ODD['fifo.jpg']}" in done.stderr.decode()
    assert done.stdout.count(b"filename: ") == 1


def test_a_file_over_the_size_limit_is_refused_from_its_size(odd_folder, tmp_path):
    model_dir, folder = odd_folder
    size = (folder / "a_good.png").stat().st_size
    done, _ = run_predict(["--inference_model_dir", model_dir, "--infer_imgs", folder / "a_good.png",
                           "--backend", "openvino"], cwd=tmp_path, timeout=60,
                          PPCLS_HRNET_MAX_IMAGE_BYTES=str(size - 1))
    assert done.returncode == 1
    assert (f"cannot read {folder / 'a_good.png'}: {size} bytes, over the limit of {size - 1} bytes for an image "
            "(PPCLS_HRNET_MAX_IMAGE_BYTES)") in done.stderr.decode()


def test_a_read_stops_at_the_limit_when_the_size_lies():
    # /proc files say they are 0 bytes long and hold more
    with pytest.raises(UnreadableFileError, match=r"more than 10 bytes, over the limit of 10 bytes"):
        read_image_file("/proc/self/status", limit=10)
    assert len(read_image_file("/proc/self/status", limit=1 << 20)) > 10


class DripServer:
    """Loopback HTTP: headers at once, then one body byte every ``interval`` s (at most ``bytes`` of them)."""

    def __init__(self, interval=0.25, bytes=400):
        stop = self.stop = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(bytes))
                self.end_headers()
                for _ in range(bytes):
                    if stop.wait(interval):
                        return
                    try:
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/photo.png"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def test_a_dripping_url_fails_within_its_deadline_with_one_line(small_deploy, tmp_path):
    model_dir, _, _ = small_deploy
    with DripServer() as server:
        done, seconds = run_predict(["--inference_model_dir", model_dir, "--infer_imgs", server.url,
                                     "--backend", "openvino"], cwd=tmp_path, timeout=60,
                                    PPCLS_HRNET_URL_DEADLINE="2")
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if server.url in line]
    assert len(lines) == 1 and "not complete after 2 s" in lines[0], stderr[-2000:]
    assert "PPCLS_HRNET_URL_DEADLINE" in lines[0]
    assert seconds < 30  # the drip alone would take 100 s


def test_a_list_line_naming_a_fifo_or_dev_zero_is_a_bad_image_for_skip_bad(fashion, tmp_path):  # noqa: F811
    data = copy_data(fashion, tmp_path)
    os.mkfifo(data / "images/train/fifo.png")
    os.symlink("/dev/zero", data / "images/train/zero.png")
    with open(data / "train_list.txt", "a") as f:
        f.write("images/train/fifo.png 1\nimages/train/zero.png 2\n")
    done, seconds = run_cli(train_args(data, tmp_path / "out", "Global.eval_during_train=False"), cwd=tmp_path)
    assert done.returncode == 2 and seconds < 100, done.stderr[-3000:]
    line = one_error_line(done.stderr)  # whichever of the two the shuffled epoch meets first
    assert (("images/train/fifo.png (line 41 of" in line and "a FIFO (named pipe), not a regular file" in line)
            or ("images/train/zero.png (line 42 of" in line and "a character device, not a regular file" in line)), line
    assert "skip_bad: True" in line
    done, _ = run_cli(train_args(data, tmp_path / "out2", "DataLoader.Train.dataset.skip_bad=True",
                                 "Global.eval_during_train=False"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "WARNING: skipping image" in line]
    assert len(warnings) == 2, done.stderr[-3000:]
    assert any("fifo.png (line 41 of" in w and "a FIFO (named pipe)" in w for w in warnings)
    assert any("zero.png (line 42 of" in w and "a character device" in w for w in warnings)


def test_openvino_is_a_default_dependency():
    """`pip install -e .` installs OpenVINO, so `--backend auto` starts on the fastest CPU engine."""
    from importlib.metadata import requires

    unconditional = [r.split(";")[0].strip() for r in requires("ppcls-hrnet") if "extra ==" not in r]
    assert "openvino" in unconditional


@pytest.mark.slow
def test_a_fresh_venv_install_brings_openvino_not_onnxruntime(tmp_path):
    """What `pip install -e .` (the README's first command) would install in a fresh venv, resolved from
    the package registry without installing it: OpenVINO is there; ONNX Runtime stays an extra."""
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True, timeout=120)
    report = tmp_path / "report.json"
    done = subprocess.run([tmp_path / "venv/bin/pip", "install", "--quiet", "--dry-run", "--report", report,
                           "-e", ROOT], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"openvino", "paddlepaddle", "opencv-python-headless"} <= names and "onnxruntime" not in names
