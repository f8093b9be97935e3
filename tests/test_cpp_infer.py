"""C++ inference (cpp_infer/): the binary and library against the Python predictor.

The project is built once per session with cpp_infer/build.sh (into
cpp_infer/build, or $PPCLS_HRNET_CPP_BUILD): about a minute the first time,
seconds after. Without cmake, g++, libopencv-dev or libyaml-cpp-dev the tests
are skipped locally and FAIL in CI (CI=true). The parity tests run both sides
on OpenVINO fp32 with 2 threads (bf16 and int8 where said) from the same
inference.yml, pinning --precision fp32 on the binary (the default, auto, is
bf16 on CPUs that compute it natively, which would round small preprocessing
differences away); they must agree on the top-k ids and on the scores within
2e-4, and print the same line. The tests of the two CLIs run both defaults.
"""
import ast
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from conftest import QUICK_START, apply_reference_weights, fashion_overrides
from ppcls_hrnet.runtime.results import PREDICT_COMPLETE, format_result

ROOT = Path(__file__).resolve().parents[1]
CPP = ROOT / "cpp_infer"
IN_CI = bool(os.environ.get("CI"))  # as conftest.py decides it
TOLERANCE = 2e-4
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _unavailable(reason):
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cpp_build():
    """The build folder, holding ppcls_hrnet_infer and classify_mats (built here; ~1 min the first time)."""
    apt = "apt-get install cmake g++ libopencv-dev libyaml-cpp-dev"
    missing = [tool for tool in ("cmake", "g++") if shutil.which(tool) is None]
    if missing:
        _unavailable(f"cpp_infer needs {' and '.join(missing)}: {apt}")
    build = Path(os.environ.get("PPCLS_HRNET_CPP_BUILD") or CPP / "build")
    done = subprocess.run(["bash", str(CPP / "build.sh"), str(build)], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable}, timeout=1800)
    if done.returncode != 0:
        log = done.stdout + done.stderr
        for package, needle in (("libopencv-dev", '"OpenCV"'), ("libyaml-cpp-dev", '"yaml-cpp"'),
                                ("the openvino wheel (pip install openvino)", '"OpenVINO"')):
            if f"provided by {needle}" in log:
                _unavailable(f"cpp_infer needs {package}: {apt}")
        pytest.fail("cpp_infer/build.sh failed:\n" + log[-5000:])
    return build


def run_cpp(build, *args, env=None, program="ppcls_hrnet_infer"):
    return subprocess.run([str(build / program), *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


# ------------------------------------------------------------------ parsing and comparing

LINE = re.compile(r"^filename: (?P<file>.*), top-(?P<k>\d+), class_ids: (?P<ids>\[[-\d, ]*\]), "
                  r"scores: (?P<scores>\[[^\]]*\]), label_names: (?P<names>\[.*\])$")


def parse_results(stdout):
    """{file: (ids, score texts, label names, line)} in printed order; stdout must end with Predict complete!."""
    lines = stdout.splitlines()
    assert lines and lines[-1] == PREDICT_COMPLETE, stdout[-2000:]
    results = {}
    for line in lines[:-1]:
        match = LINE.match(line)
        assert match, f"not a result line: {line!r}"
        ids = ast.literal_eval(match["ids"])
        scores = match["scores"][1:-1].split(", ") if match["scores"] != "[]" else []
        names = ast.literal_eval(match["names"])
        assert int(match["k"]) == len(ids) == len(scores)
        results[match["file"]] = (ids, scores, names, line)
    return results


# The binary's precision for the parity tests (its default is auto: bf16 here when the CPU has it)
FP32 = ("--precision", "fp32")
CAPABILITIES = "PPCLS_HRNET_CPU_CAPABILITIES"


def python_predict(model_dir, sources, precision="fp32", batch_size=1, topk=None):
    """The Python predictor, OpenVINO with the same settings as the binary's defaults."""
    from ppcls_hrnet.runtime.options import RuntimeOptions
    from ppcls_hrnet.runtime.predictor import ClassificationPredictor

    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="openvino", precision=precision,
                                                                  cpu_threads=2), batch_size=batch_size, topk=topk)
    return list(predictor.predict([str(s) for s in sources]))


def assert_same_predictions(cpp_stdout, python_results):
    """Same files in the same order, identical top-k ids and names, scores within 2e-4, and every
    score printed as Python prints round(score, 5). Returns how many lines are identical."""
    cpp = parse_results(cpp_stdout)
    expected = [r for r in python_results if "error" not in r]
    assert list(cpp) == [r["file_name"] for r in expected]
    identical = 0
    for result in expected:
        ids, scores, names, line = cpp[result["file_name"]]
        where = f"{result['file_name']}:\n  C++:    {line}\n  Python: {format_result(result)}"
        assert ids == result["class_ids"], where
        assert names == result["label_names"], where
        for text, value in zip(scores, result["scores"]):
            number = float(text)
            assert repr(number) == text and round(number, 5) == number, f"{text!r} is not Python's repr; {where}"
            assert abs(number - value) <= TOLERANCE, where
        identical += line == format_result(result)
    return identical


# ------------------------------------------------------------------ models and images

def with_inference_yml(model_dir, target, edit):
    """target/: links to model_dir's files and a copy of its inference.yml changed by edit(dict)."""
    target.mkdir(parents=True)
    for path in Path(model_dir).iterdir():
        if path.name != "inference.yml":
            (target / path.name).symlink_to(path.resolve())
    content = yaml.safe_load((Path(model_dir) / "inference.yml").read_text())
    edit(content)
    (target / "inference.yml").write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    return target


def set_ops(*ops):
    def edit(content):
        content["PreProcess"]["transform_ops"] = list(ops)
    return edit


DECODE = {"DecodeImage": {"to_rgb": True, "channel_first": False}}
NORMALIZE = {"NormalizeImage": {"scale": 0.00392156862745098, "mean": [0.485, 0.456, 0.406],
                                "std": [0.229, 0.224, 0.225], "order": ""}}
