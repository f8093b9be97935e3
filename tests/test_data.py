"""Data layer: transform ops (PaddleClas numbers), dataset errors, loader, Fashion-MNIST."""
import gzip
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from ppcls_hrnet.data import (DataError, ImageError, ImageNetDataset, build_transforms, convert_fashion_mnist, parse_fraction)
from ppcls_hrnet.data.fashion_mnist import CLASS_NAMES, DEFAULT_SOURCE_DIR, load_split
from ppcls_hrnet.preprocess.transforms import (CropImage, DecodeImage, NormalizeImage, RandCropImage, RandFlipImage, ResizeImage, ToCHWImage)
from ppcls_hrnet.errors import ConfigError, HRNetError

ROOT = Path(__file__).resolve().parents[1]
HRNET_YAML = ROOT / "tests" / "data" / "paddleclas" / "HRNet_W18_C.yaml"  # PaddleClas's, as test data

EVAL_OPS = [
    {"DecodeImage": {"to_rgb": True, "channel_first": False}},
    {"ResizeImage": {"resize_short": 256}},
    {"CropImage": {"size": 224}},
    {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406],
                        "std": [0.229, 0.224, 0.225], "order": ""}},
    {"ToCHWImage": None},
]
SMALL_TRAIN_OPS = [
    {"DecodeImage": {"to_rgb": True, "channel_first": False}},
    {"RandCropImage": {"size": 8}},
    {"RandFlipImage": {"flip_code": 1}},
    {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "order": ""}},
]
SMALL_EVAL_OPS = [
    {"DecodeImage": None},
    {"ResizeImage": {"size": 8}},
    {"NormalizeImage": {"order": ""}},
]


def png_bytes(img):
    ok, encoded = cv2.imencode(".png", img)
    assert ok
    return encoded.tobytes()


