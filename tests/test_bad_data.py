"""Bad input (issue #8): undecodable, oversized and missing images, crashing loaders, empty epochs.

Per-image failures become that image's error (prediction, calibration) or stop
training within seconds with one line naming the file, its list line and the
skip_bad switch; a dataset too small for one batch is refused up front. The CLI
runs are real `ppcls-hrnet` subprocesses (this checkout on PYTHONPATH) with
hard timeouts, on a few dozen 28x28 Fashion-MNIST images.
"""
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from conftest import QUICK_START, fashion_overrides, make_fashion_subset
from ppcls_hrnet.data import DataError, ImageError, ImageNetDataset, build_dataloader, build_transforms
from ppcls_hrnet.preprocess import image_header, transforms as T
from ppcls_hrnet.preprocess.transforms import Compose, DecodeImage, RandCropImage, ResizeImage, TransformOp
from ppcls_hrnet.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("ppcls-hrnet")
CLI_TIMEOUT = 120  # hard limit for any CLI run; a hang would hit it
MODEL = "HRNet_W18_small_v1"


# ----------------------------------------------------------------- generated bad files

def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zero_png(width, height, rows_per_block=100):
    """A valid all-black grayscale PNG, compressed without materialising its
    pixels: zlib blocks ended by a full flush are independent, so one block of
    rows is repeated (40000x40000 -> 1.6 MB in milliseconds)."""
    assert height % rows_per_block == 0
    row = b"\x00" * (width + 1)  # filter byte + pixels
    deflate = zlib.compressobj(9)
    first = deflate.compress(row * rows_per_block) + deflate.flush(zlib.Z_FULL_FLUSH)  # with the zlib header
    block = deflate.compress(row * rows_per_block) + deflate.flush(zlib.Z_FULL_FLUSH)
    size = (width + 1) * height  # adler32 of zeros: a = 1, b = size
    stream = (first + block * (height // rows_per_block - 1) + b"\x03\x00"  # empty final block
              + struct.pack(">I", ((size % 65521) << 16) | 1))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", stream) + _chunk(b"IEND", b""))


def encoded(ext, img):
    ok, data = cv2.imencode(ext, img)
    assert ok
    return data.tobytes()


def thin_png():
    """A real 30000x2 PNG: resize_short 256 would make it 3840000x256 (~1e9 pixels)."""
    return encoded(".png", np.full((2, 30000), 128, np.uint8))


def corrupt_png():
    return encoded(".png", np.full((28, 28), 200, np.uint8))[:30]  # header, then nothing


def test_zero_png_is_a_real_png():
    img = cv2.imdecode(np.frombuffer(zero_png(300, 200), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img.shape == (200, 300) and img.max() == 0
    big = zero_png(40000, 40000)
    assert 1_000_000 < len(big) < 2_000_000  # the "1.6 MB PNG of 40000x40000 pixels"


# ----------------------------------------------------------------- transform ops

def test_oversized_png_is_refused_from_its_header_before_decoding():
    start = time.perf_counter()
    with pytest.raises(ImageError) as info:
        DecodeImage()(zero_png(40000, 40000))
    assert time.perf_counter() - start < 1.0  # nothing decoded
    message = str(info.value)
    assert "40000x40000 = 1,600,000,000 pixels" in message
    assert "over the limit of 134,217,728" in message and "PPCLS_HRNET_MAX_IMAGE_PIXELS" in message


def test_decoder_errors_become_image_errors(monkeypatch):
    # past our limit, OpenCV's own (2**30 pixels) raises cv2.error: that is what killed the CLI
    monkeypatch.setattr(image_header, "MAX_IMAGE_PIXELS", 1 << 31)
    monkeypatch.delenv("OPENCV_IO_MAX_IMAGE_PIXELS", raising=False)  # the message names the limit in force
    with pytest.raises(ImageError, match=r"not a decodable image \(\d+ bytes\): larger than OpenCV's decoder "
                                         r"limit of 1,073,741,824 pixels"):
        DecodeImage()(zero_png(40000, 40000))
    for data in (corrupt_png(), b"\x89PNG\r\n\x1a\n truncated", b"GIF89a"):
        with pytest.raises(ImageError, match="not a decodable image"):
            DecodeImage()(data)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".ppm", ".gif"])
def test_header_sizes_are_read_for_each_format(ext, monkeypatch):
    img = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    data = encoded(ext, img)
    assert image_header.image_size_from_header(data) == (53, 37)
    assert DecodeImage()(data).shape == (37, 53, 3)
    monkeypatch.setattr(image_header, "MAX_IMAGE_PIXELS", 53 * 37 - 1)
    decoded = []
    monkeypatch.setattr(T.cv2, "imdecode", lambda *a: decoded.append(1))
    with pytest.raises(ImageError, match="image is 53x37 = 1,961 pixels, over the limit of 1,960"):
        DecodeImage()(data)
    assert not decoded  # refused before decoding


def test_header_sizes_of_hand_made_headers():
    progressive = cv2.imencode(".jpg", np.zeros((37, 53, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1]
    assert image_header.image_size_from_header(progressive.tobytes()) == (53, 37)
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4 + (99999).to_bytes(3, "little") \
        + (29).to_bytes(3, "little")
    assert image_header.image_size_from_header(vp8x) == (100000, 30)
    assert image_header.image_size_from_header(b"P5\n# comment\n40000 40000\n255\n") == (40000, 40000)
    top_down_bmp = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 30000, -30000)
    assert image_header.image_size_from_header(top_down_bmp) == (30000, 30000)
    assert image_header.image_size_from_header(b"\x89PNG\r\n\x1a\n\x00\x00") is None  # too short to tell
    assert image_header.image_size_from_header(b"II*\x00") is None  # TIFF: checked after decoding


def test_formats_without_header_check_are_checked_after_decoding(monkeypatch):
    data = encoded(".tif", np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setattr(image_header, "MAX_IMAGE_PIXELS", 599)
    with pytest.raises(ImageError, match="image is 30x20 = 600 pixels, over the limit of 599"):
        DecodeImage()(data)


def test_extreme_aspect_ratio_resize_is_refused_naming_sizes():
    ops = build_transforms([{"DecodeImage": None}, {"ResizeImage": {"resize_short": 256}}])
    with pytest.raises(ImageError) as info:
        ops(thin_png())
    message = str(info.value)
    assert message.startswith("ResizeImage: resizing this 30000x2 image to 3840000x256 would make "
                              "983,040,000 pixels, over the limit of 134,217,728")
    assert "aspect ratio 15000:1 is too extreme for resize_short 256" in message
    assert "PPCLS_HRNET_MAX_IMAGE_PIXELS" in message
    # a fixed size is fine whatever the aspect ratio; an over-limit fixed size is not
    assert ResizeImage(size=32)(np.zeros((2, 30000, 3), np.uint8)).shape == (32, 32, 3)
    with pytest.raises(ImageError, match=r"to 20000x20000 would make 400,000,000 pixels"):
        ResizeImage(size=20000)(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ImageError, match=r"RandCropImage: resizing this \d+x\d+ image to 20000x20000"):
        RandCropImage(size=20000)(np.zeros((4, 4, 3), np.uint8), np.random.default_rng(0))


def test_limit_from_the_environment(monkeypatch):
    assert image_header.max_image_pixels() == image_header.DEFAULT_MAX_IMAGE_PIXELS == 1 << 27
    monkeypatch.setenv("PPCLS_HRNET_MAX_IMAGE_PIXELS", "2e9")
    assert image_header.max_image_pixels() == 2_000_000_000
    monkeypatch.setenv("PPCLS_HRNET_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageError, match="over the limit of 100 pixels"):
        DecodeImage()(encoded(".png", np.zeros((11, 10), np.uint8)))
    monkeypatch.setenv("PPCLS_HRNET_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ConfigError, match="PPCLS_HRNET_MAX_IMAGE_PIXELS='lots' is not a positive number"):
        build_transforms([{"DecodeImage": None}])  # at build time, not once per image


def test_any_opencv_error_or_memory_error_in_an_op_is_an_image_error():
    class Exploding(TransformOp):
        def __init__(self, error):
            self.error = error

        def __call__(self, img, rng=None):
            raise self.error

    image = np.zeros((2, 3, 3), np.uint8)
    with pytest.raises(ImageError, match=r"Exploding failed on a 3x2 image: OpenCV: .*inv_scale_x > 0"):
        try:
            cv2.resize(image, (0, 5))
        except cv2.error as err:
            Compose([Exploding(err)])(image)
    with pytest.raises(ImageError, match="Exploding ran out of memory on a 3x2 image"):
        Compose([Exploding(MemoryError())])(image)


# ----------------------------------------------------------------- loader: errors reach the main process

OPS = [{"DecodeImage": None}, {"ResizeImage": {"size": 8}}, {"NormalizeImage": {"order": ""}}]


@pytest.fixture
def folder(tmp_path):
    """12 good 16x16 PNGs in a label list; -> (root, list path, relative paths)."""
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    paths = [f"img/{i:02d}.png" for i in range(12)]
    for path in paths:
        cv2.imwrite(str(tmp_path / path), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    list_path = tmp_path / "list.txt"
    list_path.write_text("".join(f"{p} {i % 3}\n" for i, p in enumerate(paths)))
    return tmp_path, list_path, paths


def drain(loader, timeout=60):
    """All batches of a pass; fails (rather than hanging the suite) if the loader hangs."""
    result = {}

    def run():
        try:
            result["batches"] = [batch for batch in loader]
        except BaseException as err:  # noqa: BLE001  (re-raised below, in the test's thread)
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the loader hung for {timeout} s")
    if "error" in result:
        raise result["error"]
    return result["batches"]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_bad_image_raises_in_the_main_process(folder, num_workers):
    root, list_path, paths = folder
    (root / paths[6]).write_bytes(corrupt_png())
    loader = build_dataloader(ImageNetDataset(root, list_path, OPS), batch_size=4, num_workers=num_workers,
                              skip_bad_setting="DataLoader.Eval.dataset.skip_bad")
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        drain(loader)
    assert time.perf_counter() - start < 10
    assert str(info.value) == (f"image {root / paths[6]} (line 7 of {list_path}): not a decodable image (30 bytes); "
                               "set DataLoader.Eval.dataset.skip_bad: True to skip bad images, or fix or remove "
                               "that line")
    # the loader is usable again (the next epoch meets the same image)
    with pytest.raises(DataError, match="line 7"):
        drain(loader)


class BuggyDataset(ImageNetDataset):
    """A transform bug on one image: not a DataError, still must not hang."""

    def _load(self, entry, rng):
        if entry.line_no == 3:
            return 1 / 0
        return super()._load(entry, rng)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_unexpected_error_names_the_image_and_where(folder, num_workers):
    root, list_path, paths = folder
    loader = build_dataloader(BuggyDataset(root, list_path, OPS, skip_bad=True), batch_size=4,
                              num_workers=num_workers)
    with pytest.raises(DataError) as info:
        drain(loader)
    message = str(info.value)
    assert message.startswith(f"image {root / paths[2]} (line 3 of {list_path}): unexpected ZeroDivisionError: "
                              "division by zero at test_bad_data.py:")
    assert "skip_bad does not skip it" in message and "\n" not in message


def test_images_that_cannot_be_batched_are_an_error_not_a_hang(folder):
    root, list_path, paths = folder
    cv2.imwrite(str(root / paths[1]), np.zeros((9, 7, 3), np.uint8))
    no_resize = [{"DecodeImage": None}, {"NormalizeImage": {"order": ""}}]
    loader = build_dataloader(ImageNetDataset(root, list_path, no_resize), batch_size=4)
    with pytest.raises(DataError, match=r"cannot make a batch of the images \(shapes \(3, 16, 16\), \(3, 9, 7\)\).*"
                                        "resize or crop them in transform_ops"):
        drain(loader)


class DyingDataset(ImageNetDataset):
    """Item 5 ends its worker process the hard way."""

    how = "exit"

    def __getitem__(self, key):
        index = key[0] if isinstance(key, tuple) else key
        if index == 5 and os.getpid() != self.main_pid:
            if self.how == "exit":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(key)


@pytest.mark.parametrize("how, why", [("exit", "exited unexpectedly with code 3"), ("kill", "killed by signal")])
def test_worker_process_crash_is_a_clear_error_within_seconds(folder, how, why):
    root, list_path, _ = folder
    dataset = DyingDataset(root, list_path, OPS)
    dataset.main_pid, dataset.how = os.getpid(), how
    loader = build_dataloader(dataset, batch_size=2, num_workers=2)
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        for _ in loader:
            time.sleep(0.05)  # the main process is busy training when the worker dies
    assert time.perf_counter() - start < 15  # Paddle checks its workers every 5 s
    message = str(info.value)
    assert message.startswith("a DataLoader worker process died: ") and "num_workers: 0" in message
    assert why in message or "Blocking queue is killed" in message, message


def test_skip_bad_still_skips_with_a_warning(folder, caplog):
    root, list_path, paths = folder
    (root / paths[3]).write_bytes(zero_png(40000, 40000))
    (root / paths[4]).unlink()
    dataset = ImageNetDataset(root, list_path, OPS, skip_bad=True)
    batches = drain(build_dataloader(dataset, batch_size=4, num_workers=0))
    assert sum(len(labels) for _, labels in batches) == 10
    assert dataset.skipped_images == 2
    assert "40000x40000" in caplog.text and f"{paths[4]} (line 5" in caplog.text


def test_zero_batches_are_refused_per_rank():
    import paddle

    from ppcls_hrnet.data.loader import EpochDataLoader, SeededBatchSampler
    from ppcls_hrnet.engine.builders import check_has_batches

    class Sized:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    def loader(images, batch_size, ranks, drop_last=True):
        sampler = paddle.io.DistributedBatchSampler(Sized(images), batch_size=batch_size, num_replicas=ranks,
                                                    rank=0, drop_last=drop_last)
        fake = type("FakeLoader", (), {"dataset": Sized(images), "num_workers": 0,
                                       "__len__": lambda self: len(sampler)})()
        return EpochDataLoader(fake, SeededBatchSampler(sampler, 0))

    with pytest.raises(ConfigError) as info:
        check_has_batches(loader(41, 64, 1), "Train")
    assert str(info.value) == (
        "DataLoader.Train: 41 images make no full batch of batch_size 64 with drop_last: True, so every epoch "
        "would run 0 steps; set DataLoader.Train.sampler.batch_size to at most 41 or "
        "DataLoader.Train.sampler.drop_last: False (or use more images)")
    # 100 images on 2 ranks: 50 each, less than a batch of 64 on every rank
    with pytest.raises(ConfigError, match=r"100 images \(50 per rank on 2 ranks\) make no full batch.*at most 50"):
        check_has_batches(loader(100, 64, 2), "Train")
    with pytest.raises(ConfigError, match=r"101 images \(51 per rank on 2 ranks\)"):  # padded to 102
        check_has_batches(loader(101, 64, 2), "Eval")
    check_has_batches(loader(128, 64, 2), "Train")
    check_has_batches(loader(41, 64, 1, drop_last=False), "Train")


def test_prediction_batches_report_every_failure_per_image(folder):
    from ppcls_hrnet.preprocess.images import iter_image_batches

    root, _, paths = folder
    (root / paths[1]).write_bytes(zero_png(40000, 40000))
    (root / paths[2]).write_bytes(thin_png())
    ops = build_transforms([{"DecodeImage": None}, {"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 8}},
                            {"NormalizeImage": {"order": ""}}, {"ToCHWImage": None}])

    def buggy(data):  # a bug in preprocessing hits one image, not the run
        if data == b"tiny":
            raise KeyError("oops")
        return ops(data)

    sources = [str(root / p) for p in paths[:4]] + [str(root / "missing.png")]
    (root / paths[3]).write_bytes(b"tiny")
    batches = list(iter_image_batches(sources, buggy, batch_size=3))
    assert [b.names for b in batches] == [[sources[0]], []]
    errors = {batches[i // 3].sources[i % 3]: batches[i // 3].errors.get(i % 3) for i in range(5)}
    assert errors[sources[1]].startswith("image is 40000x40000")
    assert errors[sources[2]].startswith("ResizeImage: resizing this 30000x2 image to 3840000x256")
    assert re.fullmatch(r"unexpected KeyError: 'oops' at test_bad_data.py:\d+ \(buggy\)", errors[sources[3]])
    assert "cannot read" in errors[sources[4]] and "No such file" in errors[sources[4]]


# ----------------------------------------------------------------- int8 calibration

def test_calibration_skips_oversized_and_corrupt_images(small_deploy, tmp_path, caplog):
    from ppcls_hrnet.data.dataset import read_label_list
    from ppcls_hrnet.runtime.contract import read_deploy_config
    from ppcls_hrnet.export.quantize import load_calibration_images

    model_dir, image_dir, _ = small_deploy
    (tmp_path / "img").mkdir()
    good = sorted(image_dir.rglob("*.png"))[:4]
    for i, path in enumerate(good):
        shutil.copy(path, tmp_path / f"img/good{i}.png")
    (tmp_path / "img/huge.png").write_bytes(zero_png(40000, 40000))
    (tmp_path / "img/broken.png").write_bytes(corrupt_png())
    (tmp_path / "img/thin.png").write_bytes(thin_png())
    names = ["huge.png", "good0.png", "broken.png", "good1.png", "thin.png", "good2.png", "good3.png"]
    (tmp_path / "calib.txt").write_text("".join(f"img/{name} {i}\n" for i, name in enumerate(names)))
    entries, _ = read_label_list(tmp_path / "calib.txt")
    deploy = read_deploy_config(model_dir)
    # the small model resizes to a fixed 32x32 (any aspect ratio is fine); PaddleClas's
    # resize_short 256 + center crop refuses the thin image
    ops = list(deploy.transform_ops)
    assert list(ops[1]) == ["ResizeImage"]
    short = dataclasses.replace(deploy, transform_ops=ops[:1] + [{"ResizeImage": {"resize_short": 256}},
                                                                 {"CropImage": {"size": 32}}] + ops[2:])
    for config, skipped in ((deploy, 2), (short, 3)):
        caplog.clear()
        images = load_calibration_images(config, entries, tmp_path, 10, progress=False)
        assert images.shape == (len(names) - skipped, 3, 32, 32)
        assert f"skipped {skipped} unreadable calibration image(s)" in caplog.text
        assert "huge.png (line 1): image is 40000x40000" in caplog.text
        assert "broken.png (line 3): not a decodable image" in caplog.text
    assert "thin.png (line 5): ResizeImage: resizing this 30000x2 image to 3840000x256" in caplog.text


# ----------------------------------------------------------------- the real CLI

def cli_env(**extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if "PPCLS_HRNET_MAX_IMAGE_PIXELS" not in extra:
        env.pop("PPCLS_HRNET_MAX_IMAGE_PIXELS", None)
    return env


def cli_command():
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "ppcls_hrnet.cli"]


def run_cli(args, cwd, timeout=CLI_TIMEOUT, **env):
    start = time.perf_counter()
    done = subprocess.run(cli_command() + [str(a) for a in args], cwd=cwd, env=cli_env(**env),
                          capture_output=True, text=True, timeout=timeout)
    return done, time.perf_counter() - start


def test_the_cli_subprocesses_run_this_checkout(tmp_path):
    interpreter = sys.executable
    if SCRIPT.exists():
        interpreter = SCRIPT.read_text().splitlines()[0][2:].strip()  # the console script's shebang
    done = subprocess.run([interpreter, "-c", "import ppcls_hrnet.cli, ppcls_hrnet.preprocess.image_header as h; "
                           "print(ppcls_hrnet.cli.__file__, h.DEFAULT_MAX_IMAGE_PIXELS)"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    path, limit = done.stdout.split()
    assert Path(path).resolve() == (ROOT / "ppcls_hrnet/cli/__init__.py").resolve() and int(limit) == 1 << 27


@pytest.fixture
def predict_folder(small_deploy, tmp_path):
    """The small model with PaddleClas's resize_short + crop preprocessing, and a
    folder of 3 good images around an oversized, a thin and a corrupt one."""
    model_dir, image_dir, _ = small_deploy
    model = Path(shutil.copytree(model_dir, tmp_path / "model"))
    config = yaml.safe_load((model / "inference.yml").read_text())
    ops = config["PreProcess"]["transform_ops"]
    assert list(ops[1]) == ["ResizeImage"]
    ops[1:2] = [{"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 32}}]  # PaddleClas's kind
    (model / "inference.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    folder = tmp_path / "folder"
    folder.mkdir()
    good = sorted(image_dir.rglob("*.png"))[:3]
    names = {"a_good.png": good[0], "c_good.png": good[1], "f_good.png": good[2]}
    for name, source in names.items():
        shutil.copy(source, folder / name)
    (folder / "b_huge.png").write_bytes(zero_png(40000, 40000))
    (folder / "d_thin.png").write_bytes(thin_png())
    (folder / "e_broken.png").write_bytes(corrupt_png())
    return model, folder


@pytest.mark.parametrize("limit, huge_error", [
    (None, "image is 40000x40000 = 1,600,000,000 pixels, over the limit of 134,217,728"),
    ("2000000000", "larger than OpenCV's decoder limit"),  # the cv2.error, now an entry too
])
def test_predict_folder_reports_bad_images_and_predicts_the_rest(predict_folder, tmp_path, limit, huge_error):
    model, folder = predict_folder
    env = {}
    if limit is not None:  # raised: the thin image would resize to 3 GB, leave it out
        env = {"PPCLS_HRNET_MAX_IMAGE_PIXELS": limit}
        (folder / "d_thin.png").unlink()
    bad = 2 if limit else 3
    done, _ = run_cli(["--inference_model_dir", model, f"--infer_imgs={folder}/", "--save_dir", tmp_path / "out",
                       "--batch_size", "2"], cwd=tmp_path, **env)
    assert done.returncode == 1, done.stderr[-3000:]  # some inputs failed
    assert "Traceback" not in done.stderr and "cv2.error" not in done.stderr
    assert f"{bad} of {bad + 3} inputs could not be predicted" in done.stderr
    results = json.loads((tmp_path / "out/predictions.json").read_text())
    results = results["results"] if isinstance(results, dict) else results
    by_name = {Path(r["file_name"]).name: r for r in results}
    assert sorted(by_name) == sorted(p.name for p in folder.iterdir())
    for name in ("a_good.png", "c_good.png", "f_good.png"):
        assert "error" not in by_name[name] and len(by_name[name]["class_ids"]) > 0, by_name[name]
    assert huge_error in by_name["b_huge.png"]["error"]
    if limit is None:
        assert by_name["d_thin.png"]["error"].startswith(
            "ResizeImage: resizing this 30000x2 image to 3840000x256 would make 983,040,000 pixels")
    assert "not a decodable image (30 bytes)" in by_name["e_broken.png"]["error"]
    # printed: the good images' predictions, in order
    printed = [line[len("filename: "):].split(", top-", 1)[0] for line in done.stdout.splitlines()
               if line.startswith("filename: ")]
    assert [Path(name).name for name in printed] == ["a_good.png", "c_good.png", "f_good.png"]


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    return make_fashion_subset(tmp_path_factory.mktemp("bad_data_fm"), 40, 20)


def train_args(data, out, *overrides):
    args = ["train", "-c", QUICK_START]
    for o in fashion_overrides(data) + [f"Global.output_dir={out}", "Global.epochs=1", "Global.print_batch_step=1",
                                        "DataLoader.Train.sampler.batch_size=8",
                                        "DataLoader.Eval.sampler.batch_size=10", *overrides]:
        args += ["-o", o]
    return args


def copy_data(fashion, tmp_path):
    return Path(shutil.copytree(fashion, tmp_path / "data"))


def spoil(data, list_name, *line_numbers):
    """Line N's image becomes a corrupt PNG, line M's a missing file: -> {(path, line)}."""
    lines = (data / list_name).read_text().splitlines()
    spoiled = set()
    corrupt_line, missing_line = line_numbers
    path = lines[corrupt_line - 1].rsplit(" ", 1)[0]
    (data / path).write_bytes(corrupt_png())
    spoiled.add((str(data / path), corrupt_line))
    path, label = lines[missing_line - 1].rsplit(" ", 1)
    (data / path).unlink()
    spoiled.add((str(data / path), missing_line))
    return spoiled


def one_error_line(stderr):
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return errors[0]


def checkpoint_digest(model_dir, prefix="latest"):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(model_dir.glob(f"{prefix}.*"))}


@pytest.fixture(scope="module")
def trained_one_epoch(fashion, tmp_path_factory):
    """Output dir of one CLI epoch on the good images (for resume tests)."""
    out = tmp_path_factory.mktemp("bad_data_out")
    done, _ = run_cli(train_args(fashion, out, "Global.eval_during_train=False"), cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.parametrize("num_workers", [0, 2])
def test_bad_training_image_stops_training_with_one_line(fashion, trained_one_epoch, tmp_path, num_workers):
    data = copy_data(fashion, tmp_path)
    spoiled = spoil(data, "train_list.txt", 3, 7)
    out = Path(shutil.copytree(trained_one_epoch, tmp_path / "out"))
    model_dir = out / MODEL
    before = checkpoint_digest(model_dir)
    # resume into the spoiled list: epoch 2 meets a bad image
    done, seconds = run_cli(train_args(data, out, "Global.epochs=2", "Global.eval_during_train=False",
                                       f"Global.checkpoints={model_dir / 'latest'}",
                                       f"DataLoader.Train.loader.num_workers={num_workers}"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert seconds < 60  # a hang would hit the 120 s timeout
    line = one_error_line(done.stderr)
    match = re.fullmatch(r"error: image (\S+) \(line (\d+) of (\S+)\): (.+); set DataLoader\.Train\.dataset\."
                         r"skip_bad: True to skip bad images, or fix or remove that line", line)
    assert match, line
    assert (match[1], int(match[2])) in spoiled and match[3] == str(data / "train_list.txt")
    assert match[4] in ("No such file or directory", "not a decodable image (30 bytes)")
    # the last checkpoint is untouched and loads
    from ppcls_hrnet.engine.checkpoint import load_checkpoint

    assert checkpoint_digest(model_dir) == before
    assert load_checkpoint(str(model_dir / "latest"))["states"]["epoch"] == 1
    assert not list(model_dir.glob("*.tmp"))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_bad_eval_image_stops_training_and_keeps_the_last_checkpoint(fashion, tmp_path, num_workers):
    data = copy_data(fashion, tmp_path)
    spoiled = spoil(data, "test_list.txt", 2, 11)
    out = tmp_path / "out"
    # epoch 1 trains and saves; epoch 2 trains, then its eval meets the bad image
    done, seconds = run_cli(train_args(data, out, "Global.epochs=2", "Global.eval_interval=2",
                                       f"DataLoader.Eval.loader.num_workers={num_workers}"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert seconds < 60
    line = one_error_line(done.stderr)
    match = re.fullmatch(r"error: image (\S+) \(line (\d+) of \S+test_list.txt\): .+; set "
                         r"DataLoader\.Eval\.dataset\.skip_bad: True to skip bad images, or fix or remove that line",
                         line)
    assert match and (match[1], int(match[2])) == min(spoiled, key=lambda s: s[1]), line  # eval is in list order
    from ppcls_hrnet.engine.checkpoint import load_checkpoint

    model_dir = out / MODEL
    assert load_checkpoint(str(model_dir / "latest"))["states"]["epoch"] == 1
    assert not (model_dir / "best_model.pdparams").exists()
    assert not list(model_dir.glob("*.tmp"))


def test_skip_bad_true_skips_warns_and_trains(fashion, tmp_path):
    data = copy_data(fashion, tmp_path)
    spoiled = spoil(data, "train_list.txt", 3, 7)
    (data / "images/train/huge.png").write_bytes(zero_png(40000, 40000))
    with open(data / "train_list.txt", "a") as f:
        f.write("images/train/huge.png 1\n")
    out = tmp_path / "out"
    done, _ = run_cli(train_args(data, out, "DataLoader.Train.dataset.skip_bad=True",
                                 "Global.eval_during_train=False"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "WARNING: skipping image" in line]
    assert len(warnings) == 3, done.stderr[-3000:]
    for path, line in spoiled | {(str(data / "images/train/huge.png"), 41)}:
        assert any(f"{path} (line {line} of" in w for w in warnings), (path, warnings)
    assert "[Train][Epoch 1][Avg]" in done.stderr
    assert (out / MODEL / "latest.pdparams").exists()


def test_an_epoch_of_only_skipped_images_is_an_error(fashion, tmp_path):
    data = copy_data(fashion, tmp_path)
    for line in (data / "train_list.txt").read_text().splitlines():
        (data / line.rsplit(" ", 1)[0]).write_bytes(corrupt_png())
    out = tmp_path / "out"
    done, _ = run_cli(train_args(data, out, "DataLoader.Train.dataset.skip_bad=True",
                                 "Global.eval_during_train=False"), cwd=tmp_path)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(
        "error: epoch 1 trained on no image: every batch was dropped because all its images were skipped")
    assert not (out / MODEL / "latest.pdparams").exists()


def test_dataset_smaller_than_one_batch_is_refused(fashion, tmp_path):
    data = copy_data(fashion, tmp_path)
    # 41 images, batch 64, drop_last True: the silent "epoch" of no steps
    lines = (data / "train_list.txt").read_text().splitlines()
    (data / "train_list.txt").write_text("\n".join(lines + lines[:1]) + "\n")
    out = tmp_path / "out"
    done, seconds = run_cli(train_args(data, out, "DataLoader.Train.sampler.batch_size=64"), cwd=tmp_path)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == (
        "error: DataLoader.Train: 41 images make no full batch of batch_size 64 with drop_last: True, so every "
        "epoch would run 0 steps; set DataLoader.Train.sampler.batch_size to at most 41 or "
        "DataLoader.Train.sampler.drop_last: False (or use more images)")
    assert not (out / MODEL / "best_model.pdparams").exists() and not (out / MODEL / "latest.pdparams").exists()
    # eval with drop_last too
    done, _ = run_cli(train_args(data, out, "DataLoader.Eval.sampler.batch_size=64",
                                 "DataLoader.Eval.sampler.drop_last=True"), cwd=tmp_path)
    assert done.returncode == 2 and "error: DataLoader.Eval: 20 images make no full batch" in done.stderr


def worker_pids(pid):
    """Children of `pid` forked from it (the same command line): its loader workers."""
    def cmdline(p):
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            return None

    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    own = cmdline(pid)
    return [child for child in children if own is not None and cmdline(child) == own]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_killed_loader_worker_ends_training_with_a_clear_error(fashion, tmp_path):
    out = tmp_path / "out"
    args = train_args(fashion, out, "Global.epochs=200", "Global.eval_during_train=False",
                      "DataLoader.Train.loader.num_workers=2", "DataLoader.Train.sampler.batch_size=4")
    proc = subprocess.Popen(cli_command() + [str(a) for a in args], cwd=tmp_path, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            pids = worker_pids(proc.pid)
            if len(pids) == 2:
                time.sleep(0.2)  # into the epoch
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    victim = pids[0]
                except ProcessLookupError:  # the epoch ended meanwhile: the next one has new workers
                    pass
            else:
                time.sleep(0.05)
        assert victim is not None, "no loader worker process appeared"
        killed_at = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        seconds = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, stderr[-3000:]
    assert seconds < 20, seconds
    line = one_error_line(stderr)
    assert line.startswith("error: a DataLoader worker process died: ") and "num_workers: 0" in line, line
    assert str(victim) in line or "Blocking queue" in line, line


@pytest.mark.slow
@pytest.mark.parametrize("case", ["bad_image", "zero_steps"])
def test_two_process_data_parallel_stops_on_bad_data(fashion, tmp_path, case):
    data = copy_data(fashion, tmp_path)
    extra = ["DataLoader.Train.sampler.batch_size=4"]
    if case == "bad_image":
        spoiled = spoil(data, "train_list.txt", 3, 7)
        expected = r"error: image (\S+) \(line (\d+) of \S+\): .+; set DataLoader\.Train\.dataset\.skip_bad: True"
    else:  # 40 images on 2 ranks: 20 each, no full batch of 32
        extra = ["DataLoader.Train.sampler.batch_size=32"]
        expected = (r"error: DataLoader\.Train: 40 images \(20 per rank on 2 ranks\) make no full batch of "
                    r"batch_size 32 with drop_last: True.*batch_size to at most 20")
    log_dir = tmp_path / "logs"
    args = train_args(data, tmp_path / "out", *extra)[1:]  # without the "train" command
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(log_dir),
           str(ROOT / "tools/train.py"), *[str(a) for a in args]]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT)
    seconds = time.perf_counter() - start
    logs = {p.name: p.read_text(errors="replace") for p in sorted(log_dir.glob("workerlog.*"))}
    assert done.returncode != 0 and seconds < 90, (seconds, done.stderr[-2000:])
    errors = [line for text in logs.values() for line in text.splitlines() if line.startswith("error: ")]
    assert errors, logs
    for line in errors:
        match = re.match(expected, line)
        assert match, line
        if case == "bad_image":
            assert (match[1], int(match[2])) in spoiled
    # (a rank whose shard was clean may end in Paddle's own collective-timeout abort when its peer exits)