TO_CHW = {"ToCHWImage": None}


@pytest.fixture(scope="module")
def ref_model(tmp_path_factory):
    """HRNet_W18_small_v1, 10 classes, 32x32, legacy .pdmodel, with the fixtures' well-conditioned
    weights (random init saturates the softmax, which would hide score differences)."""
    from ppcls_hrnet.config import load_config
    from ppcls_hrnet.runtime.contract import build_deploy_config
    from ppcls_hrnet.export import export_deployable
    from ppcls_hrnet.models import create_model

    root = tmp_path_factory.mktemp("cpp_ref_model")
    (root / "data").mkdir()
    (root / "data/label_names.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(LABELS)))
    cfg = load_config(QUICK_START, fashion_overrides(root / "data"))
    deploy = build_deploy_config(cfg, {"legacy": "inference.pdmodel", "params": "inference.pdiparams"},
                                 softmax=True)
    model = apply_reference_weights(create_model("HRNet_W18_small_v1", class_num=10))
    export_deployable(model, root / "model", deploy)
    return root / "model"


def colour_image(height, width, seed):
    """Smooth colour structure plus noise: every channel different, every pixel matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6, 3)
    img = np.stack([128 + 100 * np.sin(x / (3 + 5 * c) + phase[c]) * np.cos(y / (4 + 3 * c) - phase[c])
                    for c in range(3)], -1)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


# (height, width): tiny, odd, square, both orientations and extreme aspect ratios, so the
# resize_short rounding (int(round(w * percent)), halves to even) and the crop offsets vary
SIZES = [(1, 1), (2, 3), (3, 2), (5, 7), (9, 4), (16, 16), (31, 33), (32, 32), (33, 31), (36, 36),
         (37, 50), (50, 37), (45, 91), (64, 48), (48, 64), (72, 73), (99, 100), (100, 301), (301, 100),
         (1, 97), (97, 1), (2, 250), (250, 3), (127, 255), (224, 224), (256, 341), (333, 500), (500, 333)]


@pytest.fixture(scope="module")
def colour_images(tmp_path_factory):
    """Generated colour images of many sizes as PNG and JPEG, plus gray, RGBA and 16-bit PNGs and a
    BMP and WebP (the decoders' conversions to 3-channel 8-bit are part of the contract)."""
    root = tmp_path_factory.mktemp("cpp_colour")
    for index, (h, w) in enumerate(SIZES):
        img = colour_image(h, w, index)
        cv2.imwrite(str(root / f"c{index:02d}_{w}x{h}.png"), img)
        cv2.imwrite(str(root / f"c{index:02d}_{w}x{h}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    img = colour_image(57, 43, 99)
    cv2.imwrite(str(root / "gray.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(root / "rgba.png"), np.dstack([img, np.full(img.shape[:2], 77, np.uint8)]))
    cv2.imwrite(str(root / "deep16.png"), img.astype(np.uint16) * 257 + 3)
    cv2.imwrite(str(root / "c.bmp"), img)
    cv2.imwrite(str(root / "c.webp"), img)
    # JPEG flavours the crop-aware decoder must get right (or hand to OpenCV): chroma subsampling,
    # progressive, gray, and an EXIF rotation (both OpenCVs apply it)
    photo = colour_image(300, 451, 7)
    for name, flags in (("s444", [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]),
                        ("s422", [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]),
                        ("s420p", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), ("s422p", [
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
                            cv2.IMWRITE_JPEG_PROGRESSIVE, 1])):
        cv2.imwrite(str(root / f"j_{name}.jpg"), photo, flags)
        cv2.imwrite(str(root / f"j_{name}_tall.jpg"), photo.transpose(1, 0, 2).copy(), flags)
    cv2.imwrite(str(root / "j_gray.jpg"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    from PIL import Image  # Pillow comes with paddlepaddle

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise
    Image.fromarray(photo[:, :, ::-1]).save(root / "j_exif6.jpg", exif=exif.tobytes(), quality=92)
    return root


# ------------------------------------------------------------------ the build and the basic run

def test_small_deploy_images_match_python(cpp_build, small_deploy):
    model_dir, image_dir, _ = small_deploy
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, *FP32)
    assert done.returncode == 0, done.stderr
    identical = assert_same_predictions(done.stdout, python_predict(model_dir, [image_dir]))
    assert identical == 12  # same pixels into the same OpenVINO: the very same lines
    info, = done.stderr.splitlines()  # the model line, as the Python CLI logs it
    assert info.endswith(f"ppcls_hrnet INFO: HRNet_W18_small_v1 on openvino (fp32, {model_dir}/inference.pdmodel)")


def test_output_is_the_python_clis(cpp_build, small_deploy):
    """Byte for byte what `ppcls-hrnet predict` prints, for a file and a folder."""
    model_dir, image_dir, _ = small_deploy
    one = sorted(image_dir.rglob("*.png"))[0]
    args = ["--inference_model_dir", str(model_dir), "--infer_imgs", str(one), str(image_dir)]
    python = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "predict", "--backend", "openvino", *args],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    cpp = run_cpp(cpp_build, *args)
    assert python.returncode == cpp.returncode == 0, python.stderr + cpp.stderr
    assert cpp.stdout == python.stdout


def without_timestamps(stderr: bytes):
    return [re.sub(rb"^\[[^\]]*\] ", b"", line) for line in stderr.splitlines()]


def test_a_folder_of_odd_entries_is_read_by_pythons_rules(cpp_build, small_deploy, tmp_path):
    """A FIFO, a /dev/zero link, a directory and a symlink loop named like images, and a name that is
    not UTF-8: the binary ends, and prints what `ppcls-hrnet predict` prints, byte for byte."""
    from test_odd_files import ODD, make_odd_folder

    model_dir, image_dir, _ = small_deploy
    folder = make_odd_folder(tmp_path / "odd", sorted(image_dir.rglob("*.png"))[:3])
    args = ["--inference_model_dir", str(model_dir), "--infer_imgs", str(folder)]
    python = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "predict", "--backend", "openvino", *args],
                            capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    cpp = subprocess.run([str(cpp_build / "ppcls_hrnet_infer"), *args], capture_output=True, timeout=120)
    assert python.returncode == cpp.returncode == 1, python.stderr + cpp.stderr
    assert cpp.stdout == python.stdout  # the good images, the undecodable name as its bytes
    assert cpp.stdout.count(b"filename: ") == 3 and b"bad\xffname.png" in cpp.stdout
    assert without_timestamps(cpp.stderr) == without_timestamps(python.stderr)
    for name, kind in ODD.items():
        assert f"skipping {folder / name}: cannot read {folder / name}: {kind}".encode() in cpp.stderr


def test_the_byte_limit_is_pythons(cpp_build, small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    image = sorted(image_dir.rglob("*.png"))[0]
    limit = str(image.stat().st_size - 1)
    args = ["--inference_model_dir", str(model_dir), "--infer_imgs", str(image)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PPCLS_HRNET_MAX_IMAGE_BYTES": limit}
    python = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "predict", "--backend", "openvino", *args],
                            capture_output=True, timeout=120, env=env)
    cpp = subprocess.run([str(cpp_build / "ppcls_hrnet_infer"), *args], capture_output=True, timeout=120, env=env)
    assert python.returncode == cpp.returncode == 1
    assert without_timestamps(cpp.stderr) == without_timestamps(python.stderr)
    assert f"over the limit of {limit} bytes for an image (PPCLS_HRNET_MAX_IMAGE_BYTES)".encode() in cpp.stderr
    for bad in ("many", "0"):
        env["PPCLS_HRNET_MAX_IMAGE_BYTES"] = bad
        python = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "predict", "--backend", "openvino", *args],
                                capture_output=True, timeout=120, env=env)
        cpp = subprocess.run([str(cpp_build / "ppcls_hrnet_infer"), *args], capture_output=True, timeout=120, env=env)
        assert python.returncode == cpp.returncode == 2
        message = f"error: PPCLS_HRNET_MAX_IMAGE_BYTES='{bad}' is not a positive number of bytes".encode()
        assert python.stderr.splitlines()[-1].startswith(message) and cpp.stderr.splitlines()[-1].startswith(message)


# ------------------------------------------------------------------ preprocessing parity

def cpp_tensors(build, model_dir, images, out_dir, *flags):
    """What the C++ library feeds the model per image (examples/preprocess_dump): arrays or error texts."""
    out_dir.mkdir()
    done = run_cpp(build, model_dir, out_dir, *flags, *images, program="preprocess_dump")
    assert done.returncode == 0, done.stderr
    tensors = []
    for k in range(len(images)):
        path = out_dir / f"{k}.f32"
        tensors.append(np.fromfile(path, np.float32) if path.exists() else (out_dir / f"{k}.err").read_text())
    return tensors


@pytest.mark.parametrize("variant", ["resize_short_crop", "area_crop_wh", "nearest", "lanczos", "fixed_size_bgr",
                                     "normalize_chw_fp16", "no_normalize", "bicubic"])
def test_preprocessed_tensors_are_the_python_ops_arrays(cpp_build, ref_model, colour_images, tmp_path, variant):
    """Bit for bit what ppcls_hrnet/data/transforms.py makes (bicubic: see below), with and without the
    crop-aware JPEG decoding."""
    ops = VARIANTS.get(variant) or [DECODE, {"ResizeImage": {"resize_short": 37, "interpolation": "bicubic"}},
                                    {"CropImage": {"size": 32}}, NORMALIZE, TO_CHW]
    model_dir = with_inference_yml(ref_model, tmp_path / "m", set_ops(*ops))
    images = sorted(colour_images.iterdir())
    from ppcls_hrnet.runtime.contract import read_deploy_config

    transforms = read_deploy_config(model_dir).build_transforms()
    expected = [transforms(p.read_bytes()).astype(np.float32).ravel() for p in images]
    cropped = cpp_tensors(cpp_build, model_dir, images, tmp_path / "crop_aware")
    whole = cpp_tensors(cpp_build, model_dir, images, tmp_path / "whole", "--full_decode")
    differing = 0
    for path, want, got, got_whole in zip(images, expected, cropped, whole):
        assert np.array_equal(got, got_whole), path.name  # crop-aware decoding changes nothing
        if variant != "bicubic":
            assert np.array_equal(got, want), f"{path.name}: max |diff| {np.abs(got - want).max()}"
        else:  # INTER_CUBIC differs by one level in some pixels between OpenCV 4.6 and 5.x
            assert np.abs(got - want).max() <= 1.01 / 255 / 0.224, path.name
            differing += not np.array_equal(got, want)
    if variant == "bicubic":
        print(f"\nbicubic: {differing} of {len(images)} images differ by one level somewhere")

VARIANTS = {
    # PaddleClas's ImageNet ops at this model's size: resize_short rounding + center crop
    "resize_short_crop": [DECODE, {"ResizeImage": {"resize_short": 37}}, {"CropImage": {"size": 32}},
                          NORMALIZE, TO_CHW],
    "area_crop_wh": [DECODE, {"ResizeImage": {"resize_short": 45, "interpolation": "area"}},
                     {"CropImage": {"size": [32, 32]}}, NORMALIZE, TO_CHW],
    "nearest": [DECODE, {"ResizeImage": {"resize_short": 33, "interpolation": "nearest"}},
                {"CropImage": {"size": 32}}, NORMALIZE, TO_CHW],
    "lanczos": [DECODE, {"ResizeImage": {"resize_short": 40, "interpolation": "lanczos"}},
                {"CropImage": {"size": 32}}, NORMALIZE, TO_CHW],
    "fixed_size_bgr": [{"DecodeImage": {"to_rgb": False}}, {"ResizeImage": {"size": [32, 32]}}, NORMALIZE, TO_CHW],
    "normalize_chw_fp16": [DECODE, {"ResizeImage": {"resize_short": 36}}, {"CropImage": {"size": 32}}, TO_CHW,
                           {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3],
                                               "order": "chw", "output_fp16": True}}],
    "no_normalize": [DECODE, {"ResizeImage": {"resize_short": 32}}, {"CropImage": {"size": 32}}, TO_CHW],
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_images_match_python(cpp_build, ref_model, colour_images, tmp_path, variant):
    model_dir = with_inference_yml(ref_model, tmp_path / variant, set_ops(*VARIANTS[variant]))
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", colour_images, *FP32)
    assert done.returncode == 0, done.stderr
    expected = python_predict(model_dir, [colour_images])
    assert len(expected) == 2 * len(SIZES) + 15 and not any("error" in r for r in expected)
    identical = assert_same_predictions(done.stdout, expected)
    # the same pixels reach the same OpenVINO, so the lines are the same too
    assert identical == len(expected)


def test_bicubic_predictions_still_match_python(cpp_build, ref_model, colour_images, tmp_path):
    """INTER_CUBIC is not bit-exact between OpenCV builds: the Python wheel's (5.x, with IPP) and
    Debian's 4.6 differ by 1 in some pixels (measured; nearest, bilinear, area and lanczos agree
    exactly). The top-k and the scores still agree within the tolerance."""
    ops = [DECODE, {"ResizeImage": {"resize_short": 37, "interpolation": "bicubic"}}, {"CropImage": {"size": 32}},
           NORMALIZE, TO_CHW]
    model_dir = with_inference_yml(ref_model, tmp_path / "bicubic", set_ops(*ops))
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", colour_images, *FP32)
    assert done.returncode == 0, done.stderr
    assert_same_predictions(done.stdout, python_predict(model_dir, [colour_images]))


def test_library_on_decoded_images_matches_the_cli(cpp_build, ref_model, colour_images, tmp_path):
    """Classifier::Predict(std::vector<cv::Mat>) (examples/classify_mats.cc, cv::imread BGR images)."""
    model_dir = with_inference_yml(ref_model, tmp_path / "m", set_ops(*VARIANTS["resize_short_crop"]))
    files = sorted(str(p) for p in colour_images.iterdir())
    cli = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", *files)
    mats = run_cpp(cpp_build, model_dir, 4, *files, program="classify_mats")
    assert cli.returncode == mats.returncode == 0, cli.stderr + mats.stderr
    assert mats.stdout + PREDICT_COMPLETE + "\n" == cli.stdout


def test_batches_give_the_same_results(cpp_build, ref_model, colour_images, tmp_path):
    model_dir = with_inference_yml(ref_model, tmp_path / "m", set_ops(*VARIANTS["resize_short_crop"]))
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", colour_images, "--batch_size", 8,
                   "--topk", 5, *FP32)
    assert done.returncode == 0, done.stderr
    results = python_predict(model_dir, [colour_images], batch_size=8, topk=5)
    assert_same_predictions(done.stdout, results)
    assert all(len(r["class_ids"]) == 5 for r in results)


def test_label_names_print_as_python_reprs(cpp_build, ref_model, colour_images, tmp_path):
    names = ["men's shirt", 'say "hi"', "both ' and \"", "back\\slash", "tab\tnew\nline", "café",
             "no\u00a0break", "日本語", "emoji 😀", "bell\x07", "soft\u00adhyphen"]
    def edit(content):
        content["PostProcess"]["label_list"] = names[:10]
        content["PreProcess"]["transform_ops"] = VARIANTS["resize_short_crop"]
    model_dir = with_inference_yml(ref_model, tmp_path / "labels", edit)
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", colour_images, "--topk", 10, *FP32)
    assert done.returncode == 0, done.stderr
    results = python_predict(model_dir, [colour_images], topk=10)
    assert_same_predictions(done.stdout, results)
    for result, (_, _, _, line) in zip(results, parse_results(done.stdout).values()):
        assert line.endswith(f"label_names: {result['label_names']}")


def test_bf16_matches_python(cpp_build, ref_model, colour_images, tmp_path):
    model_dir = with_inference_yml(ref_model, tmp_path / "m", set_ops(*VARIANTS["resize_short_crop"]))
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", colour_images, "--precision", "bf16")
    assert done.returncode == 0, done.stderr
    assert_same_predictions(done.stdout, python_predict(model_dir, [colour_images], precision="bf16"))


@pytest.fixture(scope="module")
def int8_model(ref_model, colour_images, tmp_path_factory):
    """ref_model + inference_int8.onnx from `ppcls-hrnet quantize` (10 calibration images)."""
    from ppcls_hrnet.export.quantize import quantize_model

    root = tmp_path_factory.mktemp("cpp_int8")
    model_dir = Path(shutil.copytree(ref_model, root / "model"))
    pngs = sorted(p.name for p in colour_images.glob("c*.png"))[-10:]
    (root / "calib.txt").write_text("".join(f"{name} {i % 10}\n" for i, name in enumerate(pngs)))
    quantize_model(model_dir, root / "calib.txt", colour_images, num_calib=10, progress=False)
    return model_dir


def test_int8_matches_python(cpp_build, int8_model, colour_images):
    done = run_cpp(cpp_build, "--model_dir", int8_model, "--infer_imgs", colour_images, "--precision", "int8")
    assert done.returncode == 0, done.stderr
    assert "inference_int8.onnx" in done.stderr
    assert_same_predictions(done.stdout, python_predict(int8_model, [colour_images], precision="int8"))


# ------------------------------------------------------------------ precision auto (the default)

def log_lines(stderr):
    """stderr's lines without their time stamps."""
    return [re.sub(r"^\[[^\]]*\] ", "", line) for line in stderr.splitlines()]


def model_line(model_dir, precision):
    return f"ppcls_hrnet INFO: HRNet_W18_small_v1 on openvino ({precision}, {model_dir}/inference.pdmodel)"


def with_bf16_check(model_dir, target, agreement):
    """model_dir with PrecisionCheck.bf16 as `ppcls-hrnet check-precision` records it."""
    def edit(content):
        content["PrecisionCheck"] = {"bf16": {"top1_agreement": agreement, "images": 10000,
                                              "reference": "openvino fp32"}}
    return with_inference_yml(model_dir, target, edit)


@pytest.mark.parametrize("capabilities, resolved", [
    ("FP32,INT8", "fp32"), ("FP32,BF16,INT8", "bf16"),
    ("fp32 bf16", "bf16"), (" int8 ,\tFP32, ", "fp32"),  # commas and/or spaces, any case
])
def test_auto_precision_follows_the_cpu_capabilities(cpp_build, small_deploy, capabilities, resolved):
    """PPCLS_HRNET_CPU_CAPABILITIES replaces OpenVINO's OPTIMIZATION_CAPABILITIES: the default is bf16
    where BF16 is listed, else fp32, logged as such and predicting as that precision asked by name."""
    model_dir, image_dir, _ = small_deploy
    env = {CAPABILITIES: capabilities}
    auto = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, env=env)
    named = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, "--precision", resolved, env=env)
    assert auto.returncode == named.returncode == 0, auto.stderr + named.stderr
    assert log_lines(auto.stderr) == log_lines(named.stderr) == [model_line(model_dir, resolved)]
    assert auto.stdout == named.stdout
    assert len(parse_results(auto.stdout)) == 12