def coordinate_image(height, width):
    """img[y, x] = (y, x, 7): every pixel says where it came from."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([ys, xs, np.full_like(ys, 7)], axis=-1).astype(np.uint8)


# ---------------------------------------------------------------- fractions

@pytest.mark.parametrize("text, expected", [
    ("1.0/255.0", 1.0 / 255.0), ("0.00392157", 0.00392157), ("1/4", 0.25), (" 2 / 8 ", 0.25),
    (0.5, 0.5), (3, 3.0), ("1e-3", 0.001),
])
def test_parse_fraction(text, expected):
    assert parse_fraction(text) == expected


@pytest.mark.parametrize("text", ["1/0", "abc", "1/2/3", "__import__('os').getcwd()", "nan", "inf", "", True, None,
                                  [1]])
def test_parse_fraction_rejects(text):
    with pytest.raises(ValueError):
        parse_fraction(text)


# ---------------------------------------------------------------- ops

def test_decode_gives_rgb_hwc_uint8():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 20, 30
    data = png_bytes(bgr)
    rgb = DecodeImage()(data)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [30, 20, 10]
    assert DecodeImage(to_rgb=False)(data)[0, 0].tolist() == [10, 20, 30]
    assert DecodeImage(channel_first=True)(data).shape == (3, 2, 3)


def test_decode_expands_gray_and_drops_alpha():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    out = DecodeImage()(png_bytes(gray))
    assert out.shape == (2, 3, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], gray)
    bgra = np.dstack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3, 128)])
    out = DecodeImage()(png_bytes(bgra))
    assert out.shape == (2, 2, 3) and out[0, 0].tolist() == [3, 2, 1]


@pytest.mark.parametrize("data", [b"", b"definitely not an image", png_bytes(np.zeros((4, 4), np.uint8))[:30]])
def test_decode_rejects_bad_bytes(data):
    with pytest.raises(ImageError):
        DecodeImage()(data)


@pytest.mark.parametrize("height, width, short, expected_hw", [
    (300, 400, 256, (256, 341)),    # 400 * 256/300 = 341.33
    (333, 271, 256, (315, 256)),    # 333 * 256/271 = 314.57
    (256, 256, 224, (224, 224)),
    (2, 3, 3, (3, 4)),              # 3 * 1.5 = 4.5: Python's round() gives 4, as in PaddleClas
    (2, 5, 3, (3, 8)),              # 7.5 -> 8
])
def test_resize_short_sizes(height, width, short, expected_hw):
    out = ResizeImage(resize_short=short)(np.zeros((height, width, 3), np.uint8))
    assert out.shape[:2] == expected_hw


def test_resize_fixed_size_is_width_height():
    out = ResizeImage(size=[40, 30])(np.zeros((10, 10, 3), np.uint8))
    assert out.shape == (30, 40, 3)
    assert ResizeImage(size=16)(np.zeros((10, 20, 3), np.uint8)).shape == (16, 16, 3)


def test_resize_values_match_cv2_bilinear():
    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    expected = cv2.resize(img, (21, 16), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(ResizeImage(resize_short=16)(img), expected)
    nearest = ResizeImage(resize_short=16, interpolation="nearest")(img)
    np.testing.assert_array_equal(nearest, cv2.resize(img, (21, 16), interpolation=cv2.INTER_NEAREST))


@pytest.mark.parametrize("height, width, size, origin_yx, out_hw", [
    (10, 13, [5, 4], (3, 4), (4, 5)),   # x0 = (13 - 5) // 2, y0 = (10 - 4) // 2
    (8, 8, 3, (2, 2), (3, 3)),          # (8 - 3) // 2 = 2
    (9, 7, 7, (1, 0), (7, 7)),
])
def test_center_crop_offsets(height, width, size, origin_yx, out_hw):
    out = CropImage(size=size)(coordinate_image(height, width))
    assert out.shape[:2] == out_hw
    assert tuple(out[0, 0, :2]) == origin_yx


def test_center_crop_larger_than_image_is_an_image_error():
    with pytest.raises(ImageError, match="smaller than the crop"):
        CropImage(size=224)(np.zeros((100, 300, 3), np.uint8))


def test_normalize_values_hwc():
    img = np.array([[[0, 255, 51]]], np.uint8)
    op = NormalizeImage(scale="1.0/255.0", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], order="")
    out = op(img)
    assert out.dtype == np.float32 and out.shape == (1, 1, 3)
    expected = [(0.0 - 0.485) / 0.229, (1.0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225]
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)
    # exactly PaddleClas's float32 arithmetic
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 1, 3)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 1, 3)
    np.testing.assert_array_equal(out, (img.astype(np.float32) * np.float32(1 / 255) - mean) / std)


def test_normalize_chw_four_channels_and_fp16():
    img = np.full((3, 2, 2), 255, np.uint8)
    out = NormalizeImage(scale=0.00392157, mean=[0, 0, 0], std=[1, 1, 1], order="chw", channel_num=4)(img)
    assert out.shape == (4, 2, 2)
    np.testing.assert_allclose(out[:3], 255 * 0.00392157, rtol=1e-6)
    assert not out[3].any()
    assert NormalizeImage(order="", output_fp16=True)(np.zeros((2, 2, 3), np.uint8)).dtype == np.float16


def test_normalize_rejects_wrong_layout_at_run_time():
    with pytest.raises(ImageError, match="3-channel CHW"):
        NormalizeImage(order="chw")(np.zeros((5, 5, 3), np.uint8))


def test_to_chw():
    img = coordinate_image(4, 6)
    out = ToCHWImage()(img)
    assert out.shape == (3, 4, 6)
    np.testing.assert_array_equal(out[1], img[..., 1])


def test_rand_crop_is_seeded_and_in_bounds():
    img = coordinate_image(40, 60)
    op = RandCropImage(size=[32, 24])
    first = op(img, np.random.default_rng(5))
    assert first.shape == (24, 32, 3)
    np.testing.assert_array_equal(first, op(img, np.random.default_rng(5)))
    rng = np.random.default_rng(0)
    boxes = {op.crop_box(40, 60, rng) for _ in range(300)}
    assert len(boxes) > 250
    for x, y, w, h in boxes:
        assert 0 <= x and x + w <= 60 and 0 <= y and y + h <= 40
        # int() truncates each side by less than 1 pixel
        assert (w + 1) * (h + 1) > 0.08 * 2400
        assert w / (h + 1) <= 4 / 3 and (w + 1) / h >= 3 / 4


def test_rand_flip_flips_about_half_the_time():
    img = coordinate_image(3, 5)
    rng = np.random.default_rng(1)
    flips = 0
    for _ in range(200):
        out = RandFlipImage(flip_code=1)(img, rng)
        if np.array_equal(out, img[:, ::-1]):
            flips += 1
        else:
            np.testing.assert_array_equal(out, img)
    assert 70 < flips < 130
    np.testing.assert_array_equal(RandFlipImage(flip_code=0)(img, _always_flip()), img[::-1])


def test_random_erasing_fills_one_rectangle_of_the_asked_size():
    img = np.ones((32, 32, 3), np.float32)
    op = build_transforms([{"RandomErasing": {"EPSILON": 1.0, "sl": 0.1, "sh": "1.0/3.0", "r1": 0.3,
                                              "attempt": 10, "use_log_aspect": True, "mode": "const"}}])
    rng = np.random.default_rng(3)
    for _ in range(50):
        out = op(img.copy(), rng)
        erased = np.argwhere((out == 0).all(axis=2))
        assert len(erased), "EPSILON 1.0 must erase"
        (y0, x0), (y1, x1) = erased.min(0), erased.max(0)
        assert len(erased) == (y1 - y0 + 1) * (x1 - x0 + 1)  # one solid rectangle
        assert 0.1 * 1024 * 0.8 <= len(erased) <= 1024 / 3 * 1.2
    np.testing.assert_array_equal(img, 1.0)  # the input is not modified in place


def test_random_erasing_probability_modes_and_layouts():
    hwc = np.ones((20, 24, 3), np.float32)
    rng = np.random.default_rng(0)
    never = build_transforms([{"RandomErasing": {"EPSILON": 0.0}}])
    assert all(np.array_equal(never(hwc, rng), hwc) for _ in range(20))
    half = build_transforms([{"RandomErasing": {"EPSILON": 0.5}}])
    changed = sum(not np.array_equal(half(hwc, rng), hwc) for _ in range(400))
    assert 150 < changed < 250
    pixel = build_transforms([{"RandomErasing": {"EPSILON": 1.0, "mode": "pixel"}}])(hwc, rng)
    patch = pixel[(pixel != 1).any(axis=2)]
    assert len(np.unique(patch)) > 10  # per-pixel normal draws
    chw_ops = build_transforms([{"NormalizeImage": {"order": "", "mean": [0, 0, 0], "std": [1, 1, 1], "scale": 1}},
                                {"ToCHWImage": None},
                                {"RandomErasing": {"EPSILON": 1.0, "mean": [7, 8, 9]}}])
    out = chw_ops(np.ones((20, 24, 3), np.uint8), rng)
    assert out.shape == (3, 20, 24)
    assert set(np.unique(out[0])) == {1.0, 7.0} and set(np.unique(out[2])) == {1.0, 9.0}


@pytest.mark.parametrize("params, problem", [
    ({"EPSILON": 1.5}, "EPSILON"), ({"sl": 0.5, "sh": 0.2}, "sh"), ({"mode": "noise"}, "mode"),
    ({"r1": 0}, "r1"), ({"attempt": 0}, "attempt"), ({"eps": 0.5}, "unknown param 'eps'"),
])
def test_random_erasing_bad_params_name_the_param(params, problem):
    with pytest.raises(ConfigError, match=problem):
        build_transforms([{"RandomErasing": params}])


def test_pad_then_random_crop_is_a_random_shift():
    img = coordinate_image(6, 8)
    ops = build_transforms([{"Pad": {"padding": 2}}, {"RandomCropImage": {"size": [8, 6]}}])
    rng = np.random.default_rng(0)
    shifts = set()
    for _ in range(300):
        out = ops(img, rng)
        assert out.shape == img.shape
        inside = np.argwhere(out[:, :, 2] == 7)  # padding is 0; every image pixel says where it came from
        (i, j), (y, x) = inside[0], out[tuple(inside[0])][:2]
        dy, dx = int(i) - int(y), int(j) - int(x)
        np.testing.assert_array_equal(out[max(dy, 0):6 + min(dy, 0), max(dx, 0):8 + min(dx, 0)],
                                      img[max(-dy, 0):6 - max(dy, 0), max(-dx, 0):8 - max(dx, 0)])
        assert len(inside) == (6 - abs(dy)) * (8 - abs(dx))
        shifts.add((dy, dx))
    assert shifts == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # every shift, nothing else


def test_pad_sides_modes_and_fill():
    img = coordinate_image(3, 4)
    out = build_transforms([{"Pad": {"padding": [1, 2, 3, 4], "fill": 9}}])(img)
    assert out.shape == (3 + 2 + 4, 4 + 1 + 3, 3)
    np.testing.assert_array_equal(out[2:5, 1:5], img)
    assert (out[:2] == 9).all() and (out[:, :1] == 9).all()
    edge = build_transforms([{"Pad": {"padding": [1, 0], "padding_mode": "edge"}}])(img)
    np.testing.assert_array_equal(edge[:, 0], img[:, 0])
    assert build_transforms([{"Pad": {"padding": 1}}]).to_config() == [
        {"Pad": {"padding": [1, 1, 1, 1], "fill": 0, "padding_mode": "constant"}}]


@pytest.mark.parametrize("op_list, problem", [
    ([{"Pad": {"padding": -1}}], "padding"), ([{"Pad": {"padding": [1, 2, 3]}}], "padding"),
    ([{"Pad": {"padding": 1, "padding_mode": "wrap"}}], "padding_mode"),
    ([{"Pad": {"padding": 1, "fill": 300}}], "fill"), ([{"Pad": None}], "missing required param 'padding'"),
    ([{"RandomCropImage": {"size": 0}}], "size"),
])
def test_pad_and_random_crop_bad_params(op_list, problem):
    with pytest.raises(ConfigError, match=problem):
        build_transforms(op_list)


def test_random_crop_larger_than_image_is_an_image_error():
    with pytest.raises(ImageError, match="smaller than the crop 9x9.*Pad it first"):
        build_transforms([{"RandomCropImage": {"size": 9}}])(coordinate_image(6, 8), np.random.default_rng(0))


def _always_flip():
    class Rng:
        def integers(self, low, high):
            return 1
    return Rng()


# ---------------------------------------------------------------- build_transforms

def test_paddleclas_yaml_lists_build_and_eval_output_is_chw():
    config = yaml.safe_load(HRNET_YAML.read_text())
    train = build_transforms(config["DataLoader"]["Train"]["dataset"]["transform_ops"])
    assert train.is_random and train.output_layout == "hwc"
    infer = build_transforms(config["Infer"]["transforms"])
    assert not infer.is_random and infer.output_layout == "chw"
    img = np.random.default_rng(2).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    out = infer(png_bytes(img))
    assert out.shape == (3, 224, 224) and out.dtype == np.float32


def test_to_config_round_trips_through_yaml():
    compose = build_transforms(EVAL_OPS)
    config = compose.to_config()
    assert [next(iter(entry)) for entry in config] == [
        "DecodeImage", "ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage"]
    assert config[1] == {"ResizeImage": {"resize_short": 256, "interpolation": "bilinear", "backend": "cv2"}}
    assert config[2] == {"CropImage": {"size": 224}}
    assert config[3]["NormalizeImage"]["scale"] == 1.0 / 255.0
    assert config[4] == {"ToCHWImage": None}
    rebuilt = build_transforms(yaml.safe_load(yaml.safe_dump(config)))
    assert rebuilt.to_config() == config
    data = png_bytes(np.random.default_rng(3).integers(0, 256, (260, 300, 3), dtype=np.uint8))
    np.testing.assert_array_equal(rebuilt(data), compose(data))
    assert build_transforms([{"CropImage": {"size": [5, 4]}}]).to_config() == [{"CropImage": {"size": [5, 4]}}]


@pytest.mark.parametrize("op_list, expected", [
    ([{"DecodeImage": None}, {"ResizeImg": {"resize_short": 256}}],
     r"transform_ops\[1\]: unknown transform op 'ResizeImg'; did you mean 'ResizeImage'"),
    ([{"CropImage": {"sise": 224}}], r"transform_ops\[0\] CropImage: unknown param 'sise'; did you mean 'size'"),
    ([{"CropImage": None}], r"CropImage: missing required param 'size'"),
    ([{"CropImage": {"size": -3}}], r"CropImage: bad 'size'"),
    ([{"NormalizeImage": {"scale": "1/0", "order": ""}}], r"NormalizeImage: bad 'scale': division by zero"),
    ([{"NormalizeImage": {"scale": "1.0/255.0", "order": "nhwc"}}], r"NormalizeImage: bad 'order'"),
    ([{"NormalizeImage": {"mean": [0.5, 0.5], "order": ""}}], r"NormalizeImage: bad 'mean'"),
    ([{"ResizeImage": {"resize_short": 256, "size": 224}}], r"exactly one of 'resize_short' or 'size'"),
    ([{"ResizeImage": {"resize_short": 256, "interpolation": "cubic"}}], r"ResizeImage: bad 'interpolation'"),
    ([{"DecodeImage": {"backend": "pil"}}], r"DecodeImage: bad 'backend': only 'cv2'"),
    ([{"RandFlipImage": {"flip_code": 2}}], r"RandFlipImage: bad 'flip_code'"),
    ([{"RandCropImage": {"size": 224, "scale": [1.0, 0.5]}}], r"RandCropImage: bad 'scale'"),
    ([{"DecodeImage": None, "ToCHWImage": None}], r"single-key mapping"),
    ([{"NormalizeImage": {"order": "chw"}}], r"expects CHW input but receives HWC; set order: ''"),
    ([{"DecodeImage": {"channel_first": True}}, {"CropImage": {"size": 4}}], r"CropImage cannot take CHW input"),
    ([{"ResizeImage": {"size": 8}}, {"DecodeImage": None}], r"DecodeImage cannot take HWC input"),
    ({"DecodeImage": None}, r"must be a list"),
])
def test_build_transforms_errors(op_list, expected):
    with pytest.raises(ConfigError, match=expected):
        build_transforms(op_list)


# ---------------------------------------------------------------- dataset

def write_image_folder(root, sizes, labels):
    """PNG per (height, width) in `sizes`; -> list of relative paths."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (height, width) in enumerate(sizes):
        relative = f"class {labels[i]}/img {i}.png"   # spaces: the label is split off the right
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / relative), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        paths.append(relative)
    return paths


