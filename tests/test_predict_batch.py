"""`ppcls-hrnet predict-batch` on Ray Data: one row per input, exactly once, through lost workers and restarts.

Every run that starts Ray runs inside a loopback-only network namespace
(netns.py). The model is the session's small export (random weights: the
rows are compared with the in-process predictor, not with labels).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.dataset as pa_dataset
import pytest

from conftest import make_fashion_subset
from netns import loopback_only, require_loopback_namespace
from ppcls_hrnet.runtime.options import RuntimeOptions
from ppcls_hrnet.runtime.predictor import ClassificationPredictor
from test_bad_data import zero_png
from test_odd_files import make_odd_folder

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = Path(__file__).with_name("batch_scenarios.py")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)]),
       "RAY_USAGE_STATS_ENABLED": "0"}


def run_cli(args, timeout=300, env=None, namespace=True):
    command = [sys.executable, "-m", "ppcls_hrnet.cli", "predict-batch", "--no_progress", *map(str, args)]
    return subprocess.run(loopback_only(command) if namespace else command, capture_output=True, text=True,
                          timeout=timeout, env={**ENV, **(env or {})})


def run_scenario(name, timeout=600, **args):
    done = subprocess.run(loopback_only([sys.executable, SCENARIOS, name, json.dumps(args)]), capture_output=True,
                          text=True, timeout=timeout, env=ENV)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    outcome = json.loads(lines[-1])
    assert outcome["error"] is None, outcome["error"] + done.stderr[-5000:]
    return outcome


def read_table(output):
    return pa_dataset.dataset(str(output), format="parquet").to_table().to_pylist()


def assert_exactly_once(output, inputs):
    rows = read_table(output)
    paths = [os.fsdecode(row["path_bytes"]) for row in rows]
    assert len(paths) == len(set(paths)), "a duplicate row"
    assert sorted(paths, key=os.fsencode) == sorted(map(str, inputs), key=os.fsencode), "a missing or extra row"
    assert not (Path(output) / "_tmp").exists() or not list((Path(output) / "_tmp").iterdir()), "a partial file"
    return {os.fsdecode(row["path_bytes"]): row for row in rows}


@pytest.fixture(scope="module", autouse=True)
def namespace():
    require_loopback_namespace()


# -------------------------------------------------------------- errors before Ray starts

def test_a_missing_model_an_existing_output_and_no_ray_are_one_line_each(small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    done = run_cli(["--inference_model_dir", tmp_path / "nope", "--input", image_dir, "--output", tmp_path / "o"],
                   namespace=False)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: inference model directory")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken/part-000000.parquet").write_bytes(b"x")
    done = run_cli(["--inference_model_dir", model_dir, "--input", image_dir, "--output", tmp_path / "taken"],
                   namespace=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: --output {tmp_path / 'taken'} already exists and is not empty: pass --resume to finish the job "
        "that wrote it, or choose a new --output")
    # Ray missing: a package named ray that cannot be imported shadows the installed one
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray (shadowed by the test)')\n")
    done = run_cli(["--inference_model_dir", model_dir, "--input", image_dir, "--output", tmp_path / "o2"],
                   namespace=False, env={"PYTHONPATH": f"{tmp_path / 'shadow'}{os.pathsep}{ENV['PYTHONPATH']}"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: predict-batch runs on Ray Data, which is not "
                                                             "installed")
    assert "pip install 'ppcls-hrnet[ray]'" in done.stderr


# -------------------------------------------------------------- a local run

def test_a_local_run_writes_one_row_per_input_as_the_cli_prints_them(small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    folder = make_odd_folder(tmp_path / "odd", sorted(image_dir.rglob("*.png"))[:3])
    done = run_cli(["--inference_model_dir", model_dir, "--input", folder, "--output", tmp_path / "out",
                    "--backend", "openvino", "--chunk_images", "2"])
    assert done.returncode == 0, done.stderr[-5000:]  # four inputs cannot be read: rows with their errors
    assert "predict-batch: 7 rows in" in done.stdout and "4 with an error" in done.stdout, done.stdout
    rows = assert_exactly_once(tmp_path / "out", [os.path.join(folder, os.fsdecode(n))
                                                  for n in os.listdir(os.fsencode(folder))])
    cli = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "--inference_model_dir", str(model_dir),
                          "--infer_imgs", str(folder), "--backend", "openvino", "--save_dir", str(tmp_path / "cli")],
                         capture_output=True, timeout=120, env=ENV)
    assert cli.returncode == 1
    expected = json.loads((tmp_path / "cli/predictions.json").read_bytes())["results"]
    assert len(expected) == len(rows) == 7
    for result in expected:
        row = rows[result["file_name"]]
        if "error" in result:
            assert row["error"] == result["error"] and row["class_ids"] is None
        else:
            assert row["error"] is None and row["class_ids"] == result["class_ids"]
            assert row["label_names"] == result["label_names"]
            assert np.allclose(row["scores"], result["scores"], atol=1e-5)
    assert {row["model_id"] for row in rows.values()} == {__import__("ppcls_hrnet.runtime.contract", fromlist=["x"])
                                                          .read_deploy_config(model_dir).identity()}


# -------------------------------------------------------------- 2000 images, lost workers, restarts

@pytest.fixture(scope="module")
def two_thousand(tmp_path_factory, small_deploy):
    """1990 Fashion-MNIST test PNGs, 5 photo-sized JPEGs and 5 bad files (truncated, empty, text, an
    oversized header, a missing file) in a label list: 2000 inputs."""
    root = tmp_path_factory.mktemp("batch2000")
    data = make_fashion_subset(root / "fm", 10, 1990)
    images = sorted((data / "images" / "test").rglob("*.png"))
    assert len(images) == 1990
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        photo = cv2.GaussianBlur(rng.integers(0, 255, (1536, 2048, 3), np.uint8), (31, 31), 0)
        cv2.imwrite(str(photos / f"photo{i}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    bad = root / "bad"
    bad.mkdir()
    good_png = images[0].read_bytes()
    (bad / "truncated.png").write_bytes(good_png[:len(good_png) // 2])
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("not an image")
    (bad / "huge.png").write_bytes(zero_png(40000, 40000))
    inputs = [str(p) for p in images] + sorted(str(p) for p in photos.iterdir()) + \
             sorted(str(p) for p in bad.iterdir()) + [str(bad / "missing.png")]
    assert len(inputs) == 2000
    listing = root / "list.txt"
    listing.write_text("".join(f"{path} 0\n" for path in inputs))
    return listing, inputs


def in_process(model_dir, inputs):
    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="openvino", cpu_threads=2), batch_size=8)
    return {r["file_name"]: r for r in predictor.predict_files(inputs, log_errors=False)}


@pytest.mark.slow
def test_two_thousand_images_match_the_in_process_predictor(small_deploy, two_thousand, tmp_path):
    model_dir, _, _ = small_deploy
    listing, inputs = two_thousand
    outcome = run_scenario("local", model=str(model_dir), input=str(listing), output=str(tmp_path / "out"),
                           workers=2, chunk_images=250, backend="openvino")
    rows = assert_exactly_once(tmp_path / "out", inputs)
    expected = in_process(model_dir, inputs)
    errors = {path for path, row in rows.items() if row["error"] is not None}
    assert errors == {path for path in inputs if "/bad/" in path}  # the 5 bad files, and only them
    for path, row in rows.items():
        if row["error"] is None:
            assert row["class_ids"] == expected[path]["class_ids"], path
            assert np.allclose(row["scores"], expected[path]["scores"], atol=1e-5), path
        else:
            assert row["error"] == expected[path]["error"]
    chunks = outcome["summary"]["chunks"]
    assert not any(chunk["paddle_loaded"] for chunk in chunks)  # OpenVINO actors never import Paddle
    assert len({chunk["pid"] for chunk in chunks}) == 2


@pytest.mark.slow
def test_a_killed_actor_leaves_every_input_exactly_once(small_deploy, two_thousand, tmp_path):
    model_dir, _, _ = small_deploy
    listing, inputs = two_thousand
    outcome = run_scenario("kill_actor", model=str(model_dir), input=str(listing), output=str(tmp_path / "out"),
                           workers=2, chunk_images=20, backend="openvino")
    assert outcome["killed"], "no actor process was found to kill"
    assert_exactly_once(tmp_path / "out", inputs)
    pids = {chunk["pid"] for chunk in outcome["summary"]["chunks"]}
    assert pids - set(outcome["actors_before"]), "no restarted actor did any chunk"


@pytest.mark.slow
@pytest.mark.parametrize("remove_node", [False, True])
def test_two_worker_nodes_produce_rows_and_a_lost_node_loses_none(small_deploy, two_thousand, tmp_path,
                                                                  remove_node):
    model_dir, _, _ = small_deploy
    listing, inputs = two_thousand
    outcome = run_scenario("cluster", model=str(model_dir), input=str(listing), output=str(tmp_path / "out"),
                           workers=2, chunk_images=20, backend="openvino", remove_node=remove_node)
    assert_exactly_once(tmp_path / "out", inputs)
    nodes = [chunk["node"] for chunk in outcome["summary"]["chunks"]]
    assert set(nodes) <= set(outcome["worker_nodes"])  # the head has no CPU for actors
    if remove_node:
        assert outcome["removed"] in nodes  # it did work before it went; its actor restarted elsewhere
    else:
        assert set(nodes) == set(outcome["worker_nodes"])  # both worker nodes produced rows


@pytest.mark.slow
def test_a_killed_driver_resumes_with_only_the_missing_chunks(small_deploy, two_thousand, tmp_path):
    model_dir, _, _ = small_deploy
    listing, inputs = two_thousand
    out = tmp_path / "out"
    args = ["--inference_model_dir", model_dir, "--input", listing, "--output", out, "--backend", "openvino",
            "--chunk_images", "20", "--workers", "2"]
    command = loopback_only([sys.executable, "-m", "ppcls_hrnet.cli", "predict-batch", "--no_progress", *args])
    driver = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob("part-*.parquet"))) < 10:
            assert driver.poll() is None and time.monotonic() < deadline, "the job ended or stalled before the kill"
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
        driver.wait(60)
    written = len(list(out.glob("part-*.parquet")))
    assert written < 100
    done = run_cli([*args, "--resume"])
    assert done.returncode == 0, done.stderr[-5000:]
    skipped = int(done.stderr.split("predict-batch --resume: ", 1)[1].split(" of ", 1)[0])
    assert skipped >= written * 20 - 20 and skipped < 2000
    assert f"({2000 - skipped} predicted now, {skipped} already there)" in done.stdout
    assert_exactly_once(out, inputs)


@pytest.mark.slow
def test_an_s3_input_and_output_on_a_loopback_moto_server(small_deploy, tmp_path):
    pytest.importorskip("moto.server")
    model_dir, image_dir, _ = small_deploy
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted(image_dir.rglob("*.png"))[:6]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    env_port = 5000 + os.getpid() % 1000
    outcome = run_scenario("s3", model=str(model_dir), input=str(folder), output=str(tmp_path / "out"), port=env_port,
                           workers=1, chunk_images=3, backend="openvino")
    rows = outcome["rows"]  # read back from the bucket
    assert sorted(row["path"].split("?")[0].rsplit("/", 1)[1] for row in rows) == sorted(os.listdir(folder))
    assert [Path(o).name for o in outcome["objects"]] == ["_job.json", "part-000000.parquet",
                                                          "part-000001.parquet", "part-000002.parquet"]
    expected = in_process(model_dir, [str(p) for p in sorted(folder.iterdir())])
    by_name = {Path(k).name: v for k, v in expected.items()}
    for row in rows:
        name = row["path"].split("?")[0].rsplit("/", 1)[1]
        if name == "broken.png":
            assert row["error"] and row["class_ids"] is None
        else:
            assert row["class_ids"] == by_name[name]["class_ids"]
    assert outcome["summary"]["rows"] == 7