def test_auto_precision_asks_openvino_without_the_variable(cpp_build, small_deploy, monkeypatch):
    """Unset, empty or blank: the CPU's own answer, as the Python openvino module gives it."""
    import openvino

    model_dir, image_dir, _ = small_deploy
    native = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    monkeypatch.delenv(CAPABILITIES, raising=False)
    for env in ({}, {CAPABILITIES: ""}, {CAPABILITIES: " \t "}):
        done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, env=env)
        assert done.returncode == 0, done.stderr
        assert log_lines(done.stderr) == [model_line(model_dir, "bf16" if native else "fp32")], env


def test_a_model_whose_bf16_check_failed_runs_fp32(cpp_build, small_deploy, tmp_path):
    """inference.yml's PrecisionCheck.bf16.top1_agreement below 0.995: auto runs fp32 even where the CPU
    computes bf16, and says why; at 0.995 it runs bf16; --precision bf16 is not checked."""
    model_dir, image_dir, _ = small_deploy
    failed = with_bf16_check(model_dir, tmp_path / "failed", 0.99)
    passed = with_bf16_check(model_dir, tmp_path / "passed", 0.995)
    with_bf16 = {CAPABILITIES: "FP32,BF16,INT8"}
    done = run_cpp(cpp_build, "--model_dir", failed, "--infer_imgs", image_dir, env=with_bf16)
    assert done.returncode == 0, done.stderr
    assert log_lines(done.stderr) == [
        "ppcls_hrnet INFO: precision auto: bf16 changed the top-1 class of 1.00 % of 10000 images against fp32 "
        "(inference.yml PrecisionCheck; auto needs at most 0.5 %); running fp32", model_line(failed, "fp32")]
    fp32 = run_cpp(cpp_build, "--model_dir", failed, "--infer_imgs", image_dir, *FP32)
    assert done.stdout == fp32.stdout
    # without native bf16 the check changes nothing, so nothing is said
    done = run_cpp(cpp_build, "--model_dir", failed, "--infer_imgs", image_dir, env={CAPABILITIES: "FP32,INT8"})
    assert log_lines(done.stderr) == [model_line(failed, "fp32")]
    done = run_cpp(cpp_build, "--model_dir", failed, "--infer_imgs", image_dir, "--precision", "bf16")
    assert log_lines(done.stderr) == [model_line(failed, "bf16")]
    done = run_cpp(cpp_build, "--model_dir", passed, "--infer_imgs", image_dir, env=with_bf16)
    assert log_lines(done.stderr) == [model_line(passed, "bf16")]