@pytest.fixture
def image_folder(tmp_path):
    labels = [0, 1, 2, 1, 0, 2, 1, 0, 2, 1]
    paths = write_image_folder(tmp_path, [(10 + i, 12 + 2 * i) for i in range(len(labels))], labels)
    list_path = tmp_path / "train_list.txt"
    list_path.write_text("".join(f"{p} {label}\n" for p, label in zip(paths, labels)))
    return tmp_path, list_path, paths, labels


def test_dataset_returns_chw_float32_and_int64(image_folder):
    root, list_path, paths, labels = image_folder
    dataset = ImageNetDataset(root, list_path, SMALL_EVAL_OPS, class_num=3)
    assert len(dataset) == len(labels)
    img, label = dataset[3]
    assert img.shape == (3, 8, 8) and img.dtype == np.float32 and img.flags.c_contiguous
    assert isinstance(label, np.int64) and label == labels[3]
    expected = build_transforms(SMALL_EVAL_OPS)((root / paths[3]).read_bytes()).transpose(2, 0, 1)
    np.testing.assert_array_equal(img, expected)
    assert dataset.num_skipped == 0


def test_dataset_does_not_transpose_chw_results(image_folder):
    root, list_path, _, _ = image_folder
    img, _ = ImageNetDataset(root, list_path, SMALL_EVAL_OPS + [{"ToCHWImage": None}])[0]
    assert img.shape == (3, 8, 8)


def test_dataset_seeded_items_are_reproducible(image_folder):
    root, list_path, _, _ = image_folder
    dataset = ImageNetDataset(root, list_path, SMALL_TRAIN_OPS)
    a, _ = dataset[(4, (1, 0, 0, 4))]
    b, _ = dataset[(4, (1, 0, 0, 4))]
    c, _ = dataset[(4, (1, 1, 0, 4))]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("bad_line, problem", [
    ("no_label.png", "expected '<image path> <integer label>'"),
    ("class 1/img 1.png one", "label 'one' is not an integer"),
    ("class 1/img 1.png 1.0", "label '1.0' is not an integer"),
    ("class 1/img 1.png -1", "label -1 is negative"),
    ("class 1/img 1.png 3", "label 3 is out of range for class_num 3"),
])
def test_bad_label_line_names_file_and_line(image_folder, bad_line, problem):
    root, list_path, paths, _ = image_folder
    list_path.write_text(f"{paths[0]} 0\n\n{bad_line}\n{paths[2]} 2\n")
    with pytest.raises(DataError) as info:
        ImageNetDataset(root, list_path, SMALL_EVAL_OPS, class_num=3)
    assert f"{list_path}:3: {problem}" in str(info.value)
    assert isinstance(info.value, HRNetError)