@pytest.mark.parametrize("agreement, message", [
    ("null", "TypeError: float() argument must be a string or a real number, not 'NoneType'"),
    ("nine", "ValueError: could not convert string to float: 'nine'"),
])
def test_a_bad_bf16_check_is_one_clear_line(cpp_build, small_deploy, tmp_path, agreement, message):
    model_dir, image_dir, _ = small_deploy
    target = with_bf16_check(model_dir, tmp_path / "m", None if agreement == "null" else agreement)
    line = one_error_line(run_cpp(cpp_build, "--model_dir", target, "--infer_imgs", image_dir))
    assert line == f"error: {target}/inference.yml is not a valid inference.yml ({message}); " \
                   "re-export the model to rewrite it"


@pytest.mark.parametrize("capabilities, agreement", [("FP32,INT8", None), ("FP32,BF16", 0.99), ("BF16", None)])
def test_auto_precision_is_pythons(cpp_build, small_deploy, tmp_path, capabilities, agreement):
    """Both CLIs' defaults resolve auto alike: the same lines on stdout and stderr."""
    model_dir, image_dir, _ = small_deploy
    if agreement is not None:
        model_dir = with_bf16_check(model_dir, tmp_path / "m", agreement)
    args = ["--inference_model_dir", str(model_dir), "--infer_imgs", str(image_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), CAPABILITIES: capabilities}
    python = subprocess.run([sys.executable, "-m", "ppcls_hrnet.cli", "predict", "--backend", "openvino", *args],
                            capture_output=True, text=True, timeout=600, env=env)
    cpp = run_cpp(cpp_build, *args, env=env)
    assert python.returncode == cpp.returncode == 0, python.stderr + cpp.stderr
    assert log_lines(cpp.stderr) == log_lines(python.stderr)
    assert cpp.stdout == python.stdout