def test_missing_and_corrupt_images_name_path_and_line(image_folder):
    root, list_path, paths, _ = image_folder
    (root / paths[1]).unlink()
    (root / paths[2]).write_bytes(b"\x89PNG garbage")
    list_path.write_text(f"{paths[0]} 0\n{paths[1]} 1\n{paths[2]} 2\n")
    dataset = ImageNetDataset(root, list_path, SMALL_EVAL_OPS, class_num=3)
    with pytest.raises(DataError) as missing:
        dataset[1]
    assert os.path.join(str(root), paths[1]) in str(missing.value)
    assert f"line 2 of {list_path}" in str(missing.value)
    assert "No such file" in str(missing.value)
    with pytest.raises(DataError) as corrupt:
        dataset[2]
    assert os.path.join(str(root), paths[2]) in str(corrupt.value)
    assert f"line 3 of {list_path}" in str(corrupt.value)
    assert "not a decodable image" in str(corrupt.value)


def test_skip_bad_counts_lines_and_images(image_folder):
    root, list_path, paths, _ = image_folder
    (root / paths[1]).unlink()
    (root / paths[2]).write_bytes(b"junk")
    list_path.write_text(f"{paths[0]} 0\n{paths[1]} 1\n{paths[2]} 2\nno_label.png\n{paths[3]} 9\n{paths[4]} 0\n")
    dataset = ImageNetDataset(root, list_path, SMALL_EVAL_OPS, class_num=3, skip_bad=True)
    assert len(dataset) == 4
    assert len(dataset.skipped_lines) == 2 and ":4:" in dataset.skipped_lines[0]
    items = [dataset[i] for i in range(len(dataset))]
    assert [item is None for item in items] == [False, True, True, False]
    assert dataset.skipped_images == 2 and dataset.num_skipped == 4


def test_empty_label_list_is_an_error(tmp_path):
    (tmp_path / "list.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="no usable lines"):
        ImageNetDataset(tmp_path, tmp_path / "list.txt", SMALL_EVAL_OPS)


# ---------------------------------------------------------------- loader

def collect(loader):
    return [(images.numpy(), labels.numpy()) for images, labels in loader]


def test_loader_batch_shapes(image_folder):
    pytest.importorskip("paddle")
    from ppcls_hrnet.data import build_dataloader

    root, list_path, _, labels = image_folder
    dataset = ImageNetDataset(root, list_path, SMALL_EVAL_OPS)
    loader = build_dataloader(dataset, batch_size=4, shuffle=False, drop_last=False, num_workers=0, seed=0)
    batches = collect(loader)
    assert len(loader) == 3
    assert [b[0].shape for b in batches] == [(4, 3, 8, 8), (4, 3, 8, 8), (2, 3, 8, 8)]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    assert np.concatenate([b[1] for b in batches]).tolist() == labels
    dropping = build_dataloader(dataset, batch_size=4, drop_last=True)
    assert [b[0].shape[0] for b in collect(dropping)] == [4, 4]
    unseeded = build_dataloader(dataset, batch_size=4, shuffle=True, seed=None)
    assert sorted(np.concatenate([b[1] for b in collect(unseeded)]).tolist()) == sorted(labels)
    with pytest.raises(ConfigError, match="seed"):
        build_dataloader(dataset, batch_size=4, seed=-1)


def test_loader_order_and_augmentation_reproducible_from_seed(image_folder):
    pytest.importorskip("paddle")
    from ppcls_hrnet.data import build_dataloader

    root, list_path, _, _ = image_folder
    dataset = ImageNetDataset(root, list_path, SMALL_TRAIN_OPS)

    def two_epochs(seed, num_workers=0):
        loader = build_dataloader(dataset, batch_size=4, shuffle=True, drop_last=False,
                                  num_workers=num_workers, seed=seed, use_shared_memory=False)
        return collect(loader), collect(loader)

    first, second = two_epochs(7)
    again_first, again_second = two_epochs(7)
    for run, rerun in zip(first + second, again_first + again_second):
        np.testing.assert_array_equal(run[0], rerun[0])
        np.testing.assert_array_equal(run[1], rerun[1])
    order = lambda epoch: np.concatenate([labels for _, labels in epoch]).tolist()  # noqa: E731
    images = lambda epoch: np.concatenate([imgs for imgs, _ in epoch])  # noqa: E731
    assert sorted(order(first)) == sorted(order(second)) == sorted(dataset.labels)
    assert not np.array_equal(images(first), images(second))   # new epoch: new order/augmentation
    other_seed, _ = two_epochs(8)
    assert not np.array_equal(images(first), images(other_seed))
    # same batches whichever worker process loads which sample
    with_workers, _ = two_epochs(7, num_workers=2)
    np.testing.assert_array_equal(images(first), images(with_workers))


def test_loader_set_epoch_replays_an_epoch(image_folder):
    pytest.importorskip("paddle")
    from ppcls_hrnet.data import build_dataloader

    root, list_path, _, _ = image_folder
    loader = build_dataloader(ImageNetDataset(root, list_path, SMALL_TRAIN_OPS), batch_size=5, shuffle=True, seed=3)
    epoch0 = collect(loader)
    assert loader.epoch == 1
    loader.set_epoch(0)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in collect(loader)]),
                                  np.concatenate([b[0] for b in epoch0]))