# ------------------------------------------------------------------ bad images: reported, the rest predicted

def zero_png(width, height, rows_per_block=100):
    """A valid all-black gray PNG whose pixels are never materialised (40000x40000 -> 1.6 MB)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" * (width + 1)
    deflate = zlib.compressobj(9)
    first = deflate.compress(row * rows_per_block) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(row * rows_per_block) + deflate.flush(zlib.Z_FULL_FLUSH)
    size = (width + 1) * height
    stream = first + block * (height // rows_per_block - 1) + b"\x03\x00" + struct.pack(">I", ((size % 65521) << 16) | 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", stream) + chunk(b"IEND", b""))


@pytest.fixture
def bad_folder(tmp_path):
    root = tmp_path / "bad"
    (root / "sub").mkdir(parents=True)
    good = [colour_image(40, 60, 1), colour_image(80, 50, 2), colour_image(35, 35, 3)]
    for i, img in enumerate(good):
        cv2.imwrite(str(root / f"good{i}.png"), img)
    cv2.imwrite(str(root / "sub/good3.jpg"), good[0])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.png").write_text("not an image at all")
    (root / "truncated.png").write_bytes(cv2.imencode(".png", good[1])[1].tobytes()[:60])
    (root / "bomb.png").write_bytes(zero_png(40000, 40000))  # 1.6 GB of pixels in 1.6 MB
    (root / "thin.png").write_bytes(cv2.imencode(".png", np.full((2, 30000), 128, np.uint8))[1].tobytes())
    (root / "notes.txt").write_text("not listed: no image extension")
    return root


BAD = {"empty.jpg", "text.png", "truncated.png", "bomb.png", "thin.png"}


def bad_lines(stderr):
    """{file name: message} from the `ppcls_hrnet ERROR: skipping PATH: why` lines."""
    found = {}
    for line in stderr.splitlines():
        match = re.search(r"\] ppcls_hrnet ERROR: skipping (.*?): (.*)$", line)
        if match:
            found[Path(match[1]).name] = match[2]
    return found


@pytest.mark.parametrize("batch_size", [1, 3])
def test_bad_images_are_reported_and_the_rest_predicted(cpp_build, ref_model, bad_folder, tmp_path, batch_size):
    model_dir = with_inference_yml(ref_model, tmp_path / "m", set_ops(
        DECODE, {"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}},
        {"ResizeImage": {"size": 32}}, NORMALIZE, TO_CHW))
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", bad_folder, "--batch_size", batch_size,
                   *FP32)
    assert done.returncode == 1, done.stderr
    expected = python_predict(model_dir, [bad_folder], batch_size=batch_size)
    python_errors = {Path(r["file_name"]).name: r["error"] for r in expected if "error" in r}
    cpp_errors = bad_lines(done.stderr)
    assert set(cpp_errors) == set(python_errors) == BAD
    assert_same_predictions(done.stdout, expected)  # the 4 good ones
    assert done.stderr.splitlines()[-1] == f"{len(BAD)} of {len(BAD) + 4} inputs could not be predicted " \
                                           "(see the errors above)"
    # the same reasons, word for word, where both sides decide (OpenCV's own messages aside)
    for name in ("empty.jpg", "bomb.png", "thin.png", "text.png"):
        assert cpp_errors[name] == python_errors[name]
    assert "40000x40000 = 1,600,000,000 pixels, over the limit of 134,217,728" in cpp_errors["bomb.png"]
    assert "30000x2 image to 3840000x256" in cpp_errors["thin.png"]


def test_pixel_limit_from_the_environment(cpp_build, ref_model, colour_images, tmp_path, monkeypatch):
    model_dir = with_inference_yml(ref_model, tmp_path / "m", set_ops(*VARIANTS["resize_short_crop"]))
    monkeypatch.setenv("PPCLS_HRNET_MAX_IMAGE_PIXELS", "5000")
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", colour_images, *FP32)
    assert done.returncode == 1
    expected = python_predict(model_dir, [colour_images])
    python_errors = {Path(r["file_name"]).name: r["error"] for r in expected if "error" in r}
    assert bad_lines(done.stderr) == python_errors
    assert any("over the limit of 5,000" in why for why in python_errors.values())
    assert_same_predictions(done.stdout, expected)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".ppm", ".pgm"])
def test_sizes_are_read_from_each_formats_header(cpp_build, ref_model, tmp_path, ext):
    img = colour_image(37, 53, 5)
    path = tmp_path / f"img{ext}"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if ext == ".pgm" else img)
    done = run_cpp(cpp_build, "--model_dir", ref_model, "--infer_imgs", path,
                   env={"PPCLS_HRNET_MAX_IMAGE_PIXELS": str(53 * 37 - 1)})
    assert done.returncode == 1
    assert bad_lines(done.stderr)[path.name].startswith("image is 53x37 = 1,961 pixels, over the limit of 1,960")


@pytest.mark.parametrize("name, header, size", [
    ("vp8x.webp", b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4
     + (99999).to_bytes(3, "little") + (29).to_bytes(3, "little"), "100000x30"),
    ("comment.pgm", b"P5\n# comment\n40000 40000\n255\n", "40000x40000"),
    ("topdown.bmp", b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 30000, -30000), "30000x30000"),
    ("exif.jpg", b"\xff\xd8\xff\xe1" + struct.pack(">H", 5000) + b"\x00" * 4998 + b"\xff\xc0\x00\x11\x08"
     + struct.pack(">HH", 20000, 30000) + b"\x03" + b"\x00" * 9, "30000x20000"),
])
def test_hand_made_headers_are_refused_before_decoding(cpp_build, ref_model, tmp_path, monkeypatch, name, header,
                                                       size):
    (tmp_path / name).write_bytes(header)
    monkeypatch.setenv("PPCLS_HRNET_MAX_IMAGE_PIXELS", "1e6")
    done = run_cpp(cpp_build, "--model_dir", ref_model, "--infer_imgs", tmp_path / name)
    assert done.returncode == 1
    assert bad_lines(done.stderr)[name].startswith(f"image is {size} = ")
    expected, = python_predict(ref_model, [tmp_path / name])
    assert bad_lines(done.stderr)[name] == expected["error"]


def test_formats_debians_opencv_cannot_decode_are_errors_not_garbage(cpp_build, small_deploy, tmp_path):
    """GIF and AVIF: the opencv-python wheel decodes them, Debian's OpenCV 4.6 does not (neither is in
    the folder extensions). The C++ side must say so, not predict from a stale buffer."""
    model_dir, image_dir, _ = small_deploy
    first = sorted(image_dir.rglob("*.png"))[0]
    gif = tmp_path / "a.gif"
    gif.write_bytes(cv2.imencode(".gif", colour_image(40, 50, 3))[1].tobytes())
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", first, gif, first)
    assert done.returncode == 1
    assert bad_lines(done.stderr) == {"a.gif": f"not a decodable image ({gif.stat().st_size} bytes)"}
    assert len(parse_results(done.stdout)) == 1  # the same file twice


# ------------------------------------------------------------------ configuration errors: one line, exit 2

def one_error_line(done):
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    line, = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_model_directory_errors(cpp_build, small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    line = one_error_line(run_cpp(cpp_build, "--model_dir", tmp_path / "nowhere", "--infer_imgs", image_dir))
    assert f"inference model directory {tmp_path / 'nowhere'} does not exist" in line
    (tmp_path / "empty").mkdir()
    line = one_error_line(run_cpp(cpp_build, "--model_dir", tmp_path / "empty", "--infer_imgs", image_dir))
    assert "has no inference.yml" in line and "ppcls-hrnet export" in line
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/inference.yml").write_text("model_name: [unclosed\n")
    line = one_error_line(run_cpp(cpp_build, "--model_dir", tmp_path / "broken", "--infer_imgs", image_dir))
    assert "is not a valid inference.yml" in line


def test_missing_model_file(cpp_build, small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    target = tmp_path / "nomodel"
    target.mkdir()
    shutil.copy(model_dir / "inference.yml", target)
    line = one_error_line(run_cpp(cpp_build, "--model_dir", target, "--infer_imgs", image_dir))
    assert f"model file {target}/inference.pdmodel does not exist" in line
    line = one_error_line(run_cpp(cpp_build, "--model_dir", target, "--infer_imgs", image_dir, "--precision", "int8"))
    assert "has no int8 model" in line and "ppcls-hrnet quantize" in line


@pytest.mark.parametrize("ops, message", [
    ([DECODE, {"ResizeImage": {"size": 32}}, {"GridMask": {"d1": 96}}, NORMALIZE, TO_CHW],
     "transform_ops[2]: unknown transform op 'GridMask'"),
    ([DECODE, {"ResizeImage": {"size": 32}}, {"NormalizeImage": {"scale": 0.0039, "orderr": ""}}, TO_CHW],
     "transform_ops[2] NormalizeImage: unknown param 'orderr'; did you mean 'order'?"),
    ([DECODE, {"ResizeImge": {"size": 32}}, NORMALIZE, TO_CHW],
     "unknown transform op 'ResizeImge'; did you mean 'ResizeImage'"),
    ([DECODE, {"RandFlipImage": {"flip_code": 1}}, {"ResizeImage": {"size": 32}}, NORMALIZE, TO_CHW],
     "RandFlipImage is a random training op"),
    ([DECODE, {"ResizeImage": {"size": 32, "resize_short": 36}}, NORMALIZE, TO_CHW],
     "ResizeImage: give exactly one of 'resize_short' or 'size'"),
    ([DECODE, {"ResizeImage": {"size": 32, "interpolation": "cubic"}}, NORMALIZE, TO_CHW],
     "ResizeImage: bad 'interpolation': expected one of ['nearest', 'bilinear', 'area', 'bicubic', 'lanczos'], "
     "got 'cubic'"),
    ([DECODE, {"ResizeImage": {"size": -3}}, NORMALIZE, TO_CHW],
     "ResizeImage: bad 'size': expected a positive integer, got -3"),
    ([DECODE, {"ResizeImage": {"size": 32}}, {"CropImage": None}, NORMALIZE, TO_CHW],
     "transform_ops[2] CropImage: missing required param 'size'"),
    ([DECODE, {"ResizeImage": {"size": 32}}, {"NormalizeImage": {"scale": "1/0"}}, TO_CHW],
     "NormalizeImage: bad 'scale': division by zero in '1/0'"),
    ([DECODE, {"ResizeImage": {"size": 32}}, {"NormalizeImage": {"order": "chw"}}, TO_CHW],
     "NormalizeImage(order='chw') expects CHW input but receives HWC; set order: ''"),
    ([{"ResizeImage": {"size": 32}}, DECODE, NORMALIZE, TO_CHW],
     "transform_ops[1] DecodeImage cannot take HWC input (DecodeImage must be the first op)"),
    ([DECODE, {"ResizeImage": {"size": 32}}, NORMALIZE],
     "transform_ops end with HWC images but the model takes CHW"),
    ([DECODE, {"ResizeImage": {"size": 40}}, NORMALIZE, TO_CHW],
     "transform_ops produce images of shape [3, 40, 40] (CHW) but input.shape is [-1, 3, 32, 32]"),
])
def test_bad_preprocessing_is_one_clear_line(cpp_build, small_deploy, tmp_path, ops, message):
    model_dir, image_dir, _ = small_deploy
    target = with_inference_yml(model_dir, tmp_path / "m", set_ops(*ops))
    line = one_error_line(run_cpp(cpp_build, "--model_dir", target, "--infer_imgs", image_dir))
    assert message in line
    assert f"{target}/inference.yml" in line


@pytest.mark.parametrize("args, env, message", [
    (["--backend", "paddle"], {}, "this build has no Paddle Inference backend: rebuild with -DWITH_PADDLE_INFERENCE=ON"),
    (["--backend", "onnxruntime"], {}, "backend must be openvino or paddle"),
    (["--precision", "fp16"], {}, "openvino on CPU runs fp32, bf16, int8, not fp16; fp16 needs a GPU"),
    (["--precision", "half"], {}, "precision must be one of auto, fp32, fp16, bf16, int8, got 'half'"),
    (["--precision", "auto", "--use_gpu"], {}, "openvino does not run on GPU here"),  # auto on GPU: fp32
    (["--use_gpu"], {}, "openvino does not run on GPU here"),
    ([], {"PPCLS_HRNET_MAX_IMAGE_PIXELS": "lots"}, "PPCLS_HRNET_MAX_IMAGE_PIXELS='lots' is not a positive number"),
])
def test_bad_options_are_one_clear_line(cpp_build, small_deploy, args, env, message):
    model_dir, image_dir, _ = small_deploy
    line = one_error_line(run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, *args, env=env))
    assert message in line


def test_bad_command_lines(cpp_build, small_deploy, tmp_path):
    model_dir, image_dir, _ = small_deploy
    line = one_error_line(run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", tmp_path / "missing.png"))
    assert f"infer_imgs '{tmp_path / 'missing.png'}' is neither an image file, a folder nor an http(s) URL" in line
    (tmp_path / "no_images").mkdir()
    line = one_error_line(run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", tmp_path / "no_images"))
    assert "no images (.jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp, .ppm, .pgm) found under" in line
    for args, message in ((["--infer_imgs", image_dir], "required: --model_dir"),
                          (["--model_dir", model_dir, "--infer_imgs", image_dir, "--batch_size", "0"],
                           "--batch_size: expected an integer >= 1"),
                          (["--model_dir", model_dir, "--infer_imgs", image_dir, "--frobnicate"],
                           "unrecognized argument: --frobnicate")):
        done = run_cpp(cpp_build, *args)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert done.stderr.startswith("usage: ppcls_hrnet_infer")
        assert done.stderr.splitlines()[-1].startswith("error: ") and message in done.stderr.splitlines()[-1]
    usage = run_cpp(cpp_build, "--help")
    assert usage.returncode == 0 and "[--precision auto|fp32|bf16|int8|fp16]" in usage.stdout


def test_paddle_backend_links_against_the_api_paddle_exports(cpp_build):
    """Without the Paddle Inference SDK (no registry has it), src/paddle_engine.cc is still compiled
    against the documented API (cpp_infer/tests/paddle_api/) and linked with --no-undefined against
    the paddlepaddle wheel's libpaddle.so, which exports that API: a wrong name or signature fails
    the build. It is not run: that needs the SDK."""
    import importlib.util

    if importlib.util.find_spec("paddle") is None:
        _unavailable("paddlepaddle is not installed: the Paddle backend's API check needs its libpaddle.so")
    check = cpp_build / "libpaddle_api_check.so"
    assert check.is_file(), "build.sh did not pass PADDLE_API_CHECK_LIB"
    symbols = subprocess.run(["nm", "-DC", "--undefined-only", str(check)], capture_output=True, text=True).stdout
    for name in ("paddle_infer::CreatePredictor(paddle::AnalysisConfig const&)",
                 "paddle::AnalysisConfig::EnableTensorRtEngine(long, int, int, paddle::AnalysisConfig::Precision",
                 "paddle::AnalysisConfig::SetTRTDynamicShapeInfo", "paddle::AnalysisConfig::EnableMKLDNN()",
                 "void paddle_infer::Tensor::CopyToCpu<float>(float*) const"):
        assert name in symbols


def test_benchmark_prints_per_stage_times(cpp_build, small_deploy):
    model_dir, image_dir, _ = small_deploy
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, "--benchmark", "--warmup", "2",
                   env={CAPABILITIES: "FP32,BF16"})
    assert done.returncode == 0, done.stderr
    report = done.stdout.split(PREDICT_COMPLETE + "\n", 1)[1]
    assert "data_num: 10\n" in report and "warmup_batches: 2\n" in report
    assert "precision: bf16\n" in report  # what auto resolved to, not "auto"
    times = re.search(r"preprocess_time\(ms\): ([\d.]+), inference_time\(ms\): ([\d.]+), "
                      r"postprocess_time\(ms\): ([\d.]+)", report)
    assert times and all(float(t) > 0 for t in times.groups())
    assert float(re.search(r"images/s: ([\d.]+)", report)[1]) > 0


# ------------------------------------------------------------------ the trained model on real images

@pytest.mark.slow
def test_trained_fashion_model_matches_python_on_real_images(cpp_build, trained_fashion_model, tmp_path):
    from ppcls_hrnet.export.from_config import export_from_config

    cfg, _ = trained_fashion_model
    model_dir = export_from_config(cfg, legacy=True, save_dir=tmp_path / "inference")
    image_dir = Path(cfg.DataLoader.Eval.dataset.image_root) / "images" / "test"
    done = run_cpp(cpp_build, "--model_dir", model_dir, "--infer_imgs", image_dir, "--batch_size", 16, *FP32)
    assert done.returncode == 0, done.stderr
    expected = python_predict(model_dir, [image_dir], batch_size=16)
    assert len(expected) == 1000
    identical = assert_same_predictions(done.stdout, expected)
    print(f"\n{identical} of {len(expected)} lines identical")