def test_distributed_shards_are_disjoint_and_cover_the_dataset(image_folder):
    paddle = pytest.importorskip("paddle")
    from ppcls_hrnet.data.loader import SeededBatchSampler

    root, list_path, _, _ = image_folder
    dataset = ImageNetDataset(root, list_path, SMALL_EVAL_OPS)
    shards = []
    for rank in range(2):
        sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=2, num_replicas=2, rank=rank, shuffle=True)
        shards.append([index for batch in SeededBatchSampler(sampler, seed=11) for index, _ in batch])
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(10))


def test_loader_drops_skipped_images_from_batches(image_folder):
    pytest.importorskip("paddle")
    from ppcls_hrnet.data import build_dataloader

    root, list_path, paths, labels = image_folder
    (root / paths[1]).write_bytes(b"junk")
    dataset = ImageNetDataset(root, list_path, SMALL_EVAL_OPS, skip_bad=True)
    batches = collect(build_dataloader(dataset, batch_size=5))
    assert [b[1].tolist() for b in batches] == [[0, 2, 1, 0], labels[5:]]
    # an all-bad batch is dropped, also when it comes from a worker process, whose count is seen here
    singles = collect(build_dataloader(dataset, batch_size=1, num_workers=2))
    assert len(singles) == 9
    assert dataset.skipped_images == 2


# ---------------------------------------------------------------- Fashion-MNIST

needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(DEFAULT_SOURCE_DIR),
    reason=f"{DEFAULT_SOURCE_DIR} missing: apt-get install dataset-fashion-mnist")


@pytest.fixture(scope="module")
def fashion_subset(tmp_path_factory):
    out = tmp_path_factory.mktemp("fmnist")
    return out, convert_fashion_mnist(out, limit_train=25, limit_test=10, progress=False)


@needs_fashion_mnist
def test_fashion_mnist_subset_counts_and_names(fashion_subset):
    out, summary = fashion_subset
    assert summary["num_train"] == 25 and summary["num_test"] == 10 and summary["class_num"] == 10
    train_labels = [int(line.rsplit(" ", 1)[1]) for line in (out / "train_list.txt").read_text().splitlines()]
    assert np.bincount(train_labels).tolist() == [3] * 5 + [2] * 5
    test_labels = [int(line.rsplit(" ", 1)[1]) for line in (out / "test_list.txt").read_text().splitlines()]
    assert sorted(test_labels) == list(range(10))
    assert (out / "label_names.txt").read_text().splitlines() == [
        "0 T-shirt/top", "1 Trouser", "2 Pullover", "3 Dress", "4 Coat",
        "5 Sandal", "6 Shirt", "7 Sneaker", "8 Bag", "9 Ankle boot"]
    assert not list(out.rglob("*.tmp"))
    # the held-out split partitions the training list, class-balanced
    held_train = (out / "holdout_train_list.txt").read_text().splitlines()
    held_val = (out / "holdout_val_list.txt").read_text().splitlines()
    train_lines = (out / "train_list.txt").read_text().splitlines()
    assert sorted(held_train + held_val) == sorted(train_lines) and not set(held_train) & set(held_val)
    assert len(held_val) == 10 and summary["holdout_val_list"] == str(out / "holdout_val_list.txt")


@needs_fashion_mnist
@pytest.mark.parametrize("split", ["train", "test"])
def test_fashion_mnist_images_hold_the_idx_pixels(fashion_subset, split):
    out, _ = fashion_subset
    images, labels = load_split(DEFAULT_SOURCE_DIR, split)
    for line in (out / f"{split}_list.txt").read_text().splitlines():
        path, label = line.rsplit(" ", 1)
        index = int(Path(path).stem)
        assert path.startswith(f"images/{split}/")
        assert int(label) == labels[index]
        assert Path(path).parent.name == CLASS_NAMES[int(label)].replace("/", "_").replace(" ", "_")
        np.testing.assert_array_equal(cv2.imread(str(out / path), cv2.IMREAD_UNCHANGED), images[index])


@needs_fashion_mnist
def test_fashion_mnist_folder_loads_as_imagenet_dataset(fashion_subset):
    out, summary = fashion_subset
    dataset = ImageNetDataset(out, summary["train_list"], SMALL_EVAL_OPS, class_num=summary["class_num"])
    img, label = dataset[0]
    assert img.shape == (3, 8, 8) and 0 <= label < 10


def test_fashion_mnist_missing_source_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        convert_fashion_mnist(tmp_path / "out", source_dir=tmp_path / "nowhere")


def test_fashion_mnist_bad_magic_is_rejected(tmp_path):
    from ppcls_hrnet.data.fashion_mnist import SPLIT_FILES

    for images_name, labels_name in SPLIT_FILES.values():
        with gzip.open(tmp_path / images_name, "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + (1).to_bytes(4, "big") + b"\x00")   # 1-dim, not 3
        with gzip.open(tmp_path / labels_name, "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + (1).to_bytes(4, "big") + b"\x00")
    with pytest.raises(DataError, match="bad IDX magic 00000801"):
        convert_fashion_mnist(tmp_path / "out", source_dir=tmp_path, progress=False)
    assert not (tmp_path / "out" / "train_list.txt").exists()


# ---------------------------------------------------------------- packaging

def test_data_package_imports_without_paddle():
    # Deploy processes (and C++/serving tooling in Python) preprocess without paddle.
    script = """
import importlib.abc, sys
class BlockPaddle(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "paddle" or name.startswith("paddle."):
            raise ImportError("paddle is blocked")
sys.meta_path.insert(0, BlockPaddle())
import ppcls_hrnet.data, ppcls_hrnet.data.loader
ppcls_hrnet.data.build_transforms([{"DecodeImage": None}])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_holdout_split_is_fixed_balanced_and_disjoint():
    from ppcls_hrnet.data.fashion_mnist import holdout_split

    labels = np.repeat(np.arange(10), 600)
    np.random.default_rng(1).shuffle(labels)
    train, val = holdout_split(labels)
    assert len(val) == 600 and len(train) == 5400 and not set(train) & set(val)
    assert np.bincount(labels[val]).tolist() == [60] * 10
    again_train, again_val = holdout_split(labels)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
